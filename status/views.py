"""The ticket's public status page (the QR on the ticket) and the satisfaction survey screen.

``/t/<visit_id>`` needs no login: the visit id is random (``secrets.token_urlsafe(12)``,
96 bits), so one ticket's address says nothing about another's. The page
reads ``/t/<visit_id>.json`` and reads it again when its Socket.IO room
(``auth={"ticket": visit_id}``) says the ticket changed, or when the waiting
count of its service changes (its site's ``queue_changed``, the counts a
waiting-room screen shows). After the service it asks for a rating.

``/survey/`` is a small screen paired as a ``survey`` device with device
configuration ``{"desk": <desk id>}``; it listens to its desk's room and asks
for a rating as soon as the official finishes a service.
"""

import io
import re

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import fields

from shared import auth, channels, contract, kpi, ratelimit, remote, store
from shared.clock import current_clock
from shared.contract import Body, Id, Int, Shape, Text
from shared.db import get_db
from shared.devices import survey_desk
from shared.errors import DomainError, Forbidden, NotFound, Unauthorized, not_found
from shared.present import qr_png, show_code
from shared.queue import STATUS_LABELS, QueueEngine
from shared.timefmt import local_datetime

from . import ratings

bp = Blueprint("status", __name__, template_folder="templates", static_folder="static",
               static_url_path="/status/static")
api_bp = contract.Blueprint("status_api", __name__, url_prefix="/api/v1",
                            description="The satisfaction survey")

VISIT_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MASCULINE_DESKS = ("módulo", "modulo", "puesto", "punto")


def _visit(visit_id: str) -> tuple[QueueEngine, dict]:
    """Return an engine and the latest segment of a visit, or a 404."""
    if not VISIT_ID.match(visit_id or ""):
        raise NotFound(_l("Este turno no existe o ya no está disponible."), code="unknown_ticket")
    engine = QueueEngine(get_db(), current_clock())
    ticket = store.latest_segment(engine.db, visit_id)
    if ticket is None:
        raise NotFound(_l("Este turno no existe o ya no está disponible."), code="unknown_ticket")
    return engine, ticket


def go_to(desk_name: str) -> str:
    """Return "Diríjase al Módulo 3" (or "a" before other desk names)."""
    if desk_name.split(" ")[0].lower() in MASCULINE_DESKS:
        return _("Diríjase al %(desk)s", desk=desk_name)
    return _("Diríjase a %(desk)s", desk=desk_name)


def status_json(engine: QueueEngine, ticket: dict) -> dict:
    """Return what the citizen sees about a visit: no ids, no names, no category."""
    db = engine.db
    shaped = engine.with_estimate(ticket)
    site = engine.lookup.site(ticket["site_id"])
    service = engine.lookup.service(ticket["service_id"])
    desk = engine.lookup.desk(ticket["desk_id"])
    rated = store.rating_of_visit(db, ticket["visit_id"]) is not None
    status = ticket["status"]
    messages = {
        "waiting": _("En espera. Le avisaremos aquí cuando lo llamen."),
        "called": go_to(desk["name"]) if desk else _("Su turno fue llamado."),
        "serving": _("En atención en %(desk)s.", desk=desk["name"]) if desk else _("En atención."),
        "finished": _("Atención finalizada. ¡Gracias por su visita!"),
        "no_show": _("Su turno fue llamado y no se presentó. Si sigue en la sede, acérquese a "
                     "la recepción."),
        "cancelled": _("Su turno fue cancelado. Si lo necesita, tome uno nuevo en el kiosco."),
        "abandoned": _("Su turno se cerró al final del día sin ser llamado."),
        "transferred": _("Su turno fue transferido."),
    }
    previous = store.ticket_by_id(db, ticket["previous_id"]) if ticket["previous_id"] else None
    awaiting = status == "waiting" and not ticket["arrived"]
    if awaiting:
        messages["waiting"] = _("Su turno guarda su lugar. Al llegar a la sede, confirme su llegada "
                                "en el kiosco o con el código QR de la entrada.")
    return {
        "code": ticket["code"], "site_name": site["name"], "service": service["code"],
        "service_name": service["name"],
        "status": status, "status_label": str(STATUS_LABELS[status]), "message": messages[status],
        "ahead": shaped["ahead"] if status == "waiting" else None,
        "estimated_wait_seconds": shaped["estimated_wait_seconds"] if status == "waiting" else None,
        "estimated_wait_range_seconds": shaped["estimated_wait_range_seconds"]
        if status == "waiting" else None,
        **_waiting_since(engine, ticket),
        "desk_name": desk["name"] if desk and status in ("called", "serving") else None,
        "recalls": ticket["recalls"] if status == "called" else 0,
        "transferred_from": engine.lookup.service(previous["service_id"])["name"] if previous else None,
        "rated": rated, "can_rate": status == "finished" and not rated,
        "server_time": current_clock().now_ms(),
        **_channel_state(engine, ticket, shaped, awaiting),
    }


def _channel_state(engine: QueueEngine, ticket: dict, shaped: dict, awaiting: bool) -> dict:
    """Return what the page needs for a ticket from a phone or an appointment, and for its alerts.

    ``earliest_call_at``: the soonest the turn may come (the low end of the
    estimate's range), from which the page tells when to leave home;
    ``arrival_deadline``: when an unconfirmed ticket is closed, once its turn
    has come; ``near_ahead``: from how many people ahead the page alerts.
    """
    site = engine.lookup.site(ticket["site_id"])
    config = channels.settings(engine.db, site)
    span = shaped.get("estimated_wait_range_seconds") if ticket["status"] == "waiting" else None
    now = current_clock().now_ms()
    deadline = remote.deadline(engine.db, site, ticket) if awaiting else None
    return {
        "channel": ticket["channel"], "awaiting_arrival": awaiting,
        "arrival_code": show_code(ticket["checkin_code"])
        if awaiting and ticket["checkin_code"] else None,
        "earliest_call_at": now + int(span[0] * 1000) if span else None,
        "arrival_deadline": deadline,
        "appointment_time": local_datetime(ticket["appointment_at"], site["timezone"]).strftime("%H:%M")
        if ticket["appointment_at"] else None,
        "near_ahead": config["notifications"]["near_ahead"],
    }


@bp.get("/t/<visit_id>/qr.png")
def ticket_qr(visit_id):
    """Return the QR of a ticket's own page: the kiosk's reader confirms arrival with it."""
    _engine, ticket = _visit(visit_id)
    base = current_app.config.get("PUBLIC_URL") or request.host_url
    response = send_file(io.BytesIO(qr_png(base.rstrip("/") + f"/t/{ticket['visit_id']}")),
                         mimetype="image/png")
    response.headers["Cache-Control"] = "no-store"
    return response


def _waiting_since(engine: QueueEngine, ticket: dict) -> dict:
    """Return how long a waiting citizen has waited and how many who came later were called first."""
    if ticket["status"] != "waiting":
        return {"waited_seconds": None, "passed_over": 0}
    row = store.passed_over(engine.db, ticket["site_id"], ticket["day"], ticket["id"])
    return {"waited_seconds": kpi.seconds(kpi.waited_ms(ticket, current_clock().now_ms())),
            "passed_over": row.get(ticket["id"], (0,))[0]}


@bp.get("/t/<visit_id>.json")
def ticket_status_json(visit_id):
    """Return a visit's public status as JSON (never cached); an unknown visit is a JSON 404."""
    try:
        engine, ticket = _visit(visit_id)
    except NotFound as exc:
        return jsonify(exc.to_dict()), exc.status
    response = jsonify(status_json(engine, ticket))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/t/<visit_id>")
def ticket_status_page(visit_id):
    """Show a visit's status page: code, service, people ahead, estimate, call, survey."""
    engine, ticket = _visit(visit_id)
    response = current_app.make_response(render_template(
        "status/ticket.html", visit_id=visit_id, state=status_json(engine, ticket)))
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


class Rating(Body):
    """A citizen's rating of a served visit."""

    score = Int(required=True, metadata={"minimum": 1, "maximum": 5})
    comment = Text(metadata={"maxLength": 500})


class SurveyRating(Rating):
    """A rating from the survey screen of the desk that served the ticket."""

    ticket = Id(required=True)


class Rated(Shape):
    """A rating recorded."""

    ticket = fields.Integer(required=True)
    score = fields.Integer(required=True)
    rated = fields.Boolean(required=True)


@bp.post("/t/<visit_id>/rating")
@ratelimit.limit("rating", (30, 60))
def rate_visit(visit_id):
    """Rate a served visit from its status page (JSON; or the page's plain form without script)."""
    from_form = request.mimetype != "application/json" and bool(request.form)
    try:
        engine, ticket = _visit(visit_id)
        if from_form:
            raw = request.form.get("score", "")
            score = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 4 else raw
            comment = request.form.get("comment", "")
        else:
            data = contract.load(Rating())
            score, comment = data["score"], data["comment"]
        rating = ratings.rate(engine.db, ticket, score, comment, "status", None, current_clock().now_ms())
    except DomainError as exc:
        if from_form:
            raise
        return jsonify(exc.to_dict()), exc.status
    if from_form:
        return redirect(url_for("status.ticket_status_page", visit_id=visit_id))
    return jsonify({"score": rating["score"], "rated": True}), 201


# --- survey screen --------------------------------------------------------------

def _survey_desk(principal) -> dict | None:
    """Return the desk a survey device is paired with (its configuration), or None."""
    return survey_desk(get_db(), principal.site_id, principal.config)


@bp.get("/survey/")
def survey():
    """Show the satisfaction screen of a desk (a paired survey device)."""
    principal = auth.current_principal()
    if principal is None:
        return redirect(url_for("accounts.login", next="/survey/"))
    if principal.role != "survey":
        raise Forbidden(_l("Esta pantalla es para un dispositivo de encuesta emparejado."),
                        code="forbidden")
    desk = _survey_desk(principal)
    site = store.site_by_id(get_db(), principal.site_id)
    return render_template("status/survey.html", desk=desk, site=site,
                           idle_seconds=int(principal.config.get("idle_seconds", 60) or 60))


def _survey_device() -> auth.Principal:
    """Return the survey device asking, or refuse anyone else."""
    principal = auth.current_principal()
    if principal is None:
        raise Unauthorized(_l("Inicie sesión para continuar."), code="login_required")
    if principal.role != "survey":
        raise Forbidden(_l("Solo una pantalla de encuesta registra calificaciones."),
                        code="forbidden")
    return principal


@api_bp.route("/ratings", methods=["POST"])
@ratelimit.limit("rating-device", (60, 60), lambda: str(_survey_device().device_id))
@api_bp.arguments(SurveyRating)
@api_bp.response(201, Rated)
@api_bp.errors(400, 401, 403, 404, 409, 413, 415, 429)
def create_rating(data):
    """Record a citizen's rating (1–5, optional comment ≤ 500) of a finished ticket, from the
    survey device paired with its desk; one rating per visit."""
    principal = _survey_device()
    ticket = store.ticket_by_id(get_db(), data["ticket"])
    if ticket is None:
        raise not_found("ticket", data["ticket"])
    desk = _survey_desk(principal)
    if desk is None or ticket["desk_id"] != desk["id"]:
        raise Forbidden(_l("Este turno no fue atendido en el módulo de esta pantalla."),
                        code="not_your_desk")
    rating = ratings.rate(get_db(), ticket, data["score"], data["comment"], "survey",
                          principal.device_id, current_clock().now_ms())
    return jsonify({"ticket": ticket["id"], "score": rating["score"], "rated": True}), 201


def init_app(app) -> None:
    """Register the status page, the survey screen and the rating endpoint."""
    app.register_blueprint(bp)
    contract.register(app, api_bp)
