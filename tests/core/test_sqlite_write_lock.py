"""A SQLite write lock held by another process (a long close-day, a purge) never freezes the server.

Several processes may share one SQLite file on one machine. While one holds
the write lock, a request of another that wants to write waits for it; under
gevent that wait must let the process's other requests go on (SQLite's own
busy handler would sleep inside C and stop every request of the process).
"""

import sqlite3
import threading

import pytest
import requests

pytestmark = pytest.mark.engines("sqlite")


def test_while_another_process_holds_the_write_lock_the_server_keeps_answering(live_server):
    token = live_server.token("admin", "admin-demo-2026")
    holder = sqlite3.connect(live_server.database, isolation_level=None, timeout=30)
    holder.execute("BEGIN IMMEDIATE")  # what a close-day or a retention purge holds for a while
    answers: dict = {}
    try:
        writer = threading.Thread(target=lambda: answers.update(issued=live_server.call(
            token, "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"})))
        writer.start()
        # The issue waits for the lock; the server goes on answering everything else.
        for _ in range(20):
            r = requests.get(live_server.url + "/healthz", timeout=5)
            assert r.status_code == 200
            assert live_server.call(token, "GET", "/api/v1/sites/cam-centro/queue").status_code == 200
        assert "issued" not in answers, "the ticket was written while another process held the lock"
    finally:
        holder.execute("COMMIT")
        holder.close()
    writer.join(30)
    assert answers["issued"].status_code == 201, answers["issued"].text
