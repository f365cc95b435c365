"""Citizens see an estimated wait that knows the room: desks, their order, pauses, who will come."""

import pytest

from tests.reports.known_day import at


@pytest.fixture
def desks(room):
    """Open desks by code for officials (ana, beto, carla) and return the engine's desk rows."""
    from shared import desks as sessions
    from tests.reports.conftest import user_id

    def open_(*pairs):
        rows = {}
        for code, who in pairs:
            desk = room.desk(code, room.site("cam-centro"))
            sessions.open_session(room, desk, user_id(room, who))
            rows[code] = desk
        return rows

    return open_


def naive(room, ticket: dict) -> float:
    """Return the naive estimate (people ahead × mean service ÷ open desks) of a ticket."""
    from shared import estimate

    service = room.service(room.site("cam-centro"), ticket["service"])
    return estimate.naive_wait_seconds(room.db, service, ticket["ahead"], room.clock.now_ms())


def test_with_two_free_desks_the_fifth_ticket_is_called_after_two_rounds(room, desks, clock):
    desks(("1", "ana"), ("2", "beto"))
    for _ in range(4):
        room.issue("cam-centro", "A")
    fifth = room.issue("cam-centro", "A")
    # Six minutes a ticket (the service's default): calls at 0, 0, 6, 6 and 12 minutes.
    assert fifth["ahead"] == 4
    assert fifth["estimated_wait_seconds"] == 720.0
    # The baseline counts desks 1 and 2 as half a desk each for A (they serve B too).
    assert naive(room, fifth) == 1440.0


def test_preferential_citizens_expected_to_arrive_lengthen_a_general_wait(room, desks, clock):
    # Since 07:20 one preferential and one general citizen came every ten minutes.
    for minute in (20, 30, 40, 50):
        at(clock, f"07:{minute}:00")
        room.issue("cam-centro", "A", "adulto_mayor")
        room.issue("cam-centro", "A")
    at(clock, "08:00:00")
    desks(("1", "ana"), ("2", "beto"))
    general = room.issue("cam-centro", "A")
    preferential = room.issue("cam-centro", "A", "gestante")
    # Eight ahead at two desks shared with B: 48 minutes for the naive estimate; but at six
    # minutes a ticket two desks call them in 24, and the preferential citizens expected at
    # 08:05 and 08:15 will pass the general ticket too: 30 minutes.
    assert naive(room, general) == 2880.0
    assert general["estimated_wait_seconds"] == 1800.0
    assert preferential["estimated_wait_seconds"] < general["estimated_wait_seconds"]


def test_a_ticket_waits_for_the_service_its_desk_calls_first(room, desks, clock):
    for minute in (30, 40, 50):  # E citizens come every ten minutes
        at(clock, f"07:{minute}:00")
        room.issue("cam-centro", "E")
    at(clock, "08:00:00")
    desks(("5", "carla"))  # Módulo 5 calls E, then F, then A
    ticket = room.issue("cam-centro", "A")
    # Three E tickets are ahead: the only desk that serves A calls E first.
    assert ticket["ahead"] == 3
    # Three E tickets of four minutes first (until 08:12); the E citizens expected at 08:05
    # and 08:15 go before the A ticket too: called at 08:20.
    assert ticket["estimated_wait_seconds"] == 1200.0


def test_a_line_that_never_reaches_the_ticket_gives_the_longest_estimate(room, desks, clock):
    desks(("5", "carla"))
    for _ in range(6):  # six E citizens in a minute: more than one desk can take
        room.issue("cam-centro", "E")
    ticket = room.issue("cam-centro", "A")
    assert ticket["estimated_wait_seconds"] == 8 * 3600.0


def test_a_desk_on_a_break_is_expected_back(room, desks, clock):
    from shared import desks as sessions

    rows = desks(("1", "ana"), ("2", "beto"))
    sessions.pause(room, rows["1"], "break")
    for _ in range(4):
        room.issue("cam-centro", "A")
    fifth = room.issue("cam-centro", "A")
    # Desk 2 calls at 0, 6 and 12 minutes; desk 1 is back from its 15-minute break for the
    # fourth; desk 2 calls the fifth at 18 minutes (the naive estimate says 24).
    assert fifth["estimated_wait_seconds"] == 1080.0
    assert naive(room, fifth) == 1440.0


def test_without_an_open_desk_the_estimate_assumes_one_desk(room, clock):
    room.issue("cam-centro", "A")
    second = room.issue("cam-centro", "A")
    assert second["estimated_wait_seconds"] == 360.0


def test_the_usual_arrivals_of_past_weeks_shape_todays_estimate(room, desks, clock):
    from shared import estimate

    site = room.site("cam-centro")
    # A week ago, 12 preferential A citizens came between 08:00 and 09:00.
    for minute in range(0, 60, 5):
        at(clock, f"08:{minute:02d}:00", "2026-11-18")
        room.issue("cam-centro", "A", "adulto_mayor")
    at(clock, "08:00:00")
    times = estimate.arrival_times(room.db, site, "2026-11-25", clock.now_ms())
    service_a = room.service(site, "A")["id"]
    expected = [t for t in times[(service_a, True)] if t < clock.now_ms() + 3_600_000]
    assert len(expected) == 12, "the usual preferential arrivals of the coming hour"


def test_the_estimate_is_a_range_on_the_printed_ticket_too(room, desks, clock):
    import math

    from shared.printing.jobs import ticket_content
    from shared.printing.layout import TicketContent, render_escpos

    desks(("1", "ana"))
    for _ in range(3):
        room.issue("cam-centro", "A")
    ticket = room.issue("cam-centro", "A")
    low, high = ticket["estimated_wait_range_seconds"]
    assert low <= ticket["estimated_wait_seconds"] <= high and low < high
    body = dict(ticket)
    content = ticket_content(room, room.ticket(ticket["id"]), "https://x/t/abc", body=body)
    assert content["estimated_wait_range_minutes"] == (int(low // 60), math.ceil(high / 60))
    printed = render_escpos(TicketContent(**content))
    assert b"Espera estimada: entre" in printed


def statements_of(db, action) -> int:
    """Run ``action`` and return how many statements it sent to the database."""
    sent = []
    originals = {name: getattr(db, name) for name in ("execute", "executemany", "send")}

    def counting(original):
        def run(sql, *args, **kwargs):
            sent.append(sql)
            return original(sql, *args, **kwargs)
        return run

    for name, original in originals.items():
        setattr(db, name, counting(original))
    try:
        action()
    finally:
        for name in originals:
            delattr(db, name)
    return len(sent)


def test_a_ticket_costs_as_many_statements_with_six_desks_busy_as_with_one_desk(app, room, clock):
    # CAM Norte: two services and one desk. CAM Centro: six services and six open desks,
    # three of them with a citizen at the desk. The room an estimate replays is read in the
    # same statements at both: a CAM that opens twenty desks issues as fast as one with one.
    # Both follow the same rule (the ratio rule reads its streak: one statement more).
    from shared import auth, store
    from shared import desks as sessions
    from shared.queue import Actor
    from tests.reports.conftest import user_id

    store.update_site(room.db, room.site("cam-norte")["id"], {"policy": "strict",
                                                             "policy_params": "{}"})
    officials = {}
    for site, code in [("cam-centro", str(n)) for n in range(1, 7)] + [("cam-norte", "1")]:
        name = f"official-{site}-{code}"
        with app.app_context():
            auth.create_user(room.db, name, "secret-pass-123", "official", clock)
        officials[(site, code)] = Actor(user_id=user_id(room, name))
        sessions.open_session(room, room.desk(code, room.site(site)), officials[(site, code)].user_id)
    for service in "ABCDEF":
        room.issue("cam-centro", service)
        room.issue("cam-centro", service, "gestante")
    for code in "123":
        called = room.call_next(room.desk(code, room.site("cam-centro")), officials[("cam-centro", code)])
        assert called is not None
    room.issue("cam-norte", "A")
    at_north = statements_of(room.db, lambda: room.issue("cam-norte", "A"))
    at_centre = statements_of(room.db, lambda: room.issue("cam-centro", "A"))
    assert at_centre == at_north
