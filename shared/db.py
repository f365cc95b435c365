"""SQLite connections: one per request (or thread), with WAL and a busy timeout."""

import contextlib
import sqlite3
import threading
from pathlib import Path

from flask import current_app, g
from sqlite_utils import Database


def connect(path: str | Path) -> Database:
    """Open a database file with the settings every Turnos connection uses."""
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
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

    def __init__(self, path: str, size: int = 16):
        self.path = path
        self.size = size
        self._idle: list[Database] = []
        self._lock = threading.Lock()

    def acquire(self) -> Database:
        """Return an idle connection, or a new one."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return connect(self.path)

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
