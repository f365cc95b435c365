"""Satisfaction ratings: one per visit, 1 to 5 with an optional comment, only after the service.

Nothing personal is asked: the rating is tied to the visit (the ticket's
unguessable id), not to a person.
"""


from flask_babel import lazy_gettext as _l

from shared import store
from shared.db import IntegrityError, immediate
from shared.errors import Conflict, Invalid

MAX_COMMENT = 500
CHANNELS = ("survey", "status")
RATING_WINDOW_MS = 24 * 3600 * 1000  # a rating is taken up to a day after the service ended


def check(score, comment) -> tuple[int, str]:
    """Validate a score (integer 1–5) and an optional comment; return them cleaned."""
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise Invalid(_l("La calificación debe ser un número entero de 1 a 5."), code="invalid_score",
                      field="score")
    if comment is None:
        comment = ""
    if not isinstance(comment, str):
        raise Invalid(_l("El comentario debe ser un texto."), code="invalid_type", field="comment")
    comment = comment.strip()
    if len(comment) > MAX_COMMENT:
        raise Invalid(_l("El comentario admite máximo %(n)s caracteres.", n=MAX_COMMENT),
                      code="too_long", field="comment")
    return score, comment


def can_rate(db, ticket: dict) -> bool:
    """Tell whether a visit may be rated now: its last segment was served and it has no rating."""
    latest = store.latest_segment(db, ticket["visit_id"])
    return (latest is not None and latest["status"] == "finished"
            and store.rating_of_visit(db, ticket["visit_id"]) is None)


def rate(db, ticket: dict, score, comment, channel: str, device_id: int | None, now_ms: int) -> dict:
    """Store the rating of a served visit; refuse before the service ends, a second time, or late.

    Late: more than ``RATING_WINDOW_MS`` after the service ended, or once the
    visit's day is sealed (its reported figures never change).
    """
    score, comment = check(score, comment)
    latest = store.latest_segment(db, ticket["visit_id"])
    if latest is None or latest["id"] != ticket["id"] or latest["status"] != "finished":
        raise Conflict(_l("Solo se puede calificar una atención ya finalizada."),
                       code="not_finished")
    if now_ms - (latest["finished_at"] or now_ms) > RATING_WINDOW_MS \
            or store.is_day_sealed(db, latest["site_id"], latest["day"]):
        # A rating belongs to the day of its visit, and a sealed day's figures never change.
        raise Conflict(_l("El plazo para calificar esta atención terminó."), code="rating_closed")
    try:
        with immediate(db):
            if store.rating_of_visit(db, ticket["visit_id"]) is not None:
                raise Conflict(_l("Esta atención ya fue calificada. ¡Gracias!"), code="already_rated")
            return store.insert_rating(db, latest, score, comment, channel, device_id, now_ms)
    except IntegrityError as exc:  # a second tap raced the first one
        raise Conflict(_l("Esta atención ya fue calificada. ¡Gracias!"),
                       code="already_rated") from exc
