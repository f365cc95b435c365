"""Socket.IO events: every event name, its payload, its rooms, and the connection rules.

Rooms:
- ``site:<id>``: displays, staff and ticket status pages of a site; receives calls and
  queue counts.
- ``staff:<id>``: staff of a site; also receives every other ticket change.
- ``desk:<id>``: the official holding a desk (and other tabs of that desk), and the
  survey screen paired with it (device config ``{"desk": <desk id>}``).
- ``ticket:<public_id>``: a ticket's public status page (the first segment's id).
- ``device:<id>``: one paired device's own sockets (a kiosk learns its print results).
- ``user:<id>``: one staff user's own sockets (dropped when the account is disabled).
- ``agent:<id>``: the printer agent of a remote kiosk (joined on ``agent_ready``).

A client connects with ``auth={"token": ...}`` (a device or staff token), or
with the browser's session cookie, or with ``auth={"ticket": public_id}``
for a ticket's status page. It joins its rooms and first receives
``snapshot``, then live events. Every event is emitted after its commit.
"""

import threading
import time

from flask import current_app, request
from flask_socketio import SocketIO, disconnect, join_room

socketio = SocketIO()

# Server -> client events.
SNAPSHOT = "snapshot"              # {site, site_name, services: [...], last_calls: [ticket_called
                                   #  payloads], server_time}
TICKET_ISSUED = "ticket_issued"    # ticket shape (shared.present.ticket_json)
TICKET_CALLED = "ticket_called"    # {id, code, service, service_name, preferential, desk, desk_name,
                                   #  called_at, recall}: what screens show; a preferential mark,
                                   #  never the category (staff read it from the API)
TICKET_STARTED = "ticket_started"  # ticket shape
TICKET_FINISHED = "ticket_finished"
TICKET_NO_SHOW = "ticket_no_show"
TICKET_NO_SHOW_UNDONE = "ticket_no_show_undone"  # ticket shape: a no-show taken back, called again
TICKET_TRANSFERRED = "ticket_transferred"  # ticket shape + {"to": new segment}
TICKET_CANCELLED = "ticket_cancelled"
TICKET_ARRIVED = "ticket_arrived"  # ticket shape: a ticket taken from a phone whose citizen arrived
QUEUE_CHANGED = "queue_changed"    # {site, services: [...waiting counts]}
DAY_CLOSED = "day_closed"          # {site, day, abandoned, no_show, finished, sessions_closed}
DESK_CHANGED = "desk_changed"      # {desk, desk_name, holder, state, pause_reason, since}
TICKET_STATUS = "ticket_status"    # status-page shape of one ticket (to its ticket room)
PRINT_RESULT = "print_result"      # {ticket, job, ok, status, error, message}
PRINTER_STATUS = "printer_status"  # {device, status, message}
ALERT = "alert"                    # {kind, message, ...}
CONFIG_CHANGED = "config_changed"  # {site, what}
ERROR = "error"                    # {error, message}

ALL_SERVER_EVENTS = (SNAPSHOT, TICKET_ISSUED, TICKET_CALLED, TICKET_STARTED, TICKET_FINISHED,
                     TICKET_NO_SHOW, TICKET_NO_SHOW_UNDONE, TICKET_TRANSFERRED, TICKET_CANCELLED,
                     TICKET_ARRIVED, QUEUE_CHANGED,
                     DAY_CLOSED, DESK_CHANGED, TICKET_STATUS, PRINT_RESULT, PRINTER_STATUS, ALERT,
                     CONFIG_CHANGED, ERROR)


def site_room(site_id: int) -> str:
    """Return the room of everything shown in a site's waiting room."""
    return f"site:{site_id}"


def staff_room(site_id: int) -> str:
    """Return the room of a site's staff."""
    return f"staff:{site_id}"


def desk_room(desk_id: int) -> str:
    """Return the room of one desk."""
    return f"desk:{desk_id}"


def ticket_room(public_id: str) -> str:
    """Return the room of one ticket's status page."""
    return f"ticket:{public_id}"


def device_room(device_id: int) -> str:
    """Return the room of one paired device's sockets."""
    return f"device:{device_id}"


def user_room(user_id: int) -> str:
    """Return the room of one staff user's sockets."""
    return f"user:{user_id}"


def call_rooms(ticket: dict) -> list[str]:
    """Return the rooms that hear a ticket's call: its site's screens, its staff, its desk."""
    rooms = [site_room(ticket["site_id"]), staff_room(ticket["site_id"])]
    if ticket["desk_id"]:
        rooms.append(desk_room(ticket["desk_id"]))
    return rooms


class NullAnnouncer:
    """Drops every announcement; for the CLI and for code without sockets."""

    def emit(self, event: str, payload, room: str | list[str]) -> None:
        """Send nothing."""

    def ticket_called(self, ticket: dict, payload: dict) -> None:
        """Announce a call to the waiting room, the desk and the ticket's page."""
        # One emit to every room: a socket in several of them hears the call once.
        self.emit(TICKET_CALLED, payload, call_rooms(ticket))
        self.ticket_status(ticket)

    def ticket_changed(self, event: str, ticket: dict, lookup, extra: dict | None = None) -> None:
        """Announce any other change of a ticket to staff, its desk and its page."""
        from .present import ticket_json

        payload = ticket_json(ticket, lookup)
        if extra:
            payload.update(extra)
        rooms = [staff_room(ticket["site_id"])]
        if ticket["desk_id"]:
            rooms.append(desk_room(ticket["desk_id"]))
        self.emit(event, payload, rooms)
        self.ticket_status(ticket)

    def queue_changed(self, site_id: int, services) -> None:
        """Announce new waiting counts of a site (a list, or a function that builds it)."""
        if callable(services):
            services = services()
        self.emit(QUEUE_CHANGED, {"site_id": site_id, "services": services}, site_room(site_id))

    def day_closed(self, site_id: int, summary: dict) -> None:
        """Announce the end-of-day close of a site."""
        self.emit(DAY_CLOSED, summary, staff_room(site_id))

    def desk_changed(self, site_id: int, desk_id: int, payload: dict) -> None:
        """Announce a change of a desk's session or pause."""
        self.emit(DESK_CHANGED, payload, [staff_room(site_id), desk_room(desk_id)])

    def ticket_status(self, ticket: dict) -> None:
        """Tell a ticket's status page that it changed (it re-reads the details)."""
        self.emit(TICKET_STATUS, {"status": ticket["status"], "code": ticket["code"]},
                  ticket_room(ticket["visit_id"]))


class SocketAnnouncer(NullAnnouncer):
    """Emits through Flask-SocketIO (and its message queue when several processes run).

    ``queue_changed`` is throttled per site: the first change after a quiet
    spell is sent at once, and changes within ``interval`` seconds of the last
    send become one send at the end of the interval, with the counts read
    then. Screens see the same final counts; a burst (a kiosk queue at
    opening, fifty desks calling) costs a few counts per second instead of
    one per ticket, for the server and for every screen listening.
    """

    def __init__(self, app=None, interval: float = 0.0):
        self.app = app
        self.interval = interval
        self._lock = threading.Lock()
        self._last: dict[int, float] = {}    # site id -> monotonic time of the last send
        self._pending: set[int] = set()      # sites with a send scheduled

    def emit(self, event: str, payload, room: str | list[str]) -> None:
        """Emit one event to a room or rooms (each socket once)."""
        socketio.emit(event, payload, to=room)

    def queue_changed(self, site_id: int, services) -> None:
        """Announce a site's waiting counts now, or once at the end of the current interval."""
        if self.interval <= 0 or self.app is None:
            return super().queue_changed(site_id, services)
        with self._lock:
            if site_id in self._pending:
                return  # the scheduled send will read these counts
            wait = self._last.get(site_id, float("-inf")) + self.interval - time.monotonic()
            if wait > 0:
                self._pending.add(site_id)
            else:
                self._last[site_id] = time.monotonic()
        if wait > 0:
            socketio.start_background_task(self._send_later, site_id, wait)
        else:
            super().queue_changed(site_id, services)

    def _send_later(self, site_id: int, wait: float) -> None:
        """Send a site's counts, read with a connection of its own, after ``wait`` seconds."""
        socketio.sleep(wait)
        with self._lock:
            # Cleared before reading: a change committed from here on schedules another send.
            self._pending.discard(site_id)
            self._last[site_id] = time.monotonic()
        try:
            with self.app.app_context():
                from . import store
                from .db import get_db
                from .queue import QueueEngine

                db = get_db()
                site = store.site_by_id(db, site_id)
                if site is not None:
                    engine = QueueEngine(db, self.app.extensions["turnos.clock"])
                    super().queue_changed(site_id, engine.waiting_summary(site))
        except Exception:  # a background task has nobody to answer; log and go on
            self.app.logger.exception("sending the waiting counts of site %s failed", site_id)

    def ticket_called(self, ticket: dict, payload: dict) -> None:
        """Announce a call, then let the sockets send it before the request goes on."""
        super().ticket_called(ticket, payload)
        # Under gevent the queued frames leave only when this request yields; without
        # this they would wait for the queue counts and the HTTP answer to be built.
        # Yielding also lets other requests run while this one holds its database
        # connection, which costs when many desks call at once: so only when a
        # socket of this process (or, with a message queue, of any) hears the call.
        if self._heard(call_rooms(ticket)):
            socketio.sleep(0)

    def _heard(self, rooms: list[str]) -> bool:
        """Tell whether a socket of this process listens in these rooms.

        Other processes get the call through the message queue, off this
        request's path: only this process's own sockets need the yield.
        """
        return any(True for _ in socketio.server.manager.get_participants("/", rooms))


class AfterCommit:
    """Sends each announcement once the connection's current transaction commits (at once if none).

    The queue engine announces through one of these: a change made inside a
    larger unit of work (the kiosk's ticket with its print job and request id,
    a chosen call with its audit entry) is announced only when the whole unit
    commits, and never when it rolls back.
    """

    def __init__(self, db, announcer):
        self.db = db
        self.announcer = announcer

    def __getattr__(self, name):
        value = getattr(self.announcer, name)
        if name.startswith("_") or not callable(value):
            return value

        def after_commit(*args, **kwargs):
            from .db import on_commit

            on_commit(self.db, lambda: value(*args, **kwargs))

        return after_commit


class RecordingAnnouncer(NullAnnouncer):
    """Keeps every announcement in a list; for tests of the engine."""

    def __init__(self):
        self.sent: list[tuple[str, object, str]] = []

    def emit(self, event: str, payload, room: str | list[str]) -> None:
        """Record one event per room it was sent to."""
        for one in [room] if isinstance(room, str) else room:
            self.sent.append((event, payload, one))


def init_app(app) -> None:
    """Attach Socket.IO to the app with the configured async mode and message queue."""
    from . import cluster

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
    shared.on(cluster.FORGET_ESTIMATES, lambda message: _forget_estimates(message["site_id"]))
    app.extensions["turnos.cluster"] = shared
    app.extensions["turnos.announcer"] = SocketAnnouncer(app, app.config["QUEUE_EVENT_INTERVAL"])


def _forget_estimates(site_id: int) -> None:
    """Drop this process's cached estimates of a site (another process saw its line change)."""
    from . import estimate

    estimate.forget(site_id)


def disconnect_room(room: str) -> None:
    """Disconnect the sockets in a room, on every server process."""
    from flask import current_app

    from . import cluster

    current_app.extensions["turnos.cluster"].control(cluster.DISCONNECT_ROOM, room=room)


@socketio.on("connect")
def on_connect(auth=None):
    """Authenticate a socket, join its rooms and send the snapshot; refuse strangers."""
    from . import auth as authmod
    from .db import get_db
    from .queue import QueueEngine

    db = get_db()
    clock = current_app.extensions["turnos.clock"]
    auth = auth if isinstance(auth, dict) else {}
    engine = QueueEngine(db, clock)
    public_id = auth.get("ticket")
    if isinstance(public_id, str) and public_id:
        from . import store

        segment = store.latest_segment(db, public_id)
        if segment is None:
            return False
        join_room(ticket_room(public_id))
        # The waiting counts (what the waiting-room screen shows) tell the page
        # when the people ahead of the ticket change.
        join_room(site_room(segment["site_id"]))
        return True
    principal = authmod.principal_for_socket(db, auth.get("token"), clock)
    if principal is None:
        return False
    # A waiting-room screen (or an admin's preview of one, auth {"display": true})
    # joins only its site's room and gets a snapshot shaped by its zone.
    display_connect = current_app.extensions.get("turnos.display_connect")
    if display_connect is not None and (principal.role == "display" or auth.get("display")):
        return display_connect(db, engine, principal, auth)
    sites = authmod.sites_for_socket(db, principal, auth.get("site"))
    if not sites:
        return False
    request.environ["turnos.principal"] = principal
    if principal.kind == "device":
        join_room(device_room(principal.device_id))
    if principal.is_staff:
        join_room(user_room(principal.user_id))
    if principal.role == "survey":
        # A satisfaction screen follows its desk, to ask as soon as a service ends there.
        from .devices import survey_desk

        desk = survey_desk(db, principal.site_id, principal.config)
        if desk is not None:
            join_room(desk_room(desk["id"]))
    for site in sites:
        join_room(site_room(site["id"]))
        if principal.is_staff:
            join_room(staff_room(site["id"]))
    if principal.is_staff:
        from . import store

        session = store.session_of_user(db, principal.user_id)
        if session is not None:
            join_room(desk_room(session["desk_id"]))
    limit = principal.history_length()
    for site in sites:
        socketio.emit(SNAPSHOT, engine.snapshot(site, limit), to=request.sid)
    return True


# Called (in the socket's request context) when a socket disconnects; faces add theirs.
disconnect_hooks: list = []


@socketio.on("disconnect")
def on_disconnect(*_reason):
    """Let the faces forget what a leaving socket held (a printer agent's presence)."""
    for hook in disconnect_hooks:
        hook()


@socketio.on("join_desk")
def on_join_desk(data=None):
    """Let a staff socket follow a desk it holds (a second tab of the same desk)."""
    from . import auth as authmod
    from . import store
    from .db import get_db

    principal = request.environ.get("turnos.principal")
    if principal is None or not principal.is_staff:
        disconnect()
        return {"error": "forbidden"}
    db = get_db()
    desk = store.find_desk(db, (data or {}).get("desk", "")) if isinstance(data, dict) else None
    if desk is None:
        return {"error": "unknown_desk"}
    if not authmod.may_act_for_desk(db, principal, desk):
        return {"error": "forbidden"}
    join_room(desk_room(desk["id"]))
    return {"ok": True}


# Printer agent of a remote kiosk <-> server (printer/dispatch.py, printer/agent.py).
# The agent answers each job with PRINT_RESULT and reports PRINTER_STATUS.
PRINT_JOB = "print_job"            # server -> agent: {job, ticket, code, data (base64 ESC/POS), attempt}
AGENT_READY = "agent_ready"        # agent -> server: {printer, status}; ack {ok, device, offered}
