"""Who is next is decided in one place: what citizens, the monitor and the API are told is what happens.

Before: the estimate re-implemented the policies with its own defaults, and ``ahead``, the queue
positions of the API and the monitor counted strict order within one service; under ratio or
aging, or with desks shared between services, they disagreed with who was actually called.
"""

import json

import pytest

from shared import store
from shared.queue import Actor
from tests.reports.known_day import at

# Desk 1 serves A then B, desk 5 E, F then A, desk 6 F then E (the demo layout).
ARRIVALS = [("07:50", "A", None), ("07:51", "B", None), ("07:52", "E", "gestante"),
            ("07:53", "A", "adulto_mayor"), ("07:54", "F", None), ("07:55", "E", None),
            ("07:56", "B", "discapacidad"), ("07:57", "A", None), ("07:58", "F", "infancia"),
            ("07:59", "E", None), ("08:00", "A", "adulto_mayor"), ("08:00", "B", None)]
POLICIES = [("strict", {}), ("ratio", {"n": 2}), ("aging", {"preferential_weight": 2.5,
                                                             "grace_seconds": 90})]


def set_rule(engine, policy: str, params: dict, max_wait_minutes: int | None = None) -> dict:
    """Give CAM Centro a priority rule (and a maximum wait); return the site row."""
    engine.db.execute("UPDATE sites SET policy = ?, policy_params = ?, max_wait_seconds = ? "
                      "WHERE code = 'cam-centro'",
                      [policy, json.dumps(params), max_wait_minutes and max_wait_minutes * 60])
    return store.find_site(engine.db, "cam-centro")


def open_desks(engine, codes=("1", "5", "6")) -> dict:
    """Open some desks of CAM Centro, one official each; return desk rows by id with their actor."""
    from shared import desks
    from tests.reports.conftest import user_id

    site = engine.site("cam-centro")
    out = {}
    for code, who in zip(codes, ("ana", "beto", "carla")):
        desk = engine.desk(code, site)
        desks.open_session(engine, desk, user_id(engine, who))
        out[desk["id"]] = (desk, Actor(user_id=user_id(engine, who)))
    return out


def drive(engine, clock, desks: dict, predicted: list[dict]) -> list[int]:
    """Let each desk call when the prediction says it is free; return the tickets called, in order."""
    called = []
    for ticket in predicted:
        clock.set(ticket["predicted_at"])
        desk, actor = desks[ticket["predicted_desk_id"]]
        held = store.desk_open_ticket(engine.db, desk["id"])
        if held is not None:
            engine.start(held["id"], actor)
            engine.finish(held["id"], actor)
        got = engine.call_next(desk, actor)
        called.append(got["id"])
    return called


@pytest.mark.parametrize("policy, params", POLICIES)
def test_the_predicted_order_is_the_order_tickets_are_then_called(room, clock, api, policy,
                                                                  params):
    engine = room
    set_rule(engine, policy, params)
    issued = []
    for hhmm, service, category in ARRIVALS:
        at(clock, f"{hhmm}:00")
        issued.append(engine.issue("cam-centro", service, category))
    at(clock, "08:00:30")
    desks = open_desks(engine)
    site = store.find_site(engine.db, "cam-centro")
    predicted = engine.waiting_in_order(site)
    assert [t["position"] for t in predicted] == list(range(1, len(ARRIVALS) + 1))
    assert all(t["predicted_desk_id"] in desks for t in predicted)
    # Everyone is told the same thing: the API's positions, the monitor's, each ticket's "ahead".
    queue = api.call("supervisor", "GET", "/api/v1/sites/cam-centro/queue").get_json()["waiting"]
    assert [(r["id"], r["position"]) for r in queue] == [(t["id"], t["position"]) for t in predicted]
    monitor = api.call("supervisor", "GET", "/api/v1/reports/monitor?site=cam-centro").get_json()
    assert [(r["id"], r["position"]) for r in monitor["waiting"]] == \
        [(t["id"], t["position"]) for t in predicted]
    for t in predicted:
        body = api.call("supervisor", "GET", f"/api/v1/tickets/{t['id']}").get_json()
        assert body["ahead"] == t["position"] - 1, t["code"]
    # And it is what happens.
    assert drive(engine, clock, desks, predicted) == [t["id"] for t in predicted]


@pytest.mark.parametrize("policy, params", POLICIES)
def test_the_desk_s_next_list_starts_with_the_ticket_it_then_calls(room, clock, api, policy,
                                                                   params):
    engine = room
    set_rule(engine, policy, params)
    for hhmm, service, category in ARRIVALS:
        at(clock, f"{hhmm}:00")
        engine.issue("cam-centro", service, category)
    desks = open_desks(engine, ("5",))
    (desk, actor), = desks.values()
    for _ in range(6):
        line = api.call("beto", "GET", "/api/v1/desks/cam-centro:5/queue").get_json()["line"]
        called = engine.call_next(desk, actor)
        assert line[0]["id"] == called["id"]
        engine.no_show(called["id"], actor)
        clock.advance(seconds=45)


def test_a_new_ticket_is_told_the_people_the_desks_will_call_before_it(room, clock):
    engine = room
    open_desks(engine, ("5",))                      # E, F, then A
    for service in ("E", "E", "F"):
        engine.issue("cam-centro", service)
    ticket = engine.issue("cam-centro", "A")
    assert ticket["ahead"] == 3                      # the old count said 0: no one else in A
    site = store.find_site(engine.db, "cam-centro")
    assert engine.waiting_in_order(site)[-1]["id"] == ticket["id"]
