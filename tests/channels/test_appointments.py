"""Appointments: slots with a capacity that keeps walk-ins their turn, a code that books, moves,
cancels and checks in, a window around the slot, a place of their own in the queue."""

import pytest

from shared import appointments, store
from shared.errors import Conflict, Invalid, NotFound
from shared.queue import Actor
from tests.channels.conftest import at, configure, events_of, open_desk

DAY = "2026-11-25"


def slot(engine, hhmm: str, day: str = DAY) -> int:
    """Return the epoch ms of a local time at CAM Centro."""
    from datetime import date

    return appointments._local_ms(date.fromisoformat(day), hhmm, "America/Bogota")


def book(engine, hhmm: str, service: str = "A", **extra) -> dict:
    """Book a slot of CAM Centro as a citizen would."""
    return appointments.book(engine.db, engine.site("cam-centro"), service, slot(engine, hhmm),
                             engine.clock.now_ms(), **extra)


def test_a_slot_holds_the_share_of_the_desks_and_the_next_citizen_is_told_it_is_full(room):
    # Service A: 3 desks serve it, half of them for appointments, 15-minute slots of a
    # 6-minute service: 0.5 × 3 × 15 ÷ 6 = 3 citizens a slot; the rest is for walk-ins.
    codes = {book(room, "09:00")["code"] for _ in range(3)}
    assert len(codes) == 3 and all(len(c) == 8 for c in codes)
    with pytest.raises(Conflict) as full:
        book(room, "09:00")
    assert full.value.code == "slot_full"
    site = room.site("cam-centro")
    service, conf, config = appointments.bookable(room.db, site, "A")
    from datetime import date

    slots = {s["start"]: s for s in appointments.day_slots(room.db, site, service, conf, config,
                                                         date.fromisoformat(DAY), room.clock.now_ms())}
    assert slots[slot(room, "09:00")]["free"] == 0 and slots[slot(room, "09:15")]["free"] == 3
    # A cancellation frees the place.
    appointments.cancel(room.db, store.appointment_by_code(room.db, codes.pop()), room.clock.now_ms())
    assert book(room, "09:00")["status"] == "booked"


def test_no_slots_on_holidays_closed_days_in_the_past_or_beyond_the_booking_horizon(room, clock):
    room.db.execute("UPDATE sites SET holidays = ? WHERE code = 'cam-centro'", ['["2026-11-26"]'])
    configure(room, appointments={"closed_days": ["2026-11-27"], "booking_days": 3,
                                  "min_notice_minutes": 60})
    for day, when in (("2026-11-26", "09:00"), ("2026-11-27", "09:00"), (DAY, "08:30"),
                      ("2026-11-29", "09:00")):
        with pytest.raises(Invalid) as refused:
            appointments.book(room.db, room.site("cam-centro"), "A", slot(room, when, day),
                              clock.now_ms())
        assert refused.value.code == "no_such_slot", day
    assert book(room, "09:00")["status"] == "booked"          # an hour's notice: fine
    with pytest.raises(NotFound):
        book(room, "09:00", service="B")                       # B takes no appointments


def test_the_entity_asks_only_what_it_configures_and_a_document_is_kept_as_a_hash(room):
    configure(room, appointments={"ask_name": "optional", "ask_document": "required"})
    with pytest.raises(Invalid) as refused:
        book(room, "09:00")
    assert refused.value.details["field"] == "document"
    made = book(room, "09:00", name="Ana Pérez", document="1.020.304")
    assert made["name"] == "Ana Pérez" and made["id_hash"] and "1020304" not in made["id_hash"]
    with pytest.raises(Conflict) as twice:
        book(room, "10:00", document="1020304")               # the same person, the same service
    assert twice.value.code == "already_booked"
    configure(room, appointments={"ask_name": "off", "ask_document": "off"})
    quiet = book(room, "10:00", name="Nadie", document="99")
    assert quiet["name"] is None and quiet["id_hash"] is None  # not asked: not kept
    # The official serving the visit greets the citizen by the name given; then it is gone.
    from shared import appointments as ap
    from shared import notify

    at(room.clock, "08:40:00")
    ticket = ap.check_in(room, room.site("cam-centro"), made, Actor())
    desk, actor = open_desk(room, "1", "ana")
    room.call_next(desk, actor)
    held = store.ticket_by_id(room.db, ticket["id"])
    assert ap.for_the_desk(room.db, held, room.site("cam-centro")) == {"time": "09:00",
                                                                        "name": "Ana Pérez"}
    room.start(ticket["id"], actor)
    room.finish(ticket["id"], actor)
    notify.purge_contacts(room.db, room.clock.now_ms())
    gone = store.appointment_by_code(room.db, made["code"])
    assert gone["name"] is None and gone["id_hash"] is None


def test_a_citizen_moves_and_cancels_with_the_code_until_the_notice_runs_out(room, clock):
    configure(room, appointments={"min_notice_minutes": 60})
    made = book(room, "10:00")
    moved = appointments.move(room.db, appointments.find(room.db, made["code"].lower()),
                              slot(room, "11:00"), clock.now_ms())
    assert moved["code"] == made["code"] and moved["slot_at"] == slot(room, "11:00")
    assert moved["moves"] == 1
    at(clock, "10:30:00")
    with pytest.raises(Conflict) as late:
        appointments.cancel(room.db, moved, clock.now_ms())
    assert late.value.code == "too_late_to_change"
    at(clock, "09:00:00")
    done = appointments.cancel(room.db, appointments.find(room.db, made["code"][:4] + "-" + made["code"][4:]),
                               clock.now_ms())
    assert done["status"] == "cancelled"


def test_check_in_opens_and_closes_around_the_slot_and_says_what_to_do_otherwise(room, clock):
    made = book(room, "09:00")
    kiosk = Actor()
    at(clock, "08:20:00")                                       # 40 minutes early (window: 30)
    with pytest.raises(appointments.OutsideWindow) as early:
        appointments.check_in(room, room.site("cam-centro"), made, kiosk)
    assert "desde las 08:30" in str(early.value.message) and early.value.details["walk_in"]
    at(clock, "08:45:00")
    ticket = appointments.check_in(room, room.site("cam-centro"), made, kiosk)
    row = store.ticket_by_id(room.db, ticket["id"])
    assert row["channel"] == "appointment" and row["queue_at"] == slot(room, "09:00")
    assert row["appointment_at"] == slot(room, "09:00") and row["arrived"]
    assert store.appointment_by_code(room.db, made["code"])["status"] == "checked_in"
    with pytest.raises(Conflict):
        appointments.check_in(room, room.site("cam-centro"), store.appointment_by_code(
            room.db, made["code"]), kiosk)
    # Late: the window closed 15 minutes after the slot; the policy may refuse a walk-in too.
    other = book(room, "09:15")
    configure(room, appointments={"outside_window": "refuse"})
    at(clock, "09:31:00")
    with pytest.raises(appointments.OutsideWindow) as late:
        appointments.check_in(room, room.site("cam-centro"), other, kiosk)
    assert "cerró a las 09:30" in str(late.value.message) and not late.value.details["walk_in"]
    # And once its window closed, a booking never checked in is a no-show.
    assert appointments.mark_no_shows(room.db, clock.now_ms()) == 1
    assert store.appointment_by_code(room.db, other["code"])["status"] == "no_show"


@pytest.mark.parametrize("queue_class, expected", [
    # A-001 walk-in 08:01, PA-002 pregnant 08:10, A-003 the appointment of 08:15 (checked in at
    # 08:12), A-004 walk-in 08:20; the desk calls at 08:20.
    ("slot", ["PA-002", "A-001", "A-003", "A-004"]),            # with walk-ins, at its slot time
    ("before_general", ["PA-002", "A-003", "A-001", "A-004"]),  # before walk-ins, after PA
    ("preferential", ["PA-002", "A-003", "A-001", "A-004"]),    # with PA, by time (08:10 < 08:15)
])
def test_an_appointment_ticket_takes_the_place_its_class_gives_it_and_the_call_records_it(
        room, clock, queue_class, expected):
    configure(room, appointments={"queue_class": queue_class})
    made = book(room, "08:15")
    at(clock, "08:01:00")
    room.issue("cam-centro", "A")
    at(clock, "08:10:00")
    room.issue("cam-centro", "A", "gestante")
    at(clock, "08:12:00")
    appointment = appointments.check_in(room, room.site("cam-centro"), made, Actor())
    assert appointment["code"] == "A-003"
    at(clock, "08:20:00")
    room.issue("cam-centro", "A")
    site = store.find_site(room.db, "cam-centro")
    desk, actor = open_desk(room, "1", "ana")
    # Everyone is told the order the desks then follow (the one ordering authority).
    assert [t["code"] for t in room.waiting_in_order(site)] == expected
    called = []
    for _ in range(4):
        ticket = room.call_next(desk, actor)
        called.append(ticket["code"])
        record = events_of(room, ticket["id"], "called")[0]
        assert record["appointment_class"] == queue_class
        assert (record["chosen"] == "appointment") == (ticket["code"] == "A-003")
        room.no_show(ticket["id"], actor)
    assert called == expected


def test_an_early_appointment_is_not_called_before_walk_ins_until_its_slot(room, clock):
    configure(room, appointments={"queue_class": "before_general"})
    made = book(room, "08:30")
    at(clock, "08:01:00")
    room.issue("cam-centro", "A")
    at(clock, "08:05:00")
    appointments.check_in(room, room.site("cam-centro"), made, Actor())   # 25 minutes early
    desk, actor = open_desk(room, "1", "ana")
    assert room.call_next(desk, actor)["code"] == "A-001"    # its class counts from 08:30
    room.no_show(store.desk_open_ticket(room.db, desk["id"])["id"], actor)
    assert room.call_next(desk, actor)["code"] == "A-002"    # nobody else: no one waits for nothing
