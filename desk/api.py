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

from flask import Blueprint, jsonify, request
from flask_babel import lazy_gettext as _l

from api import openapi
from api.views import (MANAGERS, STAFF, actor, body, desk_for, desk_state, principal,
                       readable_desk, ticket_for_action, ticket_reply)
from shared import auth, desks, store
from shared.db import get_db, immediate
from shared.errors import Forbidden, Invalid
from shared.present import ticket_json
from shared.queue import current_engine

bp = Blueprint("desk_api", __name__, url_prefix="/api/v1")

LINE_LIMIT = 10
MAX_LINE_LIMIT = 50

require_staff = auth.require(*STAFF)


def _limit() -> int:
    """Return the ?limit= of a list (1..50, 10 by default), or refuse it."""
    raw = request.args.get("limit")
    if raw is None:
        return LINE_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LINE_LIMIT:
        raise Invalid(_l("«limit» debe ser un número entre 1 y %(n)s.", n=MAX_LINE_LIMIT),
                      code="invalid_limit")
    return int(raw)


def _line_row(engine, ticket: dict, position: int, now: int, rule: str, role: str,
              head_id: int | None) -> dict:
    """Return one ticket of a desk's line as the desk page shows it."""
    row = ticket_json(ticket, engine.lookup)
    row["position"] = position
    row["waiting_seconds"] = round((now - ticket["queue_at"]) / 1000, 3)
    row["note"] = ticket["note"]
    row["transferred"] = ticket["previous_id"] is not None
    row["may_call"] = desks.may_call_chosen(rule, role, ticket, head_id)
    return row


@bp.get("/me/desks")
@require_staff
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
    current = desk_state(store.desk_by_id(db, held["desk_id"])) if held else None
    last_json = None
    if last is not None and p.may_use_site(last["site_id"]):
        last_json = {"id": last["id"], "code": last["code"], "name": last["name"],
                     "site": store.site_by_id(db, last["site_id"])["code"]}
    return jsonify({"current": current, "last": last_json, "sites": sites})


@bp.get("/desks/<desk>/queue")
@require_staff
def desk_queue(desk):
    """Return a desk's current ticket, its services' waiting counts and the next tickets in line."""
    d = readable_desk(desk)
    engine = current_engine()
    db = get_db()
    site = engine.lookup.site(d["site_id"])
    now = engine.clock.now_ms()
    line = desks.predicted_line(engine, d, _limit())
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


@bp.post("/desks/<desk>/pause")
@require_staff
def pause_desk(desk):
    """Pause a desk (reason break, lunch, training or other); refused while it holds a ticket."""
    data = body({"reason": (str, True)})
    d = desk_for(desk)
    desks.pause(current_engine(), d, data["reason"])
    return jsonify(desk_state(d))


@bp.post("/desks/<desk>/resume")
@require_staff
def resume_desk(desk):
    """End a desk's pause."""
    body({})
    d = desk_for(desk)
    desks.resume(current_engine(), d)
    return jsonify(desk_state(d))


@bp.post("/desks/<desk>/call")
@require_staff
def call_chosen(desk):
    """Call a chosen waiting ticket to a desk, if the caller's role and the rule allow it."""
    data = body({"ticket": (int, True)})
    d = desk_for(desk)
    ticket = desks.call_chosen(current_engine(), d, data["ticket"], actor(), principal().role)
    return ticket_reply(ticket)


@bp.post("/tickets/<int:ticket_id>/priority")
@require_staff
def mark_preferential(ticket_id):
    """Mark a waiting general ticket as preferential (a category and the reason; code unchanged)."""
    data = body({"priority": (str, True), "reason": (str, True)})
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


@bp.post("/tickets/<int:ticket_id>/undo-no-show")
@require_staff
def undo_no_show(ticket_id):
    """Take back a no-show marked in the last seconds: the ticket is called at its desk again."""
    body({})
    ticket = ticket_for_action(ticket_id)
    return ticket_reply(current_engine().undo_no_show(ticket, actor()))


# Each user's own desk settings, and their defaults.
PREFERENCES = {"desk_shortcuts": True}


def preferences_of(db, user_id: int) -> dict:
    """Return a user's desk settings over the defaults."""
    saved = store.user_preferences(db, user_id)
    return {key: saved.get(key, default) for key, default in PREFERENCES.items()}


@bp.get("/me/preferences")
@require_staff
def my_preferences():
    """Return the caller's own desk settings (keyboard shortcuts on or off)."""
    return jsonify(preferences_of(get_db(), principal().user_id))


@bp.put("/me/preferences")
@require_staff
def change_my_preferences():
    """Change the caller's own desk settings (e.g. ``{"desk_shortcuts": false}``)."""
    data = body({"desk_shortcuts": (bool, False)})
    db = get_db()
    user_id = principal().user_id
    changes = {k: v for k, v in data.items() if v is not None}
    with immediate(db):
        store.set_user_preferences(db, user_id, dict(store.user_preferences(db, user_id), **changes))
    return jsonify(preferences_of(db, user_id))


@bp.get("/me/today")
@require_staff
def my_day():
    """Return the caller's day so far: served, average service time, time in pause, last tickets."""
    engine = current_engine()
    db = get_db()
    p = principal()
    if request.args.get("site"):
        site = engine.site(request.args["site"])
        auth.require_site(p, site)
    else:
        held = store.session_of_user(db, p.user_id) or store.latest_session_of_user(db, p.user_id)
        desk = store.desk_by_id(db, held["desk_id"]) if held else None
        sites = [s for s in store.list_sites(db, only_active=True) if p.may_use_site(s["id"])]
        site = engine.lookup.site(desk["site_id"]) if desk else (sites[0] if sites else None)
        if site is None:
            raise Invalid(_l("Indique la sede con ?site=."), code="missing_site")
    return jsonify(desks.day_summary(engine, p.user_id, site))


@bp.get("/desk-settings")
@require_staff
def desk_settings():
    """Return the desk rules of this instance (who may call a chosen ticket)."""
    return jsonify({"chosen_call": desks.chosen_call_rule(get_db()),
                    "chosen_call_rules": list(desks.CHOSEN_CALL_RULES)})


@bp.put("/desk-settings")
@auth.require("admin")
def change_desk_settings():
    """Change the desk rules of this instance (admin; audited)."""
    data = body({"chosen_call": (str, True)})
    desks.set_chosen_call_rule(current_engine(), data["chosen_call"], principal().user_id)
    return desk_settings()


def _describe() -> None:
    """Add these operations to the OpenAPI document."""
    op, obj, STR = openapi._op, openapi._obj, openapi.STR
    desk_params = [openapi.P_DESK, openapi.P_DESK_SITE]
    limit = {"name": "limit", "in": "query", "required": False,
             "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LINE_LIMIT}}
    openapi.register("/me/desks", "get", op(
        "Desks the caller may take, the one held and the last one held", errors=(401, 403)))
    openapi.register("/desks/{desk}/queue", "get", op(
        "A desk's current ticket, waiting counts of its services and the next tickets in the "
        "order the site's policy would call them", params=[*desk_params, limit]))
    openapi.register("/desks/{desk}/pause", "post", op(
        "Pause a desk (refused while it holds a ticket)", params=desk_params,
        body=obj({"reason": {"type": "string", "enum": list(desks.PAUSE_REASONS)}}, ["reason"])))
    openapi.register("/desks/{desk}/resume", "post", op("End a desk's pause", params=desk_params))
    openapi.register("/desks/{desk}/call", "post", op(
        "Call a chosen waiting ticket (supervisors always; officials per the desk_chosen_call "
        "rule); audited", ok_schema=openapi.TICKET, params=desk_params,
        body=obj({"ticket": {"type": "integer"}}, ["ticket"])))
    openapi.register("/tickets/{ticket_id}/priority", "post", op(
        "Mark a waiting general ticket as preferential (category and reason; audited)",
        ok_schema=openapi.TICKET, params=[openapi.P_TICKET],
        body=obj({"priority": STR, "reason": STR}, ["priority", "reason"])))
    openapi.register("/tickets/{ticket_id}/undo-no-show", "post", op(
        "Take back a no-show marked in the last seconds (the ticket is called at its desk again; "
        "logged as no_show_undone)", ok_schema=openapi.TICKET, params=[openapi.P_TICKET]))
    prefs = obj({"desk_shortcuts": {"type": "boolean"}})
    openapi.register("/me/preferences", "get", op("The caller's own desk settings", errors=(401, 403)))
    openapi.register("/me/preferences", "put", op(
        "Change the caller's own desk settings (keyboard shortcuts on or off)", errors=(400, 401, 403),
        body=prefs))
    openapi.register("/me/today", "get", op(
        "The caller's day: served, average service time, time in pause, last tickets",
        params=[{"name": "site", "in": "query", "required": False, "schema": STR}]))
    openapi.register("/desk-settings", "get", op("Desk rules of this instance", errors=(401, 403)))
    openapi.register("/desk-settings", "put", op(
        "Change the desk rules (admin)", errors=(400, 401, 403),
        body=obj({"chosen_call": {"type": "string", "enum": list(desks.CHOSEN_CALL_RULES)}},
                 ["chosen_call"])))


def init_app(app) -> None:
    """Register the desk endpoints and describe them in the OpenAPI document."""
    _describe()
    app.register_blueprint(bp)
