"""A PostgreSQL database that goes away while Turnos serves, and comes back.

The database is taken away as a restart or a network cut does it, but for this story's
database only (the test server is shared): every open session of it is ended and new
ones are refused. While it is away, ``/healthz`` says so, a kiosk hears in Spanish that
nothing was changed and what to do, and the ticket issued before is still there after.
Once the database answers again, the service answers again, every request of it, with
nobody restarting anything. (A SQLite file does not go away this way: its outage is a
lock, told apart in ``tests/core/test_sqlite_write_lock.py``.)
"""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.engines("postgresql")

WAIT = 20


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _take_away(postgres_server, name: str) -> None:
    """End every session of one database and refuse new ones."""
    with postgres_server.admin() as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                     [name])


def _bring_back(postgres_server, name: str) -> None:
    with postgres_server.admin() as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')


def _until_it_answers(url: str) -> None:
    """Wait until the database accepts a new session again."""
    import psycopg

    deadline = time.monotonic() + WAIT
    while True:
        try:
            psycopg.connect(url, connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            assert time.monotonic() < deadline, "the database never came back"


def _at_once(live_server, token: str, path: str, count: int = 12) -> list[int]:
    """Send ``count`` reads at once (each holds a pooled connection); return their statuses."""
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _n: live_server.call(token, "GET", path).status_code,
                             range(count)))


def _health(live_server):
    import requests

    return requests.get(live_server.url + "/healthz", timeout=WAIT)


def test_while_postgresql_is_away_health_and_kiosks_say_so_and_every_request_answers_once_back(
        live_server, database, postgres_server, demo_logins):
    token = live_server.token(*demo_logins["admin"])
    before = live_server.call(token, "POST", "/api/v1/tickets",
                              {"site": "cam-centro", "service": "A"})
    assert before.status_code == 201 and before.json()["code"] == "A-001"
    ticket = f"/api/v1/tickets/{before.json()['id']}"
    # Requests at once leave several connections in the pool, as a busy hour does.
    assert _at_once(live_server, token, ticket) == [200] * 12

    name = _database_name(database)
    _take_away(postgres_server, name)
    try:
        health = _health(live_server)
        assert health.status_code == 503
        assert health.json()["database"] == "down"
        refused = live_server.call(token, "POST", "/api/v1/tickets",
                                   {"site": "cam-centro", "service": "A"})
        assert refused.status_code == 503
        assert refused.json()["error"] == "database_unavailable"
        assert "no se cambió nada" in refused.json()["message"]
    finally:
        _bring_back(postgres_server, name)

    _until_it_answers(database)
    # The outage broke every connection the pool held; none of them reaches a user.
    statuses = _at_once(live_server, token, ticket)
    assert statuses == [200] * 12, statuses
    assert _health(live_server).json() == {"ok": True, "database": "ok", "queue": "off"}
    after = live_server.call(token, "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"})
    assert after.status_code == 201
    assert after.json()["code"] == "A-002"  # the one refused took no number: nothing was changed
