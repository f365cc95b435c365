"""SQLite connections: one per request (or thread), with WAL and a busy timeout."""

import contextlib
import sqlite3
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
    return Database(conn, execute_plugins=False)


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


def get_db() -> Database:
    """Return this request's connection, opening it on first use."""
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE"])
    return g.db


def close_db(_exc=None) -> None:
    """Close this request's connection if one was opened."""
    db = g.pop("db", None)
    if db is not None:
        db.conn.close()


def init_app(app) -> None:
    """Register connection teardown and bring the schema up to date."""
    app.teardown_appcontext(close_db)
    from . import migrations

    db = connect(app.config["DATABASE"])
    try:
        migrations.apply(db)
    finally:
        db.conn.close()
