"""Two desks of one server process call while their site's lock is held elsewhere.

On PostgreSQL a site's queue changes take an advisory lock. A request waiting for
it blocks its whole process for up to 50 ms (then waits cooperatively), so if
the holder were another request of the same process, that holder could not run
to release it: with two processes and fifty desks each new claim froze its
process behind a holder that then waited for its turn, and calls fell from 240
to 35 a second (``bench/scale_calling.py --rows 5``, one run in five). The
requests of one process therefore take turns for a site's lock among
themselves, cooperatively: at most one of them waits for it at the server.
"""

import threading
import time

import psycopg
import pytest

from shared.dialect import LOCK_NAMESPACE_SITE
from tests.conftest import sessions_waiting

pytestmark = pytest.mark.engines("postgresql")

WAIT = 20


def test_one_process_s_desks_take_turns_for_their_site_s_lock(live_server, database, demo_logins):
    token = live_server.token(*demo_logins["admin"])
    issued = [live_server.call(token, "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"})
              .json()["code"] for _ in range(2)]
    site_id = live_server.call(token, "GET", "/api/v1/sites/cam-centro").json()["id"]
    answers = {}

    def call(desk: str) -> None:
        answers[desk] = live_server.call(token, "POST", f"/api/v1/desks/cam-centro:{desk}/next")

    holder = psycopg.connect(database, autocommit=True)  # another process holds the site's lock
    holder.execute("SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE_SITE, site_id])
    desks = [threading.Thread(target=call, args=(desk,)) for desk in ("1", "2")]
    try:
        desks[0].start()
        deadline = time.monotonic() + WAIT
        while sessions_waiting(database, wait_event="advisory") < 1:
            assert time.monotonic() < deadline, "desk 1's call never reached the site's lock"
        desks[1].start()
        # Desk 2's call waits for its turn inside the process, not at the server: were it
        # waiting at the server too, the count would be 2 within milliseconds.
        watch = time.monotonic() + 1.0
        while time.monotonic() < watch:
            assert sessions_waiting(database, wait_event="advisory") == 1
        assert live_server.call(token, "GET", "/healthz").status_code == 200  # the process answers
    finally:
        holder.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE_SITE, site_id])
        holder.close()
        for desk in desks:
            desk.join(WAIT)
    assert [answers[d].status_code for d in ("1", "2")] == [200, 200]
    assert sorted(answers[d].json()["code"] for d in ("1", "2")) == sorted(issued)
