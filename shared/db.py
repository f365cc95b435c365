"""SQLite connections: one per request (or thread), with WAL and a busy timeout."""

import contextlib
import logging
import sqlite3
import threading
from pathlib import Path

from flask import current_app, g
from sqlite_utils import Database


log = logging.getLogger(__name__)

# With a background checkpointer, a connection still checkpoints by itself once
# the WAL holds this many pages (about 80 MB): a safety net, never the routine.
SAFETY_AUTOCHECKPOINT = 20_000


def connect(path: str | Path, autocheckpoint: int | None = None) -> Database:
    """Open a database file with the settings every Turnos connection uses."""
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    if autocheckpoint is not None:
        conn.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
    db = Database(conn, execute_plugins=False)
    db.path = str(path)
    return db


@contextlib.contextmanager
def immediate(db: Database):
    """Run a block in a write transaction taken at once (BEGIN IMMEDIATE).

    A deferred transaction that reads then writes fails with "database is
    locked" under contention in WAL mode; taking the write lock first makes
    concurrent writers queue on the busy timeout instead.
    """
    conn = db.conn
    if conn.in_transaction:
        yield db
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    else:
        conn.execute("COMMIT")


class Pool:
    """Keeps a few open connections to one database file for reuse across requests.

    Closing the last connection to a WAL database checkpoints and removes the
    WAL file, which costs milliseconds; reusing connections keeps requests fast.
    """

    def __init__(self, path: str, size: int = 16, autocheckpoint: int | None = None):
        self.path = path
        self.size = size
        self.autocheckpoint = autocheckpoint
        self._idle: list[Database] = []
        self._lock = threading.Lock()

    def acquire(self) -> Database:
        """Return an idle connection, or a new one."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return connect(self.path, self.autocheckpoint)

    def release(self, db: Database) -> None:
        """Return a connection for reuse (rolling back anything left open), or close it."""
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(db)
                return
        db.conn.close()

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for db in idle:
            db.conn.close()


class Checkpointer:
    """Copies the WAL into the database file from a native thread, off the request path.

    By default SQLite checkpoints inside the commit that crosses 1,000 WAL
    pages: that request copies about 4 MB and waits for two fsyncs, and under
    gevent the whole server waits with it (measured: a quarter of the issuing
    throughput). Here request connections leave checkpoints to this thread,
    which runs a PASSIVE checkpoint every ``interval`` seconds: it never blocks
    readers or writers, and the copying runs on another core, since sqlite3
    releases the GIL.
    """

    def __init__(self, path: str, interval: float = 1.0, listener=None):
        self.path = path
        self.interval = interval
        self.listener = listener  # called with each result (tests wait on it)
        self.last: tuple[int, int, int] | None = None
        self._stop = False

    def run_once(self, conn: sqlite3.Connection) -> tuple[int, int, int]:
        """Checkpoint what no reader still needs; return (busy, wal pages, pages copied)."""
        self.last = tuple(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
        if self.listener is not None:
            self.listener(self.last)
        return self.last

    def start(self) -> "Checkpointer":
        """Start the native thread (a real OS thread even when gevent patched threading)."""
        start_thread, sleep = _native_thread_tools()
        self._sleep = sleep
        start_thread(self._loop, ())
        return self

    def stop(self) -> None:
        """Ask the thread to end after its current pause."""
        self._stop = True

    def _loop(self) -> None:
        conn = connect(self.path).conn
        try:
            while not self._stop:
                self._sleep(self.interval)
                try:
                    self.run_once(conn)
                except sqlite3.Error:  # busy or locked for a moment: the next round copies it
                    log.warning("WAL checkpoint of %s failed; retrying", self.path, exc_info=True)
        finally:
            conn.close()


def _native_thread_tools():
    """Return (start_new_thread, sleep) of the standard library, unpatched by gevent."""
    import _thread
    import time

    try:
        from gevent import monkey
    except ImportError:
        return _thread.start_new_thread, time.sleep
    return (monkey.get_original("_thread", "start_new_thread"),
            monkey.get_original("time", "sleep"))


def start_checkpointer(app, listener=None) -> Checkpointer | None:
    """Move this app's WAL checkpoints to a background thread (``serve`` does this)."""
    interval = app.config.get("WAL_CHECKPOINT_SECONDS") or 0
    if interval <= 0:
        return None
    pool = app.extensions["turnos.pool"]
    pool.close()
    pool.autocheckpoint = SAFETY_AUTOCHECKPOINT
    checkpointer = Checkpointer(app.config["DATABASE"], interval, listener).start()
    app.extensions["turnos.checkpointer"] = checkpointer
    return checkpointer


def get_db() -> Database:
    """Return this request's connection, taking one from the pool on first use."""
    if "db" not in g:
        g.db = current_app.extensions["turnos.pool"].acquire()
    return g.db


def close_db(_exc=None) -> None:
    """Give this request's connection back to the pool."""
    db = g.pop("db", None)
    if db is not None:
        current_app.extensions["turnos.pool"].release(db)


def init_app(app) -> None:
    """Register connection teardown and bring the schema up to date."""
    app.teardown_appcontext(close_db)
    app.extensions["turnos.pool"] = Pool(app.config["DATABASE"])
    from . import migrations

    db = connect(app.config["DATABASE"])
    try:
        migrations.apply(db)
    finally:
        db.conn.close()
