"""The JSON API under /api/v1 (described by /api/v1/openapi.json)."""

from flask import Blueprint, current_app, jsonify, request
from flask_babel import lazy_gettext as _l

from shared import auth, store
from shared.auth import require
from shared.db import get_db, immediate
from shared.errors import Forbidden, Invalid, not_found
from shared.present import desk_json, site_json, ticket_json
from shared.queue import Actor, current_engine

bp = Blueprint("api", __name__, url_prefix="/api/v1")

STAFF = ("admin", "supervisor", "official")
MANAGERS = ("admin", "supervisor")
_MISSING = object()


# --- helpers -------------------------------------------------------------------

def body(fields: dict) -> dict:
    """Parse a JSON object body against ``{name: (type or tuple, required)}``; refuse the rest."""
    if request.content_length and request.content_length > current_app.config["MAX_CONTENT_LENGTH"]:
        from werkzeug.exceptions import RequestEntityTooLarge

        raise RequestEntityTooLarge()
    raw = request.get_data(cache=True)
    if not raw.strip():
        data = {}
    else:
        if request.mimetype != "application/json":
            raise Invalid(_l("Envíe el contenido como JSON (Content-Type: application/json)."),
                          code="unsupported_media_type", status=415)
        data = request.get_json(silent=True)
        if data is None:
            raise Invalid(_l("El cuerpo no es JSON válido."), code="invalid_json")
    if not isinstance(data, dict):
        raise Invalid(_l("El cuerpo debe ser un objeto JSON."), code="invalid_json")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise Invalid(_l("Campos desconocidos: %(f)s.", f=", ".join(unknown)), code="unknown_field")
    out = {}
    for name, (kind, required) in fields.items():
        value = data.get(name, _MISSING)
        if value is _MISSING or value is None:
            if required:
                raise Invalid(_l("Falta el campo obligatorio «%(f)s».", f=name), code="missing_field",
                              field=name)
            out[name] = None
            continue
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
            raise Invalid(_l("El campo «%(f)s» tiene un tipo no válido.", f=name), code="invalid_type",
                          field=name)
        if isinstance(value, str) and len(value) > 500:
            raise Invalid(_l("El campo «%(f)s» es demasiado largo.", f=name), code="too_long",
                          field=name)
        out[name] = value
    return out


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


# --- auth and devices -------------------------------------------------------------

@bp.post("/auth/token")
def create_token():
    """Exchange a username and password for a bearer token."""
    data = body({"username": (str, True), "password": (str, True)})
    clock = current_app.extensions["turnos.clock"]
    auth.rate_limit(f"token:{request.remote_addr}", 20, 60, clock)
    db = get_db()
    user = auth.authenticate(db, data["username"], data["password"], clock)
    token = auth.issue_staff_token(db, user, clock)
    return jsonify({"token": token, "role": user["role"], "username": user["username"],
                    "expires_in": current_app.config["API_TOKEN_TTL_SECONDS"]}), 201


@bp.get("/me")
@require(*STAFF, "kiosk", "display", "survey")
def me():
    """Describe the caller (user or device)."""
    return jsonify(principal().to_json())


@bp.post("/devices")
@require("admin")
def create_device():
    """Register a kiosk, display or survey screen and return its token (shown once)."""
    data = body({"site": ((str, int), True), "kind": (str, True), "name": (str, True)})
    if data["kind"] not in auth.DEVICE_KINDS:
        raise Invalid(_l("Tipo de dispositivo no válido: use kiosk, display o survey."),
                      code="invalid_kind")
    if not data["name"].strip():
        raise Invalid(_l("El nombre del dispositivo es obligatorio."), code="missing_field")
    site = site_for(data["site"])
    db = get_db()
    clock = current_app.extensions["turnos.clock"]
    token, digest = auth.new_device_token()
    with immediate(db):
        device_id = store.insert_device(db, site["id"], data["kind"], data["name"].strip(), digest,
                                        {}, clock.now_ms())
        store.audit(db, clock.now_ms(), principal().user_id, "device.create", f"device:{device_id}",
                    {"site": site["code"], "kind": data["kind"], "name": data["name"]})
    return jsonify({"id": device_id, "token": token, "site": site["code"], "kind": data["kind"],
                    "name": data["name"].strip()}), 201


@bp.delete("/devices/<int:device_id>")
@require("admin")
def revoke_device(device_id):
    """Revoke a device's token at once."""
    db = get_db()
    device = store.device_by_id(db, device_id)
    if device is None:
        raise not_found("device", device_id)
    from shared import devices

    devices.revoke(db, device_id, current_app.extensions["turnos.clock"], principal().user_id)
    return "", 204


# --- sites, services, desks, queue ---------------------------------------------------

@bp.get("/sites")
@require(*STAFF, "kiosk", "display", "survey")
def sites():
    """List the sites the caller may use."""
    p = principal()
    rows = [site_json(s) for s in store.list_sites(get_db()) if p.may_use_site(s["id"])]
    return jsonify({"sites": rows})


@bp.get("/sites/<site>")
@require(*STAFF, "kiosk", "display", "survey")
def site_detail(site):
    """Describe one site."""
    return jsonify(site_json(site_for(site)))


@bp.get("/sites/<site>/desks")
@require(*STAFF)
def site_desks(site):
    """List a site's desks with their services and current holder."""
    s = site_for(site)
    return jsonify({"site": s["code"], "desks": [desk_json(d) for d in store.list_desks(get_db(), s["id"])]})


@bp.get("/sites/<site>/services")
@require(*STAFF, "kiosk", "display", "survey")
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


@bp.get("/sites/<site>/categories")
@require(*STAFF, "kiosk", "display", "survey")
def site_categories(site):
    """List the active priority categories (what a kiosk offers)."""
    site_for(site)
    rows = [{"code": c["code"], "label": c["label"], "legal_note": c["legal_note"],
             "pictogram": c["pictogram"], "kiosk_visible": bool(c["kiosk_visible"])}
            for c in store.list_categories(get_db(), only_active=True)]
    return jsonify({"categories": rows})


@bp.get("/sites/<site>/queue")
@require(*STAFF)
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


@bp.get("/sites/<site>/snapshot")
@require(*STAFF, "display", "kiosk", "survey")
def site_snapshot(site):
    """Return what a screen shows: waiting counts and the last calls."""
    s = site_for(site)
    return jsonify(current_engine().snapshot(s, principal().history_length()))


@bp.post("/sites/<site>/close-day")
@require("admin")
def close_day(site):
    """Close a site's day (never-called tickets become abandoned), or with dry_run say what would change."""
    s = site_for(site)
    data = body({"day": (str, False), "dry_run": (bool, False)})
    return jsonify(current_engine().close_day(s, data["day"], dry_run=bool(data["dry_run"])))


# --- tickets -----------------------------------------------------------------

@bp.post("/tickets")
@require(*STAFF, "kiosk")
def issue_ticket():
    """Issue a ticket for a service (kiosks only for their own site)."""
    data = body({"site": ((str, int), True), "service": ((str, int), True),
                 "priority": (str, False)})
    p = principal()
    engine = current_engine()
    site = engine.site(data["site"])
    auth.require_site(p, site)
    if p.kind == "device":
        limit, window = current_app.config["KIOSK_RATE_LIMIT"]
        auth.rate_limit(f"issue:{p.device_id}", limit, window, engine.clock)
    ticket = engine.issue(site, data["service"], data["priority"], actor())
    ticket["status_url"] = absolute(ticket["status_url"])
    return jsonify(ticket), 201


@bp.get("/tickets/<int:ticket_id>")
@require(*STAFF, "kiosk")
def get_ticket(ticket_id):
    """Return one ticket with its people ahead and estimated wait."""
    engine = current_engine()
    ticket = engine.ticket(ticket_id)
    auth.require_site(principal(), engine.lookup.site(ticket["site_id"]))
    return ticket_reply(ticket)


@bp.get("/tickets/<int:ticket_id>/events")
@require(*STAFF)
def get_ticket_events(ticket_id):
    """Return a ticket's event log (who did what, when, where)."""
    engine = current_engine()
    ticket = engine.ticket(ticket_id)
    site = engine.lookup.site(ticket["site_id"])
    auth.require_site(principal(), site)
    import json

    from shared.timefmt import iso

    rows = [{"kind": e["kind"], "at": iso(e["at"], site["timezone"]),
             "desk": (engine.lookup.desk(e["desk_id"]) or {}).get("code"),
             "user_id": e["user_id"], "device_id": e["device_id"], "data": json.loads(e["data"])}
            for e in store.ticket_events(get_db(), ticket["id"])]
    return jsonify({"ticket": ticket["id"], "events": rows})


@bp.post("/tickets/<int:ticket_id>/call")
@require(*STAFF)
def call_ticket(ticket_id):
    """Call a chosen waiting ticket to a desk."""
    data = body({"desk": ((str, int), True)})
    desk = desk_for(data["desk"])
    from shared import desks

    # The same rule as the desk page: who may call out of order, never while paused; audited.
    ticket = desks.call_chosen(current_engine(), desk, ticket_id, actor(), principal().role)
    return ticket_reply(ticket)


@bp.post("/tickets/<int:ticket_id>/recall")
@require(*STAFF)
def recall_ticket(ticket_id):
    """Call a called ticket again."""
    body({})
    ticket = ticket_for_action(ticket_id)
    return ticket_reply(current_engine().recall(ticket, actor()))


@bp.post("/tickets/<int:ticket_id>/start")
@require(*STAFF)
def start_ticket(ticket_id):
    """Start serving a called ticket."""
    body({})
    ticket = ticket_for_action(ticket_id)
    return ticket_reply(current_engine().start(ticket, actor()))


@bp.post("/tickets/<int:ticket_id>/finish")
@require(*STAFF)
def finish_ticket(ticket_id):
    """Finish serving a ticket (optional outcome resolved|pending and a note)."""
    data = body({"outcome": (str, False), "note": (str, False)})
    ticket = ticket_for_action(ticket_id)
    return ticket_reply(current_engine().finish(ticket, actor(), data["outcome"],
                                                data["note"] or ""))


@bp.post("/tickets/<int:ticket_id>/no-show")
@require(*STAFF)
def no_show_ticket(ticket_id):
    """Close a called ticket whose citizen did not come."""
    body({})
    ticket = ticket_for_action(ticket_id)
    return ticket_reply(current_engine().no_show(ticket, actor()))


@bp.post("/tickets/<int:ticket_id>/cancel")
@require(*STAFF)
def cancel_ticket(ticket_id):
    """Cancel a waiting or called ticket (supervisors, or the official holding it)."""
    data = body({"reason": (str, False)})
    ticket = ticket_for_action(ticket_id)
    return ticket_reply(current_engine().cancel(ticket, actor(), data["reason"] or ""))


@bp.post("/tickets/<int:ticket_id>/transfer")
@require(*STAFF)
def transfer_ticket(ticket_id):
    """Send a ticket to another service; answers with the new segment."""
    data = body({"service": ((str, int), True), "note": (str, False)})
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
    from shared.timefmt import iso

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


@bp.get("/desks/<desk>")
@require(*STAFF)
def get_desk(desk):
    """Return a desk's state: holder, pause, current ticket."""
    return jsonify(desk_state(readable_desk(desk)))


@bp.post("/desks/<desk>/session")
@require(*STAFF)
def open_desk_session(desk):
    """Take a desk: the official now holds it (one desk per official, one official per desk)."""
    body({})
    from shared import desks

    d = readable_desk(desk)
    desks.open_session(current_engine(), d, principal().user_id)
    return jsonify(desk_state(d)), 201


@bp.delete("/desks/<desk>/session")
@require(*STAFF)
def close_desk_session(desk):
    """Leave a desk (an admin or supervisor may close anyone's session)."""
    from shared import desks

    d = desk_for(desk)
    desks.close_session(current_engine(), d, principal().user_id)
    return "", 204


@bp.post("/desks/<desk>/next")
@require(*STAFF)
def call_next(desk):
    """Call the next citizen to a desk: 200 with the ticket, or 204 when nobody waits."""
    body({})
    d = desk_for(desk)
    from shared import desks

    desks.check_not_paused(current_engine(), d)
    ticket = current_engine().call_next(d, actor())
    if ticket is None:
        return "", 204
    return ticket_reply(ticket)


@bp.get("/openapi.json")
def openapi_document():
    """Serve the OpenAPI 3 document of this API (public)."""
    from . import openapi

    return openapi.document()


def init_app(app) -> None:
    """Register the API blueprint."""
    app.register_blueprint(bp)
