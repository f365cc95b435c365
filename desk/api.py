"""Desk endpoints of the JSON API (under /api/v1): the desk's line, pauses, chosen calls, the day.

The core API (``api/views.py``) already takes and leaves desks, calls the
next ticket and moves tickets; these are what the desk page needs besides.

Who may call a chosen ticket out of the line's order: supervisors and
administrators always; officials may call the ticket the policy would call
next anyway, and otherwise as the instance setting ``desk_chosen_call`` says
(``preferential`` by default: only preferential tickets; ``any``; ``none``).
Every chosen call is in the ticket's log (rule ``chosen``) and in the audit
log with how many tickets it passed over.
"""

from flask import jsonify
from flask_babel import lazy_gettext as _l
from marshmallow import fields

from shared import auth, contract, desks, kpi, schemas, store
from shared.appointments import for_the_desk
from shared.contract import Body, Choice, Flag, Id, Int, Query, Shape, Text
from shared.db import get_db, immediate
from shared.errors import Forbidden, Invalid
from shared.present import ticket_json
from shared.queue import current_engine
from shared.schemas import DeskQuery
from shared.web import (
    ADMINS,
    MANAGERS,
    STAFF,
    actor,
    desk_for,
    principal,
    readable_desk,
    require,
    ticket_for_action,
    ticket_reply,
)

bp = contract.Blueprint("desk_api", __name__, url_prefix="/api/v1",
                        description="What the desk page needs: the line, pauses, chosen calls, the day")

LINE_LIMIT = 10
MAX_LINE_LIMIT = 50

require_staff = require(*STAFF)
DESK_ERRORS = (400, 401, 403, 404, 409, 413, 415)


# --- schemas ------------------------------------------------------------------------

class LineQuery(DeskQuery):
    """How many tickets of the line to show."""

    limit = Int(minimum=1, maximum=MAX_LINE_LIMIT, text=True, load_default=LINE_LIMIT, refuse_as=(
        "invalid_limit", _l("«limit» debe ser un número entre 1 y %(n)s.", n=MAX_LINE_LIMIT)))


class Pause(Body):
    """Why a desk pauses."""

    reason = Choice(desks.PAUSE_REASONS, required=True, code="invalid_reason",
                    message=_l("Motivo de pausa no válido: use break, lunch, training u other."))


class ChosenCall(Body):
    """The waiting ticket to call."""

    ticket = Id(required=True)


class Preferential(Body):
    """The category a ticket is marked with and why."""

    priority = Text(required=True, max_length=32, name=True)
    reason = Text(required=True)


class DayQuery(Query):
    """The site of the day asked for (the caller's desk's site when absent)."""

    site = Text(max_length=64, name=True)


class DeskSettings(Body):
    """The desk rules of this instance."""

    chosen_call = Choice(desks.CHOSEN_CALL_RULES, required=True, code="invalid_rule",
                         message=_l("Regla no válida: use any, preferential o none."))


class LineTicket(schemas.QueuedTicket):
    """A ticket of a desk's line as the desk page shows it (the desk's own line: no predicted desk)."""

    class Meta(schemas.QueuedTicket.Meta):
        exclude = ("predicted_desk",)

    note = fields.String(required=True, allow_none=True)
    transferred = fields.Boolean(required=True)
    may_call = fields.Boolean(required=True)


class HeldTicket(schemas.Ticket):
    """The ticket a desk holds, with its note and where it was transferred from."""

    note = fields.String(required=True, allow_none=True)
    from_service_name = fields.String(required=True, allow_none=True)
    appointment = fields.Dict(required=True, allow_none=True, metadata={
        "description": "An appointment's slot time and, if the entity asks for it, the name given "
                       "(for the official serving it only)"})


class DeskQueue(Shape):
    """A desk's current ticket, the waiting counts of its services and its next tickets."""

    desk = fields.String(required=True)
    desk_id = fields.Integer(required=True)
    site = fields.String(required=True)
    site_id = fields.Integer(required=True)
    site_name = fields.String(required=True)
    policy = fields.String(required=True)
    chosen_call_rule = fields.String(required=True, metadata={"enum": list(desks.CHOSEN_CALL_RULES)})
    services = fields.List(fields.Nested(schemas.Waiting), required=True)
    waiting_total = fields.Integer(required=True)
    line = fields.List(fields.Nested(LineTicket), required=True)
    current = fields.Nested(HeldTicket, required=True, allow_none=True)
    server_time = fields.Integer(required=True)


class MyDesk(Shape):
    """A desk the caller may take."""

    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    active = fields.Boolean(required=True)
    services = fields.List(fields.String(), required=True)
    holder = fields.String(required=True, allow_none=True)
    holder_name = fields.String(required=True, allow_none=True)
    mine = fields.Boolean(required=True)


class MySite(Shape):
    """A site with the desks the caller may take."""

    code = fields.String(required=True)
    name = fields.String(required=True)
    desks = fields.List(fields.Nested(MyDesk), required=True)


class LastDesk(Shape):
    """The desk the caller held last."""

    id = fields.Integer(required=True)
    code = fields.String(required=True)
    name = fields.String(required=True)
    site = fields.String(required=True)


class MyDesks(Shape):
    """The desk the caller holds, the one held last and the ones they may take."""

    current = fields.Nested(schemas.DeskState, required=True, allow_none=True)
    last = fields.Nested(LastDesk, required=True, allow_none=True)
    sites = fields.List(fields.Nested(MySite), required=True)


class DayTicket(contract.OpenShape):
    """A ticket the caller served today with its measures."""

    id = fields.Integer(required=True)
    code = fields.String(required=True)
    result = fields.String(required=True)


class MyDay(Shape):
    """The caller's day so far."""

    day = fields.String(required=True, metadata={"format": "date"})
    site = fields.String(required=True)
    served = fields.Integer(required=True)
    no_show = fields.Integer(required=True)
    transferred = fields.Integer(required=True)
    called = fields.Integer(required=True)
    service_seconds_total = fields.Float(required=True)
    average_service_seconds = fields.Float(required=True, allow_none=True)
    pause_seconds = fields.Float(required=True)
    pause_seconds_by_reason = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    session_seconds = fields.Float(required=True)
    tickets = fields.List(fields.Nested(DayTicket), required=True)


class Settings(Shape):
    """The desk rules of this instance."""

    chosen_call = fields.String(required=True, metadata={"enum": list(desks.CHOSEN_CALL_RULES)})
    chosen_call_rules = fields.List(fields.String(), required=True)


def _line_row(engine, ticket: dict, position: int, now: int, rule: str, role: str,
              head_id: int | None) -> dict:
    """Return one ticket of a desk's line as the desk page shows it."""
    row = ticket_json(ticket, engine.lookup)
    row["position"] = position
    row["waiting_seconds"] = kpi.seconds(kpi.waited_ms(ticket, now))
    row["note"] = ticket["note"]
    row["transferred"] = ticket["previous_id"] is not None
    row["may_call"] = desks.may_call_chosen(rule, role, ticket, head_id)
    return row


@bp.route("/me/desks")
@require_staff
@bp.response(200, MyDesks)
@bp.errors(401, 403)
def my_desks():
    """List the desks the caller may take, with the one they hold and the one they held last."""
    db = get_db()
    p = principal()
    held = store.session_of_user(db, p.user_id)
    last = desks.last_desk(db, p.user_id)
    sites = []
    for site in store.list_sites(db, only_active=True):
        if not p.may_use_site(site["id"]):
            continue
        rows = [{"id": d["id"], "code": d["code"], "name": d["name"], "active": bool(d["active"]),
                 "services": d["services"], "holder": d["holder"], "holder_name": d["holder_name"],
                 "mine": d["holder_id"] == p.user_id}
                for d in store.list_desks(db, site["id"])]
        sites.append({"code": site["code"], "name": site["name"], "desks": rows})
    current = desks.desk_state(current_engine(), store.desk_by_id(db, held["desk_id"])) if held else None
    last_json = None
    if last is not None and p.may_use_site(last["site_id"]):
        last_json = {"id": last["id"], "code": last["code"], "name": last["name"],
                     "site": store.site_by_id(db, last["site_id"])["code"]}
    return jsonify({"current": current, "last": last_json, "sites": sites})


@bp.route("/desks/<desk>/queue")
@require_staff
@bp.arguments(LineQuery, location="query")
@bp.response(200, DeskQueue)
@bp.errors(400, 401, 403, 404)
def desk_queue(query, desk):
    """Return a desk's current ticket, its services' waiting counts and the next tickets in line."""
    d = readable_desk(desk)
    engine = current_engine()
    db = get_db()
    site = engine.lookup.site(d["site_id"])
    now = engine.clock.now_ms()
    line = desks.predicted_line(engine, d, query["limit"])
    rule = desks.chosen_call_rule(db)
    role = principal().role
    head = line[0]["id"] if line else None
    served = [engine.lookup.service(i)["code"] for i in store.desk_service_ids(db, d["id"])]
    summary = {row["code"]: row for row in engine.waiting_summary(site)}
    held = store.desk_open_ticket(db, d["id"])
    current = None
    if held is not None:
        current = ticket_json(held, engine.lookup)
        current["note"] = held["note"]
        previous = store.ticket_by_id(db, held["previous_id"]) if held["previous_id"] else None
        current["from_service_name"] = (engine.lookup.service(previous["service_id"])["name"]
                                        if previous else None)
        current["appointment"] = for_the_desk(db, held, site)
    return jsonify({
        "desk": d["code"], "desk_id": d["id"], "site": site["code"], "site_id": site["id"],
        "site_name": site["name"],
        "policy": site["policy"], "chosen_call_rule": rule,
        "services": [summary[code] for code in served if code in summary],
        "waiting_total": desks.line_size(engine, d),
        "line": [_line_row(engine, t, i, now, rule, role, head) for i, t in enumerate(line, 1)],
        "current": current,
        "server_time": now,
    })


@bp.route("/desks/<desk>/pause", methods=["POST"])
@require_staff
@bp.arguments(DeskQuery, location="query")
@bp.arguments(Pause)
@bp.response(200, schemas.DeskState)
@bp.errors(*DESK_ERRORS)
def pause_desk(query, data, desk):
    """Pause a desk (reason break, lunch, training or other); refused while it holds a ticket."""
    d = desk_for(desk)
    desks.pause(current_engine(), d, data["reason"])
    return jsonify(desks.desk_state(current_engine(), d))


@bp.route("/desks/<desk>/resume", methods=["POST"])
@require_staff
@bp.arguments(DeskQuery, location="query")
@bp.arguments(contract.Empty)
@bp.response(200, schemas.DeskState)
@bp.errors(*DESK_ERRORS)
def resume_desk(query, data, desk):
    """End a desk's pause."""
    d = desk_for(desk)
    desks.resume(current_engine(), d)
    return jsonify(desks.desk_state(current_engine(), d))


@bp.route("/desks/<desk>/call", methods=["POST"])
@require_staff
@bp.arguments(DeskQuery, location="query")
@bp.arguments(ChosenCall)
@bp.response(200, schemas.Ticket)
@bp.errors(*DESK_ERRORS)
def call_chosen(query, data, desk):
    """Call a chosen waiting ticket to a desk, if the caller's role and the rule allow it."""
    d = desk_for(desk)
    ticket = desks.call_chosen(current_engine(), d, data["ticket"], actor(), principal().role)
    return ticket_reply(ticket)


@bp.route("/tickets/<int:ticket_id>/priority", methods=["POST"])
@require_staff
@bp.arguments(Preferential)
@bp.response(200, schemas.Ticket)
@bp.errors(*DESK_ERRORS)
def mark_preferential(data, ticket_id):
    """Mark a waiting general ticket as preferential (a category and the reason; code unchanged)."""
    engine = current_engine()
    ticket = engine.ticket(ticket_id)
    p = principal()
    auth.require_site(p, engine.lookup.site(ticket["site_id"]))
    if p.role not in MANAGERS:
        held = store.session_of_user(get_db(), p.user_id)
        desk = store.desk_by_id(get_db(), held["desk_id"]) if held else None
        if desk is None or desk["site_id"] != ticket["site_id"]:
            raise Forbidden(_l("Para marcar un turno como preferencial ocupe un módulo de su sede."),
                            code="no_desk")
    marked = engine.mark_preferential(ticket["id"], data["priority"], actor(), data["reason"])
    return ticket_reply(marked)


@bp.route("/tickets/<int:ticket_id>/undo-no-show", methods=["POST"])
@require_staff
@bp.arguments(contract.Empty)
@bp.response(200, schemas.Ticket)
@bp.errors(*DESK_ERRORS)
def undo_no_show(_data, ticket_id):
    """Take back a no-show marked in the last seconds: the ticket is called at its desk again."""
    ticket = ticket_for_action(ticket_id)
    return ticket_reply(current_engine().undo_no_show(ticket, actor()))


# Each user's own desk settings, and their defaults.
PREFERENCES = {"desk_shortcuts": True}


class Preferences(Shape):
    """A user's own desk settings."""

    desk_shortcuts = fields.Boolean(required=True)


class PreferencesChange(Body):
    """The desk settings a user changes."""

    desk_shortcuts = Flag()


def preferences_of(db, user_id: int) -> dict:
    """Return a user's desk settings over the defaults."""
    saved = store.user_preferences(db, user_id)
    return {key: saved.get(key, default) for key, default in PREFERENCES.items()}


@bp.route("/me/preferences")
@require_staff
@bp.response(200, Preferences)
@bp.errors(401, 403)
def my_preferences():
    """Return the caller's own desk settings (keyboard shortcuts on or off)."""
    return jsonify(preferences_of(get_db(), principal().user_id))


@bp.route("/me/preferences", methods=["PUT"])
@require_staff
@bp.arguments(PreferencesChange)
@bp.response(200, Preferences)
@bp.errors(400, 401, 403, 413, 415)
def change_my_preferences(data):
    """Change the caller's own desk settings (e.g. ``{"desk_shortcuts": false}``)."""
    db = get_db()
    user_id = principal().user_id
    changes = {k: v for k, v in data.items() if v is not None}
    with immediate(db):
        store.set_user_preferences(db, user_id, dict(store.user_preferences(db, user_id), **changes))
    return jsonify(preferences_of(db, user_id))


@bp.route("/me/today")
@require_staff
@bp.arguments(DayQuery, location="query")
@bp.response(200, MyDay)
@bp.errors(400, 401, 403, 404)
def my_day(query):
    """Return the caller's day so far: served, average service time, time in pause, last tickets."""
    engine = current_engine()
    db = get_db()
    p = principal()
    if query["site"]:
        site = engine.site(query["site"])
        auth.require_site(p, site)
    else:
        held = store.session_of_user(db, p.user_id) or store.latest_session_of_user(db, p.user_id)
        desk = store.desk_by_id(db, held["desk_id"]) if held else None
        sites = [s for s in store.list_sites(db, only_active=True) if p.may_use_site(s["id"])]
        site = engine.lookup.site(desk["site_id"]) if desk else (sites[0] if sites else None)
        if site is None:
            raise Invalid(_l("Indique la sede con ?site=."), code="missing_site")
    return jsonify(desks.day_summary(engine, p.user_id, site))


@bp.route("/desk-settings")
@require_staff
@bp.response(200, Settings)
@bp.errors(401, 403)
def desk_settings():
    """Return the desk rules of this instance (who may call a chosen ticket)."""
    return jsonify({"chosen_call": desks.chosen_call_rule(get_db()),
                    "chosen_call_rules": list(desks.CHOSEN_CALL_RULES)})


@bp.route("/desk-settings", methods=["PUT"])
@require(*ADMINS)
@bp.arguments(DeskSettings)
@bp.response(200, Settings)
@bp.errors(400, 401, 403, 413, 415)
def change_desk_settings(data):
    """Change the desk rules of this instance (admin; audited)."""
    desks.set_chosen_call_rule(current_engine(), data["chosen_call"], principal().user_id)
    return jsonify({"chosen_call": desks.chosen_call_rule(get_db()),
                    "chosen_call_rules": list(desks.CHOSEN_CALL_RULES)})


def init_app(app) -> None:
    """Register the desk endpoints (described in the one API document)."""
    contract.register(app, bp)
