"""The server copies its write-ahead log into the database file off the request path."""

import sqlite3
import threading

import pytest

from shared.db import SAFETY_AUTOCHECKPOINT, get_db, start_checkpointer

pytestmark = pytest.mark.engines("sqlite")  # the write-ahead log is SQLite's


def test_tickets_reach_the_database_file_through_the_background_checkpointer(app, api):
    copied_all = threading.Event()
    full_copies = []

    def listener(result):
        busy, pages, copied = result
        if pages > 0 and copied == pages:
            full_copies.append(result)
            # The run under way when the test cleared the list may have read the
            # log before the last ticket; the one after it cannot have.
            if len(full_copies) >= 2:
                copied_all.set()

    app.config["WAL_CHECKPOINT_SECONDS"] = 0.05
    checkpointer = start_checkpointer(app, listener)
    try:
        with app.app_context():
            # Requests no longer checkpoint in their commit (only past a safety margin).
            assert get_db().execute("PRAGMA wal_autocheckpoint").fetchone()[0] \
                == SAFETY_AUTOCHECKPOINT
        issued = [api.issue("A")["code"] for _ in range(30)]
        full_copies.clear()
        copied_all.clear()
        assert copied_all.wait(10), f"no checkpoint copied the log: last {checkpointer.last}"
    finally:
        checkpointer.stop()
    # Read the database file alone, ignoring the log: the tickets are in it.
    uri = "file:" + app.config["DATABASE"] + "?immutable=1"
    with sqlite3.connect(uri, uri=True) as conn:
        codes = [r[0] for r in conn.execute("SELECT code FROM tickets ORDER BY id")]
    conn.close()
    assert codes == issued


def test_without_an_interval_sqlite_keeps_checkpointing_by_itself(app):
    app.config["WAL_CHECKPOINT_SECONDS"] = 0
    assert start_checkpointer(app) is None
    with app.app_context():
        assert get_db().execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
