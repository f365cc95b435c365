"""Socket.IO connections: who a socket is, the rooms it joins, its first snapshot, its leaving.

A client connects with ``auth={"token": ...}`` (a device or staff token), or
with the browser's session cookie, or with ``auth={"ticket": public_id}``
for a ticket's status page. It joins its rooms (named in ``shared/events.py``)
and first receives ``snapshot``, then live events. A waiting-room screen is
admitted by the display face (``admit_screens``), which shapes its snapshot
by zone. Faces that keep something per socket (a printer agent's presence)
add a hook run when it leaves (``add_disconnect_hook``).
"""

from flask import current_app, request
from flask_socketio import disconnect, join_room

from . import auth, catalog, cluster, estimate, store
from .clock import current_clock
from .db import get_db
from .devices import survey_desk
from .events import (
    ANNOUNCER,
    SNAPSHOT,
    SocketAnnouncer,
    desk_room,
    device_room,
    site_room,
    socketio,
    staff_room,
    ticket_room,
    user_room,
)
from .queue import QueueEngine

# Where the app keeps the display face's admission of screens (see ``admit_screens``).
SCREENS = "turnos.screens"
_PRINCIPAL = "turnos.principal"

# Called (in the socket's request context) when a socket disconnects; faces add theirs.
_disconnect_hooks: list = []


def init_app(app) -> None:
    """Attach Socket.IO to the app (async mode, message queue), its cluster and its announcer."""
    queue = app.config.get("SOCKETIO_MESSAGE_QUEUE")
    manager = cluster.BatchingRedisManager(queue) if queue else None
    # client_manager is always given: the module-level SocketIO keeps the options of
    # earlier apps (tests make many), and a queue must never leak into the next one.
    socketio.init_app(app, async_mode=app.config.get("SOCKETIO_ASYNC_MODE"),
                      client_manager=manager,
                      cors_allowed_origins=app.config.get("SOCKETIO_CORS_ORIGINS") or [],
                      max_http_buffer_size=64 * 1024, ping_interval=10, ping_timeout=10,
                      manage_session=False)
    shared = cluster.Cluster(socketio, queue)
    shared.on(cluster.DISCONNECT_ROOM, lambda message: cluster.disconnect_room_here(
        socketio, message["room"]))
    shared.on(cluster.FORGET_ESTIMATES, lambda message: estimate.forget(message["site_id"]))
    shared.on(cluster.FORGET_CONFIG, lambda message: catalog.forget())
    shared.on(cluster.FORGET_PRINCIPALS, lambda message: auth.forget_principals())
    shared.after_outage.append(auth.forget_principals)
    app.extensions[cluster.EXTENSION] = shared
    app.extensions[ANNOUNCER] = SocketAnnouncer(app, app.config["QUEUE_EVENT_INTERVAL"],
                                                read_counts=_waiting_counts)


def _waiting_counts(site_id: int) -> list[dict] | None:
    """Return a site's waiting counts read now (inside an app context), or None if it is gone."""
    db = get_db()
    site = store.site_by_id(db, site_id)
    return QueueEngine(db, current_clock()).waiting_summary(site) if site is not None else None


def admit_screens(app, admit) -> None:
    """Let a face admit waiting-room screens: ``admit(db, engine, principal, auth) -> bool``."""
    app.extensions[SCREENS] = admit


def socket_principal() -> auth.Principal | None:
    """Return the principal the current socket connected as (None for a status page)."""
    return request.environ.get(_PRINCIPAL)


def remember_principal(principal: auth.Principal) -> None:
    """Keep the principal a socket connected as, for its later events."""
    request.environ[_PRINCIPAL] = principal


@socketio.on("connect")
def on_connect(auth_data=None):
    """Authenticate a socket, join its rooms and send the snapshot; refuse strangers."""
    db = get_db()
    clock = current_clock()
    auth_data = auth_data if isinstance(auth_data, dict) else {}
    engine = QueueEngine(db, clock)
    public_id = auth_data.get("ticket")
    if isinstance(public_id, str) and public_id:
        return _join_ticket_page(db, public_id)
    principal = auth.principal_for_socket(db, auth_data.get("token"), clock)
    if principal is None:
        return False
    # A waiting-room screen (or an admin's preview of one, auth {"display": true})
    # joins only its site's room and gets a snapshot shaped by its zone.
    admit = current_app.extensions.get(SCREENS)
    if admit is not None and (principal.role == "display" or auth_data.get("display")):
        return admit(db, engine, principal, auth_data)
    sites = auth.sites_for_socket(db, principal, auth_data.get("site"))
    if not sites:
        return False
    remember_principal(principal)
    _join_rooms(db, principal, sites)
    limit = principal.history_length()
    for site in sites:
        socketio.emit(SNAPSHOT, engine.snapshot(site, limit), to=request.sid)
    return True


def _join_ticket_page(db, public_id: str) -> bool:
    """Admit a ticket's status page to its ticket's room and its site's counts."""
    segment = store.latest_segment(db, public_id)
    if segment is None:
        return False
    join_room(ticket_room(public_id))
    # The waiting counts (what the waiting-room screen shows) tell the page
    # when the people ahead of the ticket change.
    join_room(site_room(segment["site_id"]))
    return True


def _join_rooms(db, principal: auth.Principal, sites: list[dict]) -> None:
    """Join the rooms of a device or a staff member: its own, its sites', its desk's."""
    if principal.kind == "device":
        join_room(device_room(principal.device_id))
    if principal.is_staff:
        join_room(user_room(principal.user_id))
    if principal.role == "survey":
        # A satisfaction screen follows its desk, to ask as soon as a service ends there.
        desk = survey_desk(db, principal.site_id, principal.config)
        if desk is not None:
            join_room(desk_room(desk["id"]))
    for site in sites:
        join_room(site_room(site["id"]))
        if principal.is_staff:
            join_room(staff_room(site["id"]))
    if principal.is_staff:
        session = store.session_of_user(db, principal.user_id)
        if session is not None:
            join_room(desk_room(session["desk_id"]))


def add_disconnect_hook(hook) -> None:
    """Run ``hook()`` (in the socket's request context) whenever a socket disconnects; once per hook."""
    if hook not in _disconnect_hooks:
        _disconnect_hooks.append(hook)


@socketio.on("disconnect")
def on_disconnect(*_reason):
    """Let the faces forget what a leaving socket held (a printer agent's presence)."""
    for hook in _disconnect_hooks:
        hook()


@socketio.on("join_desk")
def on_join_desk(data=None):
    """Let a staff socket follow a desk it holds (a second tab of the same desk)."""
    principal = socket_principal()
    if principal is None or not principal.is_staff:
        disconnect()
        return {"error": "forbidden"}
    db = get_db()
    desk = store.find_desk(db, (data or {}).get("desk", "")) if isinstance(data, dict) else None
    if desk is None:
        return {"error": "unknown_desk"}
    if not auth.may_act_for_desk(db, principal, desk):
        return {"error": "forbidden"}
    join_room(desk_room(desk["id"]))
    return {"ok": True}
