"""The JSON API under /api/v1 (described by /api/v1/openapi.json, rendered at /api/docs).

Each operation declares its body or query schema (validated before the view
runs, after the role check) and the shape of every answer; the shared shapes
are in ``shared/schemas.py``, the machinery in ``shared/contract.py``.
"""

import json

from flask import Blueprint, current_app, jsonify, render_template
from flask_babel import lazy_gettext as _l

from shared import auth, contract, desks, devices, kpi, ratelimit, schemas, store
from shared.contract import Body, Choice, Empty, Ref, Text
from shared.db import get_db, immediate
from shared.errors import Invalid, not_found
from shared.present import desk_json, site_json, ticket_json
from shared.queue import current_engine
from shared.schemas import DeskQuery
from shared.timefmt import iso
from shared.web import (
    ANYONE,
    STAFF,
    absolute,
    actor,
    current_clock,
    desk_for,
    desk_from_path,
    may_call_at,
    may_move_ticket,
    principal,
    readable_desk,
    require,
    site_for,
    ticket_for_action,
    ticket_reply,
)

bp = contract.Blueprint("api", __name__, url_prefix="/api/v1",
                        description="Tickets, sites, desks and devices")

# --- schemas of the requests ------------------------------------------------------------

class Credentials(Body):
    """A username and password."""

    username = Text(required=True, max_length=200)
    password = Text(required=True, max_length=200)


class NewDevice(Body):
    """A kiosk, display or survey screen to register."""

    site = Ref(required=True)
    kind = Choice(auth.DEVICE_KINDS, required=True, code="invalid_kind",
                  message=_l("Tipo de dispositivo no válido: use kiosk, display o survey."))
    name = Text(required=True, max_length=60, name=True)


class CloseDay(Body):
    """Which local day to close (today when absent), or only what closing it would change."""

    day = contract.Day()
    dry_run = contract.Flag()


class NewTicket(Body):
    """A ticket to issue."""

    site = Ref(required=True)
    service = Ref(required=True)
    priority = Text(max_length=32, name=True, metadata={"description": "Priority category code"})


class CallTo(Body):
    """The desk to call a chosen ticket to."""

    desk = Ref(required=True, metadata={"description": "Desk id or site:code"})


class Finish(Body):
    """How a service ended."""

    outcome = Choice(("resolved", "pending"), code="invalid_outcome",
                     message=_l("Resultado no válido: use resolved o pending."))
    note = Text()


class Cancel(Body):
    """Why a ticket is cancelled."""

    reason = Text()


class Transfer(Body):
    """The service a ticket goes to."""

    service = Ref(required=True)
    note = Text()


# --- auth and devices -------------------------------------------------------------

@bp.route("/auth/token", methods=["POST"])
@ratelimit.limit("token", (20, 60))
@bp.arguments(Credentials)
@bp.response(201, schemas.Token)
@bp.errors(400, 401, 413, 415, 429)
@bp.doc(security=[])
def create_token(data):
    """Exchange a username and password for a bearer token (answered with no-store)."""
    clock = current_clock()
    db = get_db()
    user = auth.authenticate(db, data["username"], data["password"], clock)
    token = auth.issue_staff_token(db, user, clock)
    response = jsonify({"token": token, "role": user["role"], "username": user["username"],
                        "expires_in": current_app.config["API_TOKEN_TTL_SECONDS"]})
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@bp.route("/me")
@require(*ANYONE)
@bp.response(200, schemas.Me)
@bp.errors(401, 403)
def me():
    """Describe the caller (user or device)."""
    return jsonify(principal().to_json())


@bp.route("/devices", methods=["POST"])
@require("admin")
@bp.arguments(NewDevice)
@bp.response(201, schemas.Device)
@bp.errors(400, 401, 403, 404, 413, 415)
def create_device(data):
    """Register a kiosk, display or survey screen and return its token (shown once)."""
    name = data["name"].strip()
    if not name:
        raise Invalid(_l("El nombre del dispositivo es obligatorio."), code="missing_field",
                      field="name")
    site = site_for(data["site"])
    db = get_db()
    clock = current_clock()
    token, digest = auth.new_device_token()
    with immediate(db):
        device_id = store.insert_device(db, site["id"], data["kind"], name, digest, {},
                                        clock.now_ms())
        store.audit(db, clock.now_ms(), principal().user_id, "device.create", f"device:{device_id}",
                    {"site": site["code"], "kind": data["kind"], "name": name})
    response = jsonify({"id": device_id, "token": token, "site": site["code"],
                        "kind": data["kind"], "name": name})
    response.headers["Cache-Control"] = "no-store"
    return response, 201


@bp.route("/devices/<int:device_id>", methods=["DELETE"])
@require("admin")
@bp.response(204)
@bp.errors(401, 403, 404)
def revoke_device(device_id):
    """Revoke a device's token at once."""
    db = get_db()
    if store.device_by_id(db, device_id) is None:
        raise not_found("device", device_id)
    devices.revoke(db, device_id, current_clock(), principal().user_id)
    return "", 204


# --- sites, services, desks, queue ---------------------------------------------------

@bp.route("/sites")
@require(*ANYONE)
@bp.response(200, schemas.Sites)
@bp.errors(401, 403)
def sites():
    """List the sites the caller may use."""
    p = principal()
    rows = [site_json(s) for s in store.list_sites(get_db()) if p.may_use_site(s["id"])]
    return jsonify({"sites": rows})


@bp.route("/sites/<site>")
@require(*ANYONE)
@bp.response(200, schemas.Site)
@bp.errors(401, 403, 404)
def site_detail(site):
    """Describe one site."""
    return jsonify(site_json(site_for(site)))


@bp.route("/sites/<site>/desks")
@require(*STAFF)
@bp.response(200, schemas.SiteDesks)
@bp.errors(401, 403, 404)
def site_desks(site):
    """List a site's desks with their services and current holder."""
    s = site_for(site)
    return jsonify({"site": s["code"], "desks": [desk_json(d) for d in store.list_desks(get_db(), s["id"])]})


@bp.route("/sites/<site>/services")
@require(*ANYONE)
@bp.response(200, schemas.SiteServices)
@bp.errors(401, 403, 404)
def site_services(site):
    """List a site's active services with waiting counts (general and preferential)."""
    s = site_for(site)
    engine = current_engine()
    counts = {row["code"]: row for row in engine.waiting_summary(s)}
    rows = []
    for service in store.list_services(get_db(), s["id"], only_active=True):
        row = counts[service["code"]]
        rows.append(dict(row, id=service["id"], description=service["description"],
                         requirements=service["requirements"],
                         open=engine.is_open(s, service)))
    return jsonify({"site": s["code"], "open": engine.is_open(s), "services": rows})


@bp.route("/sites/<site>/categories")
@require(*ANYONE)
@bp.response(200, schemas.Categories)
@bp.errors(401, 403, 404)
def site_categories(site):
    """List the active priority categories (what a kiosk offers)."""
    site_for(site)
    rows = [{"code": c["code"], "label": c["label"], "legal_note": c["legal_note"],
             "pictogram": c["pictogram"], "kiosk_visible": bool(c["kiosk_visible"])}
            for c in store.list_categories(get_db(), only_active=True)]
    return jsonify({"categories": rows})


@bp.route("/sites/<site>/queue")
@require(*STAFF)
@bp.response(200, schemas.SiteQueue)
@bp.errors(401, 403, 404)
def site_queue(site):
    """Return today's waiting tickets in order and the tickets being called or served."""
    s = site_for(site)
    engine = current_engine()
    db = get_db()
    day = engine.today(s)
    now = engine.clock.now_ms()
    rows = []
    for t in engine.waiting_in_order(s):  # the order of shared.priority, as the desks will call
        row = ticket_json(t, engine.lookup)
        row["position"] = t["position"]
        row["predicted_desk"] = engine.lookup.desk(t["predicted_desk_id"])["code"] \
            if t["predicted_desk_id"] else None
        row["waiting_seconds"] = kpi.seconds(kpi.waited_ms(t, now))
        rows.append(row)
    active = [ticket_json(t, engine.lookup) for t in store.active_list(db, s["id"], day)]
    return jsonify({"site": s["code"], "day": day, "waiting": rows, "active": active,
                    "services": engine.waiting_summary(s)})


@bp.route("/sites/<site>/snapshot")
@require(*ANYONE)
@bp.response(200, schemas.Snapshot)
@bp.errors(401, 403, 404)
def site_snapshot(site):
    """Return what a screen shows: waiting counts and the last calls."""
    s = site_for(site)
    return jsonify(current_engine().snapshot(s, principal().history_length()))


@bp.route("/sites/<site>/close-day", methods=["POST"])
@require("admin")
@bp.arguments(CloseDay)
@bp.response(200, schemas.DayClosed)
@bp.errors(400, 401, 403, 404, 413, 415)
def close_day(data, site):
    """Close a site's day (never-called tickets become abandoned), or with dry_run say what would change."""
    s = site_for(site)
    return jsonify(current_engine().close_day(s, data["day"], dry_run=bool(data.get("dry_run"))))


# --- tickets -----------------------------------------------------------------

def _device_caller() -> bool:
    """Tell whether the caller is a device (devices are held to KIOSK_RATE_LIMIT)."""
    p = auth.current_principal()
    return p is not None and p.kind == "device"


def _device_key() -> str:
    """Return the rate-limit key of the calling device."""
    return str(auth.current_principal().device_id)


@bp.route("/tickets", methods=["POST"])
@ratelimit.limit("issue", "KIOSK_RATE_LIMIT", _device_key, only_created=True,
                 exempt_when=lambda: not _device_caller())
@require(*STAFF, "kiosk")
@bp.arguments(NewTicket)
@bp.response(201, schemas.Ticket)
@bp.errors(400, 401, 403, 404, 409, 413, 415, 429)
def issue_ticket(data):
    """Issue a ticket for a service (kiosks only for their own site)."""
    p = principal()
    engine = current_engine()
    site = engine.site(data["site"])
    auth.require_site(p, site)
    ticket = engine.issue(site, data["service"], data["priority"], actor())
    ticket["status_url"] = absolute(ticket["status_url"])
    return jsonify(ticket), 201


@bp.route("/tickets/<int:ticket_id>")
@require(*STAFF, "kiosk")
@bp.response(200, schemas.Ticket)
@bp.errors(401, 403, 404)
def get_ticket(ticket_id):
    """Return one ticket with its people ahead and estimated wait."""
    engine = current_engine()
    ticket = engine.ticket(ticket_id)
    auth.require_site(principal(), engine.lookup.site(ticket["site_id"]))
    return ticket_reply(ticket)


@bp.route("/tickets/<int:ticket_id>/events")
@require(*STAFF)
@bp.response(200, schemas.TicketEvents)
@bp.errors(401, 403, 404)
def get_ticket_events(ticket_id):
    """Return a ticket's event log (who did what, when, where)."""
    engine = current_engine()
    ticket = engine.ticket(ticket_id)
    site = engine.lookup.site(ticket["site_id"])
    auth.require_site(principal(), site)
    rows = [{"kind": e["kind"], "at": iso(e["at"], site["timezone"]),
             "desk": (engine.lookup.desk(e["desk_id"]) or {}).get("code"),
             "user_id": e["user_id"], "device_id": e["device_id"], "data": json.loads(e["data"])}
            for e in store.ticket_events(get_db(), ticket["id"])]
    return jsonify({"ticket": ticket["id"], "events": rows})


TICKET_ACTION_ERRORS = (400, 401, 403, 404, 409, 413, 415)


@bp.route("/tickets/<int:ticket_id>/call", methods=["POST"])
@require(*STAFF)
@bp.arguments(CallTo)
@bp.response(200, schemas.Ticket)
@bp.errors(*TICKET_ACTION_ERRORS)
def call_ticket(data, ticket_id):
    """Call a chosen waiting ticket to a desk."""
    desk = desk_for(data["desk"])
    # The same rule as the desk page: who may call out of order, never while paused; audited.
    ticket = desks.call_chosen(current_engine(), desk, ticket_id, actor(), principal().role)
    return ticket_reply(ticket)


@bp.route("/tickets/<int:ticket_id>/recall", methods=["POST"])
@require(*STAFF)
@bp.arguments(Empty)
@bp.response(200, schemas.Ticket)
@bp.errors(*TICKET_ACTION_ERRORS)
def recall_ticket(data, ticket_id):
    """Call a called ticket again."""
    ticket = ticket_for_action(ticket_id)
    return ticket_reply(current_engine().recall(ticket, actor()))


@bp.route("/tickets/<int:ticket_id>/start", methods=["POST"])
@require(*STAFF)
@bp.arguments(Empty)
@bp.response(200, schemas.Ticket)
@bp.errors(*TICKET_ACTION_ERRORS)
def start_ticket(data, ticket_id):
    """Start serving a called ticket."""
    return ticket_reply(current_engine().start(ticket_id, actor(), may_move_ticket()))


@bp.route("/tickets/<int:ticket_id>/finish", methods=["POST"])
@require(*STAFF)
@bp.arguments(Finish)
@bp.response(200, schemas.Ticket)
@bp.errors(*TICKET_ACTION_ERRORS)
def finish_ticket(data, ticket_id):
    """Finish serving a ticket (optional outcome resolved|pending and a note)."""
    return ticket_reply(current_engine().finish(ticket_id, actor(), data["outcome"],
                                                data["note"] or "", may_move_ticket()))


@bp.route("/tickets/<int:ticket_id>/no-show", methods=["POST"])
@require(*STAFF)
@bp.arguments(Empty)
@bp.response(200, schemas.Ticket)
@bp.errors(*TICKET_ACTION_ERRORS)
def no_show_ticket(data, ticket_id):
    """Close a called ticket whose citizen did not come."""
    return ticket_reply(current_engine().no_show(ticket_id, actor(), may_move_ticket()))


@bp.route("/tickets/<int:ticket_id>/cancel", methods=["POST"])
@require(*STAFF)
@bp.arguments(Cancel)
@bp.response(200, schemas.Ticket)
@bp.errors(*TICKET_ACTION_ERRORS)
def cancel_ticket(data, ticket_id):
    """Cancel a waiting or called ticket (supervisors, or the official holding it)."""
    ticket = ticket_for_action(ticket_id)
    return ticket_reply(current_engine().cancel(ticket, actor(), data["reason"] or ""))


@bp.route("/tickets/<int:ticket_id>/transfer", methods=["POST"])
@require(*STAFF)
@bp.arguments(Transfer)
@bp.response(201, schemas.Ticket)
@bp.errors(*TICKET_ACTION_ERRORS)
def transfer_ticket(data, ticket_id):
    """Send a ticket to another service; answers with the new segment."""
    ticket = ticket_for_action(ticket_id)
    segment = current_engine().transfer(ticket, data["service"], actor(), data["note"] or "")
    return ticket_reply(segment, 201)


# --- desks -------------------------------------------------------------------

DESK_ERRORS = (400, 401, 403, 404, 409, 413, 415)


@bp.route("/desks/<desk>")
@require(*STAFF)
@bp.arguments(DeskQuery, location="query")
@bp.response(200, schemas.DeskState)
@bp.errors(400, 401, 403, 404)
def get_desk(query, desk):
    """Return a desk's state: holder, pause, current ticket."""
    return jsonify(desks.desk_state(current_engine(), readable_desk(desk)))


@bp.route("/desks/<desk>/session", methods=["POST"])
@require(*STAFF)
@bp.arguments(DeskQuery, location="query")
@bp.arguments(Empty)
@bp.response(201, schemas.DeskState)
@bp.errors(*DESK_ERRORS)
def open_desk_session(query, data, desk):
    """Take a desk: the official now holds it (one desk per official, one official per desk)."""
    d = readable_desk(desk)
    desks.open_session(current_engine(), d, principal().user_id)
    return jsonify(desks.desk_state(current_engine(), d)), 201


@bp.route("/desks/<desk>/session", methods=["DELETE"])
@require(*STAFF)
@bp.arguments(DeskQuery, location="query")
@bp.response(204)
@bp.errors(400, 401, 403, 404, 409)
def close_desk_session(query, desk):
    """Leave a desk (an admin or supervisor may close anyone's session)."""
    d = desk_for(desk)
    desks.close_session(current_engine(), d, principal().user_id)
    return "", 204


@bp.route("/desks/<desk>/next", methods=["POST"])
@require(*STAFF)
@bp.arguments(DeskQuery, location="query")
@bp.arguments(Empty)
@bp.response(200, schemas.Ticket)
@bp.alt_response(204, description="Nobody waits", success=True)
@bp.errors(*DESK_ERRORS)
def call_next(query, data, desk):
    """Call the next citizen to a desk: 200 with the ticket, or 204 when nobody waits."""
    d = desk_from_path(desk)
    # Who may call here and a paused desk are checked by the claim itself.
    ticket = current_engine().call_next(d, actor(), may_call_at(d))
    if ticket is None:
        return "", 204
    return ticket_reply(ticket)


# --- the document -------------------------------------------------------------

docs = Blueprint("api_docs", __name__, template_folder="templates", static_folder="static",
                 static_url_path="/api/static")


@docs.get("/api/v1/openapi.json")
def openapi_document():
    """Serve the OpenAPI 3 document of this API (public)."""
    return jsonify(contract.document(current_app))


@docs.get("/api/docs")
def reference_page():
    """Show the API reference for integrators (Swagger UI, vendored, under the app's CSP; public)."""
    return render_template("api/reference.html")


def init_app(app) -> None:
    """Create the API document, register the core API and the pages that serve its document."""
    contract.init_app(app)
    contract.register(app, bp)
    app.register_blueprint(docs)
