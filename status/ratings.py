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
    """Store the rating of a served visit; refuse before the service ends and a second time."""
    score, comment = check(score, comment)
    latest = store.latest_segment(db, ticket["visit_id"])
    if latest is None or latest["id"] != ticket["id"] or latest["status"] != "finished":
        raise Conflict(_l("Solo se puede calificar una atención ya finalizada."),
                       code="not_finished")
    try:
        with immediate(db):
            if store.rating_of_visit(db, ticket["visit_id"]) is not None:
                raise Conflict(_l("Esta atención ya fue calificada. ¡Gracias!"), code="already_rated")
            return store.insert_rating(db, latest, score, comment, channel, device_id, now_ms)
    except IntegrityError as exc:  # a second tap raced the first one
        raise Conflict(_l("Esta atención ya fue calificada. ¡Gracias!"),
                       code="already_rated") from exc
