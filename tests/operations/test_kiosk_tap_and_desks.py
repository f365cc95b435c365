"""A kiosk's tap that is held up does not hold up the desks of its site.

The kiosk page remembers each tap's request id, so that two taps with one id
give one ticket. On PostgreSQL it used to serialize that check with its site's
lock, the lock every desk's call takes, for the whole issue (the wait estimate's
dozen reads included): a desk's call waited for every kiosk tap at its site.
Only taps of the same kiosk can share a request id, so the kiosk's own lock does.
"""

import threading
import time

import psycopg
import pytest

from tests.conftest import sessions_waiting

pytestmark = pytest.mark.engines("postgresql")

WAIT = 20


def test_a_desk_calls_while_a_kiosk_tap_at_its_site_is_held_up(live_server, database, demo_logins):
    admin = live_server.token(*demo_logins["admin"])
    waiting = live_server.call(admin, "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"})
    assert waiting.status_code == 201
    device = live_server.call(admin, "POST", "/api/v1/devices",
                              {"site": "cam-centro", "kind": "kiosk", "name": "Kiosco entrada"})
    assert device.status_code == 201
    kiosk = device.json()["token"]
    answers = {}

    def tap() -> None:
        answers["tap"] = live_server.call(kiosk, "POST", "/kiosk/api/tickets",
                                          {"service": "A", "request_id": "tap-held-0001"})

    # Another session (a DBA's maintenance, a long report's transaction) holds the row of
    # service A's ticket numbers: the tap waits there, in the middle of its issue.
    holder = psycopg.connect(database)
    holder.execute("SELECT * FROM day_counters d JOIN services s ON s.id = d.service_id "
                   "WHERE s.code = 'A' FOR UPDATE OF d")
    tapping = threading.Thread(target=tap)
    try:
        tapping.start()
        deadline = time.monotonic() + WAIT
        while sessions_waiting(database, wait_event_type="Lock", wait_event="transactionid") < 1:
            assert time.monotonic() < deadline, "the tap never reached the ticket numbers"
        called = live_server.call(admin, "POST", "/api/v1/desks/cam-centro:1/next")
        assert called.status_code == 200, called.text
        assert called.json()["code"] == waiting.json()["code"]
        assert "tap" not in answers  # the tap is still held up: the desk did not wait for it
    finally:
        holder.rollback()
        holder.close()
        tapping.join(WAIT)
    assert answers["tap"].status_code == 201, answers["tap"].text
    assert answers["tap"].json()["code"] == "A-002"
    again = live_server.call(kiosk, "POST", "/kiosk/api/tickets",
                             {"service": "A", "request_id": "tap-held-0001"})
    assert again.status_code == 200 and again.json()["id"] == answers["tap"].json()["id"]
