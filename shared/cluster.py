"""Several server processes, one truth: what they share through Redis.

The embedded default is one process: everything here then stays in its
memory. With ``--message-queue redis://...`` (``SOCKETIO_MESSAGE_QUEUE``),
several processes (on one machine or several) behave as one server:

- **Events.** Every emit reaches the sockets of every process through
  python-socketio's Redis manager. ``BatchingRedisManager`` delivers to this
  process's sockets at once and publishes to the others off the request path:
  whatever a request (or several at once) emitted leaves in one publish.
- **Control messages** travel in the same batches: drop the sockets of a
  revoked device or a disabled user wherever they are connected, forget a
  site's cached estimates or the principals of tokens everywhere.
- **Leases.** A background job that must run once (the wait alerts, printer
  status polling) runs on the one process holding its lease (a Redis lock that
  expires when its holder dies).
- **Presence.** Which kiosk printer agents are connected, to any process.
- **Health.** Whether the message queue answers (``/healthz`` says so). After
  an outage, each process drops its own sockets once the queue is back: every
  screen reconnects and re-reads its state, so none keeps what it missed.
"""

from __future__ import annotations

import logging
import threading
import uuid

import redis
import socketio as python_socketio
from flask import current_app

log = logging.getLogger(__name__)

CHANNEL = "turnos"
LEASE_PREFIX = "turnos:lease:"
PRESENCE_PREFIX = "turnos:presence:"
KEPT_PREFIX = "turnos:kept:"

# Control messages (method names of the batch items that are not python-socketio's own).
DISCONNECT_ROOM = "turnos:disconnect_room"
FORGET_ESTIMATES = "turnos:forget_estimates"
FORGET_CONFIG = "turnos:forget_config"
FORGET_PRINCIPALS = "turnos:forget_principals"

# Where the app keeps its Cluster (read through ``current_cluster``).
EXTENSION = "turnos.cluster"


def current_cluster(app=None) -> Cluster:
    """Return what the app shares with other processes (this request's app unless given)."""
    return (app or current_app).extensions[EXTENSION]


def disconnect_room(room: str) -> None:
    """Disconnect the sockets in a room, on every server process."""
    current_cluster().control(DISCONNECT_ROOM, room=room)


class BatchingRedisManager(python_socketio.RedisManager):
    """python-socketio's Redis manager, publishing each process's messages in batches.

    The parent publishes every emit synchronously inside the request (a round
    trip to Redis per event, and a yield); here ``_publish`` only queues the
    message, and one background task sends whatever accumulated as one batch.
    Local sockets still get each event at once (the parent handles it here
    first). ``_listen`` unpacks the batches for the parent's listener and runs
    the control messages.
    """

    def __init__(self, url: str, channel: str = CHANNEL, write_only: bool = False):
        super().__init__(url, channel=channel, write_only=write_only,
                         redis_options={"socket_timeout": 5, "socket_connect_timeout": 2,
                                        "health_check_interval": 10})
        self.controls: dict[str, callable] = {}
        self.published_ok = True
        self._outbox: list[dict] = []
        self._outbox_lock = threading.Lock()
        self._flush_scheduled = False

    # --- sending ----------------------------------------------------------------------

    def _publish(self, data):
        """Queue one message for the next batch (sent by a background task)."""
        with self._outbox_lock:
            self._outbox.append(data)
            if self._flush_scheduled:
                return
            self._flush_scheduled = True
        self.server.start_background_task(self._flush)

    def _flush(self) -> None:
        """Publish everything queued, as one message per round."""
        while True:
            with self._outbox_lock:
                batch, self._outbox = self._outbox, []
                if not batch:
                    self._flush_scheduled = False
                    return
            result = super()._publish({"method": "batch", "items": batch, "host_id": self.host_id})
            self.published_ok = result is not None

    def control(self, method: str, **payload) -> None:
        """Run a control message in this process now, and in every other one through Redis."""
        handler = self.controls.get(method)
        if handler is not None:
            handler(payload)
        self._publish({"method": method, "host_id": self.host_id, **payload})

    # --- receiving --------------------------------------------------------------------------

    def _listen(self):
        """Yield the messages of other processes one by one, running control messages here."""
        for raw in super()._listen():
            try:
                message = self.json.loads(raw)
            except (TypeError, ValueError):
                continue
            items = message.get("items", []) if message.get("method") == "batch" else [message]
            for item in items:
                if not isinstance(item, dict):
                    continue
                method = item.get("method")
                if method in self.controls:
                    if item.get("host_id") != self.host_id:
                        self._run_control(method, item)
                    continue
                yield item

    def _run_control(self, method: str, item: dict) -> None:
        """Run one control message from another process; a failure is logged, never raised."""
        try:
            self.controls[method](item)
        except Exception:
            log.exception("control message %s failed", method)


class Cluster:
    """What this process shares with the others: control messages, leases, presence, health.

    Without Redis (one process) leases are always held, presence lives in
    memory and control messages run here only.
    """

    def __init__(self, socketio, redis_url: str | None = None):
        self.socketio = socketio
        self.redis_url = redis_url
        self.host_id = uuid.uuid4().hex
        self.controls: dict[str, callable] = {}
        self._redis = None
        self._leases: dict[str, object] = {}
        self._presence: set[str] = set()
        self._presence_lock = threading.Lock()
        self.queue_up = True
        # What runs in this process when the message queue is back after an outage (what it
        # kept may be stale: the other processes' control messages of the outage were lost).
        self.after_outage: list[callable] = []

    @property
    def shared(self) -> bool:
        """Tell whether several processes share events (a message queue is set)."""
        return bool(self.redis_url)

    @property
    def hears_others(self) -> bool:
        """Tell whether the other processes' control messages reach this one (or there are none)."""
        return not self.shared or self.queue_up

    @property
    def redis(self):
        """Return a Redis client for leases, presence and health (short timeouts)."""
        if self._redis is None:
            self._redis = redis.Redis.from_url(self.redis_url, socket_timeout=2,
                                               socket_connect_timeout=2)
        return self._redis

    def manager(self) -> BatchingRedisManager | None:
        """Return the Socket.IO manager when several processes share events."""
        if not self.shared:
            return None
        server = getattr(self.socketio, "server", None)
        manager = getattr(server, "manager", None)
        return manager if isinstance(manager, BatchingRedisManager) else None

    # --- control messages ------------------------------------------------------------------

    def on(self, method: str, handler) -> None:
        """Register what a control message does in this process."""
        self.controls[method] = handler
        manager = self.manager()
        if manager is not None:
            manager.controls[method] = handler

    def control(self, method: str, **payload) -> None:
        """Run a control message here and in every other process."""
        manager = self.manager()
        if manager is not None:
            manager.control(method, **payload)
            return
        handler = self.controls.get(method)
        if handler is not None:
            handler(payload)

    # --- leases -------------------------------------------------------------------------

    def holds(self, name: str, ttl: float = 30.0) -> bool:
        """Tell whether this process holds (or just took) the lease of a once-only job.

        Call it at least every ``ttl / 2`` seconds while working: it renews the
        lease. A holder that dies loses it after ``ttl`` seconds.
        """
        if not self.shared:
            return True
        lock = self._leases.get(name)
        try:
            if lock is not None and lock.owned():
                lock.reacquire()
                return True
            lock = self.redis.lock(LEASE_PREFIX + name, timeout=ttl, blocking=False,
                                   thread_local=False)
            if lock.acquire(blocking=False):
                self._leases[name] = lock
                return True
        except redis.RedisError:
            log.warning("lease %s: the message queue does not answer", name)
        return False

    # --- presence -----------------------------------------------------------------------

    def mark_present(self, key: str, ttl: float = 60.0) -> None:
        """Note that something (a kiosk's printer agent) is connected to this process."""
        with self._presence_lock:
            self._presence.add(key)
        if self.shared:
            self._redis_call(self.redis.set, f"{PRESENCE_PREFIX}{key}:{self.host_id}", "1",
                             px=int(ttl * 1000))

    def mark_absent(self, key: str) -> None:
        """Note that it is no longer connected to this process."""
        with self._presence_lock:
            self._presence.discard(key)
        if self.shared:
            self._redis_call(self.redis.delete, f"{PRESENCE_PREFIX}{key}:{self.host_id}")

    def is_present(self, key: str) -> bool:
        """Tell whether it is connected to any process (a dead process's mark expires)."""
        with self._presence_lock:
            if key in self._presence:
                return True
        if not self.shared:
            return False
        found = self._redis_call(lambda: next(iter(self.redis.scan_iter(
            match=f"{PRESENCE_PREFIX}{key}:*", count=1000)), None))
        return found is not None

    def refresh_presence(self, ttl: float = 60.0) -> None:
        """Renew in Redis what this process holds present (call it well within ``ttl``)."""
        with self._presence_lock:
            keys = list(self._presence)
        for key in keys:
            self.mark_present(key, ttl)

    # --- the watchdog ---------------------------------------------------------------------

    def start_watchdog(self, interval: float = 2.0) -> None:
        """Watch the message queue (resync sockets after an outage) and renew presence marks."""
        if not self.shared:
            return

        def watch():
            rounds = 0
            while True:
                self.socketio.sleep(interval)
                try:
                    self.check_queue()
                    rounds += 1
                    if rounds % 10 == 0:
                        self.refresh_presence()
                except Exception:  # the watchdog must outlive any bad moment
                    log.exception("cluster watchdog")

        self.socketio.start_background_task(watch)

    # --- health ------------------------------------------------------------------------------

    def check_queue(self) -> bool:
        """Ask the message queue whether it answers; remember the answer."""
        if not self.shared:
            return True
        up = bool(self._redis_call(self.redis.ping))
        if up and not self.queue_up:
            log.warning("the message queue is back: dropping this process's sockets to resync them")
            for forget in self.after_outage:
                forget()
            self.drop_local_sockets()
        self.queue_up = up
        return up

    def drop_local_sockets(self) -> int:
        """Close every connection of this process; the clients reconnect and re-read their state.

        The connection is cut as a network failure would cut it (no goodbye):
        browsers and printer agents take that as a lost connection and reconnect
        by themselves, where a Socket.IO "server disconnect" (or Engine.IO's
        close) would tell python-socketio clients such as the agent to stay away.
        """
        server = getattr(self.socketio, "server", None)
        if server is None:
            return 0
        connections = {eio_sid for _, eio_sid in server.manager.get_participants("/", None)}
        for eio_sid in connections:
            connection = server.eio.sockets.get(eio_sid)
            if connection is not None:
                connection.close(wait=False, abort=True)
        return len(connections)

    # --- copies every process reads (the public wait times) ------------------------------------

    def keep(self, key: str, value: bytes, ttl: float) -> None:
        """Keep a value for every process for ``ttl`` seconds (nothing without Redis)."""
        if self.shared:
            self._redis_call(self.redis.set, KEPT_PREFIX + key, value, px=max(1, int(ttl * 1000)))

    def kept(self, key: str) -> bytes | None:
        """Return a value kept for every process, or None (absent, expired, Redis unreachable)."""
        return self._redis_call(self.redis.get, KEPT_PREFIX + key) if self.shared else None

    def drop_kept(self, prefix: str = "") -> None:
        """Drop the kept values whose key starts with ``prefix`` (a setting changed)."""
        if self.shared:
            self._redis_call(lambda: [self.redis.delete(k) for k in
                                      self.redis.scan_iter(KEPT_PREFIX + prefix + "*")])

    def _redis_call(self, fn, *args, **kwargs):
        """Call Redis; on failure log it and return None."""
        try:
            return fn(*args, **kwargs)
        except redis.RedisError:
            log.warning("the message queue does not answer", exc_info=True)
            return None


def disconnect_room_here(socketio, room: str) -> int:
    """Disconnect this process's sockets in a room; return how many."""
    server = getattr(socketio, "server", None)
    if server is None:
        return 0
    sids = [sid for sid, _ in server.manager.get_participants("/", room)]
    for sid in sids:
        server.disconnect(sid, namespace="/", ignore_queue=True)
    return len(sids)
