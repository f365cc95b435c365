"""Socket.IO events: every event name and its payload, every room, and the announcers.

This module answers "what is announced, to whom, and when". Every change is
announced after the commit of the transaction that made it (``AfterCommit``
on ``shared.db.on_commit``), and never when it rolls back. Who a socket is
and which rooms it joins is ``shared/sockets.py``.

Rooms:
- ``site:<id>``: displays, staff and ticket status pages of a site; receives calls and
  queue counts.
- ``staff:<id>``: staff of a site; also receives every other ticket change, desk changes,
  print results, printer states and alerts.
- ``desk:<id>``: the official holding a desk (and other tabs of that desk), and the
  survey screen paired with it (device config ``{"desk": <desk id>}``).
- ``ticket:<public_id>``: a ticket's public status page (the first segment's id).
- ``device:<id>``: one paired device's own sockets (a kiosk learns its print results).
- ``user:<id>``: one staff user's own sockets (dropped when the account is disabled).
- ``agent:<id>``: the printer agent of a remote kiosk (joined on ``agent_ready``).
"""

import threading
import time

from flask import current_app
from flask_socketio import SocketIO

from . import cluster
from .db import on_commit
from .present import ticket_json

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
                     TICKET_ARRIVED, QUEUE_CHANGED, DAY_CLOSED, DESK_CHANGED, TICKET_STATUS, PRINT_RESULT,
                     PRINTER_STATUS, ALERT, CONFIG_CHANGED, ERROR)

# Printer agent of a remote kiosk <-> server (shared/printing/remote.py, shared/printing/agent.py).
# The agent answers each job with PRINT_RESULT and reports PRINTER_STATUS.
PRINT_JOB = "print_job"            # server -> agent: {job, ticket, code, data (base64 ESC/POS), attempt}
AGENT_READY = "agent_ready"        # agent -> server: {printer, status}; ack {ok, device, offered}

# Where the app keeps its announcer (read through ``current_announcer``).
ANNOUNCER = "turnos.announcer"


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


def agent_room(device_id: int) -> str:
    """Return the room of a kiosk's remote printer agent."""
    return f"agent:{device_id}"


def call_rooms(ticket: dict) -> list[str]:
    """Return the rooms that hear a ticket's call: its site's screens, its staff, its desk."""
    rooms = [site_room(ticket["site_id"]), staff_room(ticket["site_id"])]
    if ticket["desk_id"]:
        rooms.append(desk_room(ticket["desk_id"]))
    return rooms


class NullAnnouncer:
    """Drops every announcement; for the CLI and for code without sockets.

    Each method says what one kind of change sends and to which rooms;
    subclasses only change how a message leaves (``emit``).
    """

    def emit(self, event: str, payload, room: str | list[str]) -> None:
        """Send nothing."""

    def ticket_called(self, ticket: dict, payload: dict) -> None:
        """Announce a call to the waiting room, the desk and the ticket's page."""
        # One emit to every room: a socket in several of them hears the call once.
        self.emit(TICKET_CALLED, payload, call_rooms(ticket))
        self.ticket_status(ticket)

    def ticket_changed(self, event: str, ticket: dict, lookup, extra: dict | None = None) -> None:
        """Announce any other change of a ticket to staff, its desk and its page."""
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

    def config_changed(self, site: dict, what: str) -> None:
        """Tell a site's kiosks, screens and desks that its configuration changed."""
        self.emit(CONFIG_CHANGED, {"site": site["code"], "what": what}, site_room(site["id"]))

    def print_result(self, site_id: int, device_id: int | None, payload: dict) -> None:
        """Tell the kiosk that printed (its device room) and the site's staff how a print went."""
        if device_id:
            self.emit(PRINT_RESULT, payload, device_room(device_id))
        self.emit(PRINT_RESULT, payload, staff_room(site_id))

    def printer_status(self, site_id: int, payload: dict) -> None:
        """Tell the site's staff that a kiosk printer's state changed."""
        self.emit(PRINTER_STATUS, payload, staff_room(site_id))

    def alert(self, site_id: int, payload: dict) -> None:
        """Raise an alert to the site's staff (a failed print, paper running out, a long wait)."""
        self.emit(ALERT, payload, staff_room(site_id))


class SocketAnnouncer(NullAnnouncer):
    """Emits through Flask-SocketIO (and its message queue when several processes run).

    ``queue_changed`` is throttled per site: the first change after a quiet
    spell is sent at once, and changes within ``interval`` seconds of the last
    send become one send at the end of the interval, with the counts read
    then (by ``read_counts(site_id)``, inside the app's context). Screens see
    the same final counts; a burst (a kiosk queue at opening, fifty desks
    calling) costs a few counts per second instead of one per ticket, for the
    server and for every screen listening.
    """

    def __init__(self, app=None, interval: float = 0.0, read_counts=None):
        self.app = app
        self.interval = interval
        self.read_counts = read_counts
        self._lock = threading.Lock()
        self._last: dict[int, float] = {}    # site id -> monotonic time of the last send
        self._pending: set[int] = set()      # sites with a send scheduled

    def emit(self, event: str, payload, room: str | list[str]) -> None:
        """Emit one event to a room or rooms (each socket once)."""
        socketio.emit(event, payload, to=room)

    def config_changed(self, site: dict, what: str) -> None:
        """Make every server process read the configuration again, then tell the site's screens.

        Both leave in one batch, in this order: a process has forgotten its copy
        of sites, services and desks before its screens hear of the change.
        """
        if self.app is not None:
            cluster.current_cluster(self.app).control(cluster.FORGET_CONFIG)
        super().config_changed(site, what)

    def queue_changed(self, site_id: int, services) -> None:
        """Announce a site's waiting counts now, or once at the end of the current interval."""
        if self.interval <= 0 or self.app is None or self.read_counts is None:
            return super().queue_changed(site_id, services)
        with self._lock:
            if site_id in self._pending:
                return None  # the scheduled send will read these counts
            wait = self._last.get(site_id, float("-inf")) + self.interval - time.monotonic()
            if wait > 0:
                self._pending.add(site_id)
            else:
                self._last[site_id] = time.monotonic()
        if wait > 0:
            socketio.start_background_task(self._send_later, site_id, wait)
            return None
        return super().queue_changed(site_id, services)

    def _send_later(self, site_id: int, wait: float) -> None:
        """Send a site's counts, read with a connection of their own, after ``wait`` seconds."""
        socketio.sleep(wait)
        with self._lock:
            # Cleared before reading: a change committed from here on schedules another send.
            self._pending.discard(site_id)
            self._last[site_id] = time.monotonic()
        try:
            with self.app.app_context():
                services = self.read_counts(site_id)
                if services is not None:
                    super().queue_changed(site_id, services)
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

    Everything that announces goes through one of these: a change made inside
    a larger unit of work (the kiosk's ticket with its print job and request
    id, a chosen call with its audit entry) is announced only when the whole
    unit commits, and never when it rolls back.
    """

    def __init__(self, db, announcer):
        self.db = db
        self.announcer = announcer

    def __getattr__(self, name):
        value = getattr(self.announcer, name)
        if name.startswith("_") or not callable(value):
            return value

        def after_commit(*args, **kwargs):
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


def current_announcer(app=None) -> NullAnnouncer:
    """Return the app's announcer (this request's app unless given); a NullAnnouncer without sockets."""
    return (app or current_app).extensions.get(ANNOUNCER) or NullAnnouncer()


def announcer_for(db, app=None) -> AfterCommit:
    """Return the app's announcer bound to a connection: it speaks after that connection commits."""
    return AfterCommit(db, current_announcer(app))
