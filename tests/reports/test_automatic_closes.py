"""Tickets the end-of-day job closes are not service: counted apart, left out of the times.

Before: a ticket forgotten in service until a 23:00 close added hours of "service" (in a
simulated day the service mean went from 360 s to 2,670 s and occupancy to 98.9 %), and a
ticket left "called" became an ordinary no-show; the ``automatic`` flag lived only in the event
log, so reports and exports could not tell them apart.
"""

from shared.queue import Actor
from tests.reports.known_day import DAY, at

Q = {"site": "cam-centro", "from": DAY, "to": DAY}


def test_a_ticket_forgotten_in_service_until_the_23_00_close_is_not_service(room, clock, report,
                                                                            api):
    from shared import desks
    from tests.reports.conftest import user_id

    site = room.site("cam-centro")
    desk = room.desk("1", site)
    ana = Actor(user_id=user_id(room, "ana"))
    desks.open_session(room, desk, ana.user_id)
    served = room.issue("cam-centro", "A")
    forgotten = room.issue("cam-centro", "A")
    left_called = room.issue("cam-centro", "B")
    room.call_next(desk, ana)
    at(clock, "08:01:00")
    room.start(served["id"], ana)
    at(clock, "08:07:00")
    room.finish(served["id"], ana)                 # six minutes of real service
    room.call_next(desk, ana)
    at(clock, "08:08:00")
    room.start(forgotten["id"], ana)               # ... and nobody ever finishes this one
    room.call_ticket(left_called["id"], room.desk("2", site), ana)  # called, never came back to
    at(clock, "23:00:00")
    room.close_day(site, DAY)
    totals = report(**Q)["totals"]
    assert totals["served"] == 1 and totals["automatic_finished"] == 1
    assert totals["no_shows"] == 0 and totals["automatic_no_shows"] == 1
    assert totals["service_mean"] == 360.0          # not (360 + 53,520) / 2
    assert totals["walk_mean"] == 60.0              # the forgotten ticket's walk is left out too
    assert totals["centre_mean"] == 420.0
    # Desk 1 was logged in 08:00-23:00 and served six minutes: the forgotten hours are not serving.
    desk1 = next(r for r in report(**Q, group_by="desk")["rows"] if r["key"] == "cam-centro:1")
    assert desk1["serving_seconds"] == 360.0
    assert desk1["occupancy"] == round(360 / (15 * 3600), 6)
    # The export says which closes were automatic.
    text = api.call("supervisor", "GET", f"/reports/export/tickets.csv?site=cam-centro&from={DAY}"
                                         f"&to={DAY}").get_data().decode("utf-8-sig")
    rows = [line.split(";") for line in text.splitlines()]
    flag = rows[0].index("Cierre automático")
    by_code = {r[3]: r for r in rows[1:]}
    assert by_code[forgotten["code"]][flag] == "Sí" and by_code[served["code"]][flag] == "No"
    assert by_code[left_called["code"]][flag] == "Sí"
