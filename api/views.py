"""The JSON API under /api/v1 (described by /api/v1/openapi.json, rendered at /api/docs).

Each operation declares its body or query schema (validated before the view
runs, after the role check) and the shape of every answer; the shapes are in
``api/schemas.py``, the machinery in ``api/contract.py``.
"""

from flask import Blueprint, current_app, jsonify, render_template, request
from flask_babel import lazy_gettext as _l

from shared import auth, desks, devices, ratelimit, store
from shared.auth import require
from shared.db import get_db, immediate
from shared.errors import Forbidden, Invalid, not_found
from shared.present import desk_json, site_json, ticket_json
from shared.queue import Actor, current_engine
from shared.timefmt import iso

from . import contract, schemas
from .contract import Body, Choice, Empty, Query, Ref, Text

bp = contract.Blueprint("api", __name__, url_prefix="/api/v1",
                        description="Tickets, sites, desks and devices")

STAFF = ("admin", "supervisor", "official")
MANAGERS = ("admin", "supervisor")
ANYONE = (*STAFF, "kiosk", "display", "survey")


# --- helpers -------------------------------------------------------------------

def principal() -> auth.Principal:
    """Return the authenticated principal (the decorator already checked it)."""
    return auth.current_principal()


def actor() -> Actor:
    """Return the actor recorded in events for this request."""
    p = principal()
    return Actor(user_id=p.user_id, device_id=p.device_id, role=p.role)


def site_for(ident) -> dict:
    """Return a site the principal may use, or refuse."""
    site = current_engine().site(ident)
    auth.require_site(principal(), site)
    return site


def desk_from_path(ident) -> dict:
    """Return the desk a path names: an id, ``site:code``, or a code with ``?site=``."""
    engine = current_engine()
    site_code = request.args.get("site")
    return engine.desk(ident, engine.site(site_code) if site_code else None)


def readable_desk(ident) -> dict:
    """Return a desk of a site the caller belongs to (reading needs no hold)."""
    desk = desk_from_path(ident)
    auth.require_site(principal(), current_engine().lookup.site(desk["site_id"]))
    return desk


def desk_for(ident) -> dict:
    """Return a desk the principal may operate, or refuse."""
    desk = desk_from_path(ident)
    if not auth.may_act_for_desk(get_db(), principal(), desk):
        raise Forbidden(_l("Solo quien ocupa %(d)s (o un supervisor) puede operarlo.",
                           d=desk["name"]), code="not_desk_holder")
    return desk


def ticket_for_action(ticket_id, *, managers_anywhere: bool = True) -> dict:
    """Return a ticket the principal may act on: at its own desk, or as a manager of its site."""
    engine = current_engine()
    ticket = engine.ticket(ticket_id)
    p = principal()
    auth.require_site(p, engine.lookup.site(ticket["site_id"]))
    if p.role in MANAGERS and managers_anywhere:
        return ticket
    desk = engine.lookup.desk(ticket["desk_id"])
    if desk is None or not auth.may_act_for_desk(get_db(), p, desk):
        raise Forbidden(_l("El turno %(code)s no está en su módulo.", code=ticket["code"]),
                        code="not_your_ticket")
    return ticket


def ticket_reply(ticket: dict, status: int = 200):
    """Answer with a ticket's API shape, its absolute status URL and estimate."""
    data = current_engine().with_estimate(ticket)
    data["status_url"] = absolute(data["status_url"])
    return jsonify(data), status


def absolute(path: str) -> str:
    """Make a path absolute with the configured public URL or this request's host."""
    base = current_app.config.get("PUBLIC_URL")
    if not base:
        # request.host_url rebuilds and re-encodes the whole URL; the base only
        # depends on these values, so it is worked out once for each.
        env = request.environ
        key = (env.get("wsgi.url_scheme"), env.get("HTTP_HOST"), env.get("SERVER_NAME"),
               env.get("SERVER_PORT"), env.get("SCRIPT_NAME"))
        base = _HOST_URLS.get(key)
        if base is None:
            base = request.host_url
            if len(_HOST_URLS) < 64:
                _HOST_URLS[key] = base
    return base.rstrip("/") + path


_HOST_URLS: dict[tuple, str] = {}


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


class DeskQuery(Query):
    """Makes ``{desk}`` a desk code within this site."""

    site = Text(max_length=64, name=True, metadata={
        "description": "Site code: makes {desk} a desk code within that site"})


# --- auth and devices -------------------------------------------------------------

@bp.route("/auth/token", methods=["POST"])
@ratelimit.limit("token", (20, 60))
@bp.arguments(Credentials)
@bp.response(201, schemas.Token)
@bp.errors(400, 401, 413, 415, 429)
@bp.doc(security=[])
def create_token(data):
    """Exchange a username and password for a bearer token (answered with no-store)."""
    clock = current_app.extensions["turnos.clock"]
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
    clock = current_app.extensions["turnos.clock"]
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
    devices.revoke(db, device_id, current_app.extensions["turnos.clock"], principal().user_id)
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
        row["waiting_seconds"] = round((now - t["queue_at"]) / 1000, 3)
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
    import json

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
    ticket = ticket_for_action(ticket_id)
    return ticket_reply(current_engine().start(ticket, actor()))


@bp.route("/tickets/<int:ticket_id>/finish", methods=["POST"])
@require(*STAFF)
@bp.arguments(Finish)
@bp.response(200, schemas.Ticket)
@bp.errors(*TICKET_ACTION_ERRORS)
def finish_ticket(data, ticket_id):
    """Finish serving a ticket (optional outcome resolved|pending and a note)."""
    ticket = ticket_for_action(ticket_id)
    return ticket_reply(current_engine().finish(ticket, actor(), data["outcome"],
                                                data["note"] or ""))


@bp.route("/tickets/<int:ticket_id>/no-show", methods=["POST"])
@require(*STAFF)
@bp.arguments(Empty)
@bp.response(200, schemas.Ticket)
@bp.errors(*TICKET_ACTION_ERRORS)
def no_show_ticket(data, ticket_id):
    """Close a called ticket whose citizen did not come."""
    ticket = ticket_for_action(ticket_id)
    return ticket_reply(current_engine().no_show(ticket, actor()))


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

def desk_state(desk: dict) -> dict:
    """Return a desk with its holder, pause and current ticket."""
    db = get_db()
    engine = current_engine()
    session_row = store.open_session(db, desk["id"])
    pause = store.open_pause(db, session_row["id"]) if session_row else None
    current = store.desk_open_ticket(db, desk["id"])
    site = engine.lookup.site(desk["site_id"])
    services = [engine.lookup.service(i)["code"] for i in store.desk_service_ids(db, desk["id"])]
    return {
        "id": desk["id"], "code": desk["code"], "name": desk["name"], "site": site["code"],
        "services": services,
        "holder": session_row["username"] if session_row else None,
        "holder_name": session_row["display_name"] if session_row else None,
        "session_started_at": iso(session_row["started_at"], site["timezone"]) if session_row else None,
        "paused": pause is not None, "pause_reason": pause["reason"] if pause else None,
        "paused_since": iso(pause["started_at"], site["timezone"]) if pause else None,
        "current": ticket_json(current, engine.lookup) if current else None,
    }


DESK_ERRORS = (400, 401, 403, 404, 409, 413, 415)


@bp.route("/desks/<desk>")
@require(*STAFF)
@bp.arguments(DeskQuery, location="query")
@bp.response(200, schemas.DeskState)
@bp.errors(400, 401, 403, 404)
def get_desk(query, desk):
    """Return a desk's state: holder, pause, current ticket."""
    return jsonify(desk_state(readable_desk(desk)))


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
    return jsonify(desk_state(d)), 201


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
    d = desk_for(desk)
    desks.check_not_paused(current_engine(), d)
    ticket = current_engine().call_next(d, actor())
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
