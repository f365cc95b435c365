"""Two desks of one server process call while their site's lock is held elsewhere.

On PostgreSQL a site's queue changes take an advisory lock. A request that reads
inside its transaction waits for it blocking its whole process for up to 50 ms
(then cooperatively), so if the holder were another request of the same process,
that holder could not run to release it: with two processes and fifty desks each
new claim froze its process behind a holder that then waited for its turn, and
calls fell from 240 to 35 a second (``bench/scale_calling.py --rows 5``, one run
in five). The requests of one process therefore take turns for a site's lock
among themselves, cooperatively: at most one of them waits for it at the server.

A claim under the strict and aging rules reads nothing inside its transaction:
the lock, the claim and its event travel with the COMMIT, whose answer every
request awaits cooperatively, so both desks wait at the server and the process
keeps serving. Under the ratio rule a claim reads its ticket before the COMMIT
(the rule's streak depends on it): there the turns matter.
"""

import threading
import time

import psycopg
import pytest

from shared.dialect import LOCK_NAMESPACE_SITE

pytestmark = pytest.mark.engines("postgresql")

WAIT = 20


def waiting_for_the_site_lock(url: str) -> int:
    """Count the sessions waiting at the server for a site's lock (its ungranted requests).

    Read from ``pg_locks``, not from ``pg_stat_activity``'s wait event, which a
    waiting session clears for an instant each time it runs its deadlock check.
    """
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE d.datname = current_database() AND l.locktype = 'advisory' AND NOT l.granted "
            "AND l.classid = %s", [LOCK_NAMESPACE_SITE]).fetchone()[0]


def race_two_desks(live_server, database, token, while_held) -> None:
    """Have desks 1 and 2 call while another session holds the site's lock; check both calls."""
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
        while waiting_for_the_site_lock(database) < 1:
            assert time.monotonic() < deadline, "desk 1's call never reached the site's lock"
        desks[1].start()
        while_held()
        assert live_server.call(token, "GET", "/healthz").status_code == 200  # the process answers
        assert not answers  # neither desk was answered while the lock was held
    finally:
        holder.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE_SITE, site_id])
        holder.close()
        for desk in desks:
            desk.join(WAIT)
    assert [answers[d].status_code for d in ("1", "2")] == [200, 200]
    assert sorted(answers[d].json()["code"] for d in ("1", "2")) == sorted(issued)


def test_on_a_ratio_site_one_process_s_desks_take_turns_for_its_lock(live_server, database,
                                                                      demo_logins):
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("""UPDATE sites SET policy = 'ratio', policy_params = '{"n": 2}' """
                     "WHERE code = 'cam-centro'")
    live_server.stop()
    live_server.start()  # reads the site's new rule
    token = live_server.token(*demo_logins["admin"])

    def one_waits_at_the_server():
        # Desk 2's call waits for its turn inside the process, not at the server: were it
        # waiting at the server too, the count would be 2 within milliseconds.
        watch = time.monotonic() + 1.0
        while time.monotonic() < watch:
            assert waiting_for_the_site_lock(database) == 1

    race_two_desks(live_server, database, token, one_waits_at_the_server)


def test_a_claim_waits_for_its_site_s_lock_without_holding_up_its_process(live_server, database,
                                                                          demo_logins):
    token = live_server.token(*demo_logins["admin"])

    def both_wait_at_the_server():
        deadline = time.monotonic() + WAIT
        while waiting_for_the_site_lock(database) < 2:
            assert time.monotonic() < deadline, "desk 2's call never reached the site's lock"

    race_two_desks(live_server, database, token, both_wait_at_the_server)
