"""Reports and the live monitor count appointments, check-ins, turns from phones and their
no-shows, with punctuality and the wait from slot time; the staffing hint counts the bookings."""

from shared import appointments
from shared.queue import Actor
from tests.channels.conftest import at, configure, open_desk
from tests.channels.test_appointments import book, slot


def test_a_day_of_appointments_reads_back_in_the_report_and_the_monitor(room, clock, api):
    early, late, _absent = (book(room, "09:00") for _ in range(3))
    dropped = book(room, "09:15")
    moved = appointments.move(room.db, book(room, "09:15"), slot(room, "09:30"), clock.now_ms())
    appointments.cancel(room.db, dropped, clock.now_ms())
    desk, actor = open_desk(room, "1", "ana")
    at(clock, "08:50:00")
    first = appointments.check_in(room, room.site("cam-centro"), early, Actor())   # 10 min early
    at(clock, "09:05:00")
    assert room.call_next(desk, actor)["id"] == first["id"]                      # 5 min from slot
    room.no_show(first["id"], actor)
    at(clock, "09:10:00")
    second = appointments.check_in(room, room.site("cam-centro"), late, Actor())   # 10 min late
    at(clock, "09:25:00")
    assert room.call_next(desk, actor)["id"] == second["id"]                     # 15 min from 09:10
    room.no_show(second["id"], actor)
    at(clock, "09:40:00")
    appointments.mark_no_shows(room.db, clock.now_ms())                          # `absent` missed
    report = api.call("supervisor", "GET", "/api/v1/reports/channels?site=cam-centro").get_json()
    row, = report["rows"]
    assert (row["service"], row["booked"], row["cancelled"], row["moved"], row["checked_in"],
            row["no_show"]) == ("A", 4, 1, 1, 2, 1)
    assert row["no_show_rate"] == round(1 / 3, 6) and (row["early"], row["late"]) == (1, 1)
    totals = report["totals"]
    assert totals["punctuality_p50_minutes"] == 10.0 and totals["punctuality_mean_minutes"] == 0.0
    assert totals["wait_from_slot_p50_minutes"] == 10.0 and totals["wait_from_slot_p90_minutes"] == 14.0
    monitor = api.call("supervisor", "GET", "/api/v1/reports/monitor?site=cam-centro").get_json()
    assert monitor["channels"]["checked_in"] == 2 and monitor["channels"]["no_show"] == 1
    assert monitor["channels"]["appointments_pending"] == 1                      # `moved`, 09:30
    assert moved["status"] == "booked"
    page = api.client.get("/reports/?site=cam-centro",
                          headers={"Authorization": f"Bearer {api.token('supervisor')}"})
    assert 'id="channels-table"' in page.get_data(as_text=True)


def test_the_staffing_hint_counts_the_appointments_booked_for_the_coming_hour(room, clock, api):
    configure(room, appointments={"services": {"A": {"slot_minutes": 15, "share": 1.0}}})
    open_desk(room, "1", "ana")

    def hint_for_a():
        body = api.call("supervisor", "GET", "/api/v1/reports/monitor?site=cam-centro").get_json()
        return next(s for s in body["staffing"]["services"] if s["service"] == "A"), body["staffing"]

    before, _ = hint_for_a()
    assert before["appointments_booked"] == 0 and before["desks_needed"] == 0
    for hhmm in ("08:15", "08:15", "08:30", "08:30", "08:45", "08:45", "08:45"):
        book(room, hhmm)
    after, staffing = hint_for_a()
    assert after["appointments_booked"] == 7
    # Seven booked, 85 % expected to come (no history yet): about 6 citizens of 6 minutes.
    assert after["arrivals_per_hour"] == round(7 * 0.85, 2) and after["desks_needed"] >= 1
    assert staffing["coming_hours"][0]["appointments_booked"] == 7
    assert staffing["coming_hours"][1]["appointments_booked"] == 0
