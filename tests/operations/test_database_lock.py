"""A PostgreSQL lock held by someone else while Turnos serves (a migration, a DBA's maintenance).

A desk's call waits for the tickets the other session locked; the rest of the process
goes on answering meanwhile (health, other requests), and the call completes as soon as
the lock is released. A write transaction waits for the server without yielding only while
the server answers promptly (see ``shared/dialect.py``): a lock held elsewhere must not
freeze every screen, kiosk and desk of the process. A read outside any transaction waits
cooperatively from the start, with the same result.
"""

import threading
import time

import psycopg
import pytest
import requests

pytestmark = pytest.mark.engines("postgresql")

WAIT = 20


def _waiting_for_a_lock(url: str) -> bool:
    """Tell whether a session of the story's database waits for a lock right now."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                            "WHERE NOT l.granted AND d.datname = %s", [name]).fetchone()[0] > 0


def _answer_while_locked(database: str, request, meanwhile):
    """Send ``request`` while another session holds the tickets' table locked; return its answer.

    ``meanwhile`` runs once the request waits for that lock (and before the lock is
    released); the answer must not have come by then.
    """
    maintenance = psycopg.connect(database)  # a transaction left open: the lock stays held
    maintenance.execute("LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE")  # even reads wait for it
    answer = {}
    waiting = threading.Thread(target=lambda: answer.setdefault("reply", request()))
    try:
        waiting.start()
        deadline = time.monotonic() + WAIT
        while not _waiting_for_a_lock(database):
            assert time.monotonic() < deadline, "the request never reached the lock"
        meanwhile()
        assert "reply" not in answer, "the request went through a lock it should have waited for"
    finally:
        maintenance.rollback()
        maintenance.close()
    waiting.join(WAIT)
    return answer["reply"]


def _healthy(live_server) -> None:
    """Check that the process answers its health check, its database included."""
    health = requests.get(live_server.url + "/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["database"] == "ok"


def test_a_call_waiting_for_a_lock_held_elsewhere_does_not_stop_the_process(
        live_server, database, demo_logins):
    admin = live_server.token(*demo_logins["admin"])
    official = live_server.token(*demo_logins["official"])
    issued = live_server.call(admin, "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"})
    assert issued.status_code == 201
    assert live_server.call(official, "POST", "/api/v1/desks/cam-centro:1/session", {}).status_code == 201

    def meanwhile():  # the call waits; the process answers others
        _healthy(live_server)
        assert live_server.call(official, "GET", "/api/v1/me").status_code == 200

    called = _answer_while_locked(
        database, lambda: live_server.call(official, "POST", "/api/v1/desks/cam-centro:1/next"),
        meanwhile)
    assert called.status_code == 200
    assert called.json()["code"] == issued.json()["code"]


def test_a_read_waiting_for_a_lock_held_elsewhere_lets_the_process_answer_others(
        live_server, database, demo_logins):
    """A read outside any transaction waits cooperatively: the process answers others meanwhile."""
    admin = live_server.token(*demo_logins["admin"])
    issued = live_server.call(admin, "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"})
    assert issued.status_code == 201

    def meanwhile():  # the waiting read holds one connection; the others keep working
        for _ in range(3):
            _healthy(live_server)

    read = _answer_while_locked(
        database, lambda: live_server.call(admin, "GET", f"/api/v1/tickets/{issued.json()['id']}"),
        meanwhile)
    assert read.status_code == 200
    assert read.json()["code"] == issued.json()["code"]
