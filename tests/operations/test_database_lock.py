"""A PostgreSQL lock held by someone else while Turnos serves (a migration, a DBA's maintenance).

A desk's call waits for the tickets the other session locked; the rest of the process
goes on answering meanwhile (health, other requests), and the call completes as soon as
the lock is released. A write transaction waits for the server without yielding only while
the server answers promptly (see ``shared/dialect.py``): a lock held elsewhere must not
freeze every screen, kiosk and desk of the process.
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


def test_a_call_waiting_for_a_lock_held_elsewhere_does_not_stop_the_process(
        live_server, database, demo_logins):
    admin = live_server.token(*demo_logins["admin"])
    official = live_server.token(*demo_logins["official"])
    issued = live_server.call(admin, "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"})
    assert issued.status_code == 201
    assert live_server.call(official, "POST", "/api/v1/desks/cam-centro:1/session", {}).status_code == 201

    maintenance = psycopg.connect(database)  # a transaction left open: the lock stays held
    maintenance.execute("LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE")
    answer = {}

    def call_next():
        answer["next"] = live_server.call(official, "POST", "/api/v1/desks/cam-centro:1/next")

    desk = threading.Thread(target=call_next)
    try:
        desk.start()
        deadline = time.monotonic() + WAIT
        while not _waiting_for_a_lock(database):
            assert time.monotonic() < deadline, "the desk's call never reached the lock"
        # The call waits; the process answers others meanwhile.
        health = requests.get(live_server.url + "/healthz", timeout=5)
        assert health.status_code == 200 and health.json()["database"] == "ok"
        me = live_server.call(official, "GET", "/api/v1/me")
        assert me.status_code == 200
        assert "next" not in answer, "the call went through a lock it should have waited for"
    finally:
        maintenance.rollback()
        maintenance.close()
    desk.join(WAIT)
    assert answer["next"].status_code == 200
    assert answer["next"].json()["code"] == issued.json()["code"]


def test_a_read_waiting_for_a_lock_held_elsewhere_lets_the_process_answer_others(
        live_server, database, demo_logins):
    """A read outside any transaction waits on gevent's loop: the process answers others meanwhile."""
    admin = live_server.token(*demo_logins["admin"])
    issued = live_server.call(admin, "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"})
    assert issued.status_code == 201
    ticket_id = issued.json()["id"]

    maintenance = psycopg.connect(database)  # even reads of the table wait for this lock
    maintenance.execute("LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE")
    answer = {}

    def read_ticket():
        answer["ticket"] = live_server.call(admin, "GET", f"/api/v1/tickets/{ticket_id}")

    reader = threading.Thread(target=read_ticket)
    try:
        reader.start()
        deadline = time.monotonic() + WAIT
        while not _waiting_for_a_lock(database):
            assert time.monotonic() < deadline, "the read never reached the lock"
        for _ in range(3):  # the waiting read holds one connection; others keep working
            health = requests.get(live_server.url + "/healthz", timeout=5)
            assert health.status_code == 200 and health.json()["database"] == "ok"
        assert "ticket" not in answer, "the read went through a lock it should have waited for"
    finally:
        maintenance.rollback()
        maintenance.close()
    reader.join(WAIT)
    assert answer["ticket"].status_code == 200
    assert answer["ticket"].json()["code"] == issued.json()["code"]
