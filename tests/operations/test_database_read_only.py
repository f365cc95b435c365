"""A PostgreSQL database that still reads but takes no writes.

It happens after a failover that left Turnos pointed at a standby, or while a DBA
holds the database read-only for maintenance (``default_transaction_read_only``).
A kiosk must hear that nothing was changed and to tell the administrator, not "an
unexpected error"; screens and reports keep reading; ``/healthz`` says the
database refuses writes (a health check that only reads would say all is well),
until it takes them again. (The embedded database's full disk is the same story:
``tests/operations/test_disk_full.py``.)
"""

import time

import pytest

pytestmark = pytest.mark.engines("postgresql")

WAIT = 20

NEW_TICKET = {"site": "cam-centro", "service": "A"}


def _read_only(postgres_server, name: str, on: bool) -> None:
    """Set the database read-only (or back), and end its sessions so new ones take the setting.

    Returns once the ended sessions are gone: until then a pooled connection may not yet
    have heard that it was ended, and its next query fails as a cut connection does.
    """
    with postgres_server.admin() as conn:
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = '
                     f'{"on" if on else "off"}')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                     [name])
        deadline = time.monotonic() + WAIT
        while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s",
                           [name]).fetchone()[0]:
            assert time.monotonic() < deadline, "the ended sessions never went away"


def test_a_read_only_database_refuses_tickets_calmly_and_health_says_so_until_it_writes_again(
        live_server, database, postgres_server, demo_logins):
    import requests

    token = live_server.token(*demo_logins["admin"])
    first = live_server.call(token, "POST", "/api/v1/tickets", NEW_TICKET)
    assert first.status_code == 201 and first.json()["code"] == "A-001"
    name = database.rsplit("/", 1)[1]

    _read_only(postgres_server, name, True)
    try:
        # Health says so before any write was refused (PostgreSQL tells a read-only session).
        health = requests.get(live_server.url + "/healthz", timeout=10)
        assert health.status_code == 503
        assert health.json()["database"] == "refuses_writes"
        refused = live_server.call(token, "POST", "/api/v1/tickets", NEW_TICKET)
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "database_unavailable"
        assert "no se cambió nada" in refused.json()["message"]
        # Reading goes on: the screens and the queue still show what is there.
        queue = live_server.call(token, "GET", "/api/v1/sites/cam-centro/queue")
        assert queue.status_code == 200
        assert [t["code"] for t in queue.json()["waiting"]] == [first.json()["code"]]
        health = requests.get(live_server.url + "/healthz", timeout=10)
        assert health.status_code == 503
        assert health.json()["database"] == "refuses_writes"
    finally:
        _read_only(postgres_server, name, False)

    health = requests.get(live_server.url + "/healthz", timeout=10)
    assert health.status_code == 200 and health.json()["database"] == "ok"
    second = live_server.call(token, "POST", "/api/v1/tickets", NEW_TICKET)
    assert second.status_code == 201 and second.json()["code"] == "A-002"  # the refusal took no number
