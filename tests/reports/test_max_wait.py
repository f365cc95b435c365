"""No one waits forever: past a site's maximum wait a ticket is called next under any rule.

Before: a general ticket waited while 24 preferential tickets were called ahead of it; only the
generic over-target alert fired, and its status page said "0 ahead, 0 s".
"""

import json

import pytest

from shared import store
from tests.reports.known_day import at
from tests.reports.test_who_is_next import open_desks, set_rule


def a_stream_of_preferential_citizens(engine, clock, desk, actor, until: str):
    """Every five minutes from 08:00 a preferential A citizen comes and desk 1 calls the next one."""
    called = []
    minute = 0
    while True:
        hhmm = f"{8 + minute // 60:02d}:{minute % 60:02d}"
        if hhmm > until:
            return called
        at(clock, f"{hhmm}:00")
        engine.issue("cam-centro", "A", "adulto_mayor")
        held = store.desk_open_ticket(engine.db, desk["id"])
        if held is not None:
            engine.no_show(held["id"], actor)
        called.append(engine.call_next(desk, actor))
        minute += 5


@pytest.mark.parametrize("policy, params", [("strict", {}), ("ratio", {"n": 50}),
                                            ("aging", {"preferential_weight": 20.0, "grace_seconds": 300})])
def test_past_the_maximum_wait_a_general_ticket_is_called_next_and_the_call_says_why(
        room, clock, api, policy, params):
    engine = room
    set_rule(engine, policy, params, max_wait_minutes=45)
    at(clock, "07:59:00")
    general = engine.issue("cam-centro", "B")        # desk 1 serves A first, then B
    (desk, actor), = open_desks(engine, ("1",)).values()
    called = a_stream_of_preferential_citizens(engine, clock, desk, actor, until="08:40")
    assert general["id"] not in [t["id"] for t in called]
    # The supervisor sees who is being passed over, and for how long.
    monitor = api.call("supervisor", "GET", "/api/v1/reports/monitor?site=cam-centro").get_json()
    row = next(r for r in monitor["waiting"] if r["id"] == general["id"])
    assert row["passed_over"]["count"] == 9 and row["passed_over"]["preferential"] == 9
    assert row["passed_over"]["seconds"] == 40 * 60
    # The citizen's page says so too, instead of "0 ahead, 0 s".
    visit = store.ticket_by_id(engine.db, general["id"])["visit_id"]
    status = api.client.get(f"/t/{visit}.json").get_json()
    assert status["passed_over"] == 9 and status["waited_seconds"] == 41 * 60
    assert status["ahead"] == 0 or status["estimated_wait_seconds"] > 0
    assert status["estimated_wait_range_seconds"][1] > 0
    at(clock, "08:45:00")
    engine.issue("cam-centro", "A", "adulto_mayor")   # another preferential citizen waits now
    engine.no_show(store.desk_open_ticket(engine.db, desk["id"])["id"], actor)
    assert engine.call_next(desk, actor)["id"] == general["id"]
    call = [e for e in store.ticket_events(engine.db, general["id"]) if e["kind"] == "called"][0]
    record = json.loads(call["data"])
    assert record["chosen"] == "max_wait" and record["rule"] == policy
    assert record["max_wait"] == {"seconds": 2700, "applied": True, "waited_seconds": 2760.0}


def test_without_a_maximum_wait_strict_precedence_keeps_the_general_ticket_waiting(room, clock):
    engine = room
    at(clock, "07:59:00")
    general = engine.issue("cam-centro", "B")
    (desk, actor), = open_desks(engine, ("1",)).values()
    called = a_stream_of_preferential_citizens(engine, clock, desk, actor, until="09:00")
    assert general["id"] not in [t["id"] for t in called]
    record = json.loads([e for e in store.ticket_events(engine.db, called[-1]["id"])
                         if e["kind"] == "called"][0]["data"])
    assert record["max_wait"] == {"seconds": None, "applied": False}


def test_an_administrator_sets_the_maximum_wait_in_the_layout_or_on_the_site_page(app, clock):
    from shared import layout
    from shared.db import get_db
    from tests.conftest import login

    text = layout.DEMO_LAYOUT.read_text().replace("# max_wait_minutes = 45", "max_wait_minutes = 45")
    with app.app_context():
        db = get_db()
        layout.apply(db, layout.parse(text), clock)
        assert store.find_site(db, "cam-centro")["max_wait_seconds"] == 2700
        assert "max_wait_minutes = 45" in layout.export(db)
    page = login(app, "admin").get("/admin/sites/cam-centro").get_data(as_text=True)
    assert 'name="max_wait_minutes" id="f-max_wait_minutes" value="45"' in page
