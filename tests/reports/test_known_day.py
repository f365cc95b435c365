"""An evaluator checks every figure of a known day against what she computed by hand.

The day is described in tests/reports/conftest.py. Times are in seconds.
"""

import pytest

from tests.reports.known_day import DAY, NEXT

TOTALS = {
    "issued": 8, "visits": 7, "transferred_in": 1, "called": 6, "served": 4, "no_shows": 1,
    "abandoned": 1, "cancelled": 1, "transferred": 1, "recalls": 2,
    "no_show_rate": 1 / 6, "abandonment_rate": 1 / 8,
    # waits from the citizen's arrival 240 240 600 660 1110 1200 (C-001 waited in A from 08:02,
    # when the citizen arrived, not from the transfer); the segments' own waits 240 240 330 600
    # 660 1200
    "wait_mean": 675.0, "wait_p50": 630.0, "wait_p90": 1155.0, "wait_max": 1200.0,
    "segment_wait_mean": 545.0, "tickets": 7, "segments": 8,
    # walks 30 60 10 20 300
    "walk_mean": 84.0,
    # services 300 420 480 540 900 (C-001 ends at its transfer)
    "service_mean": 528.0, "service_p50": 480.0, "service_p90": 756.0,
    # served visits: 570 (PA-002) 1210 1640 1800 (E-001)
    "centre_mean": 1305.0,
    # A-003 (1200) and C-001 in A (1110) waited past their target of 900; E-001 exactly its 600;
    # over all tickets, the abandoned D-001 counts as missed too
    "service_level": 4 / 6, "service_level_met": 4, "service_level_all": 4 / 7,
    # ana 9 h + beto 9 h + carla 23:30–24:00; serving 1260 + 480 + 300 (E-001 until midnight)
    "logged_in_seconds": 66600.0, "serving_seconds": 2040.0, "paused_seconds": 900.0,
    "idle_seconds": 64560.0, "occupancy": 2040 / 66600,
    "ratings": 3, "satisfaction_mean": 4.0, "response_rate": 3 / 4,
}


def check(figures: dict, expected: dict) -> None:
    """Compare every expected figure (floats to a millionth)."""
    for key, value in expected.items():
        got = figures[key]
        if value is None:
            assert got is None, f"{key}: {got!r} instead of nothing"
        else:
            assert got == pytest.approx(value, abs=1e-6), f"{key}: {got!r} instead of {value!r}"


def rows_by_key(report: dict) -> dict:
    """Return a report's rows by key."""
    return {row["key"]: row for row in report["rows"]}


def test_the_totals_of_the_day_match_the_hand_computed_figures(known_day, report):
    day = report(site="cam-centro", **{"from": DAY, "to": DAY}, group_by="service")
    check(day["totals"], TOTALS)


def test_each_service_counts_its_own_segments_and_the_transfer_counts_in_both(known_day, report):
    rows = rows_by_key(report(site="cam-centro", **{"from": DAY, "to": DAY}, group_by="service"))
    assert set(rows) == {"cam-centro:A", "cam-centro:B", "cam-centro:C", "cam-centro:D",
                         "cam-centro:E"}
    check(rows["cam-centro:A"], {
        "issued": 4, "visits": 3, "transferred_in": 1, "called": 4, "served": 3, "no_shows": 1,
        "recalls": 1, "wait_mean": 802.5, "wait_p50": 885.0, "wait_p90": 1173.0, "wait_max": 1200.0,
        "segment_wait_mean": 607.5,
        "walk_mean": 20.0, "service_mean": 420.0, "service_p50": 420.0, "service_p90": 516.0,
        "centre_mean": 1140.0, "service_level": 0.5, "ratings": 2, "satisfaction_mean": 4.5,
        "response_rate": 2 / 3, "occupancy": None})
    assert rows["cam-centro:A"]["target_wait_seconds"] == 900.0
    check(rows["cam-centro:C"], {
        "issued": 1, "visits": 1, "called": 1, "served": 0, "transferred": 1, "recalls": 1,
        "wait_mean": 240.0, "walk_mean": 60.0, "service_mean": 480.0, "service_level": 1.0,
        "response_rate": None, "satisfaction_mean": None})
    check(rows["cam-centro:B"], {"issued": 1, "cancelled": 1, "called": 0, "wait_mean": None,
                                 "service_level": None, "no_show_rate": None})
    check(rows["cam-centro:D"], {"issued": 1, "abandoned": 1, "abandonment_rate": 1.0})
    check(rows["cam-centro:E"], {"issued": 1, "served": 1, "wait_mean": 600.0, "walk_mean": 300.0,
                                 "service_mean": 900.0, "centre_mean": 1800.0, "service_level": 1.0,
                                 "satisfaction_mean": 3.0})


def test_desks_show_their_occupancy_and_the_uncalled_tickets_have_no_desk(known_day, report):
    rows = rows_by_key(report(site="cam-centro", **{"from": DAY, "to": DAY}, group_by="desk"))
    check(rows["cam-centro:1"], {
        "issued": 4, "served": 3, "no_shows": 1, "wait_mean": 802.5, "service_mean": 420.0,
        "logged_in_seconds": 32400.0, "serving_seconds": 1260.0, "paused_seconds": 0.0,
        "idle_seconds": 31140.0, "occupancy": 1260 / 32400, "satisfaction_mean": 4.5})
    check(rows["cam-centro:3"], {
        "issued": 1, "transferred": 1, "logged_in_seconds": 32400.0, "serving_seconds": 480.0,
        "paused_seconds": 900.0, "occupancy": 480 / 32400})
    # E-001 was served 23:55–00:10: only its first five minutes belong to the 25th.
    check(rows["cam-centro:5"], {"issued": 1, "logged_in_seconds": 1800.0, "serving_seconds": 300.0,
                                 "occupancy": 300 / 1800})
    check(rows[None], {"issued": 2, "abandoned": 1, "cancelled": 1, "called": 0,
                       "occupancy": None})
    assert rows[None]["label"] == "Sin módulo (no llamados)"


def test_officials_priority_and_hours_split_the_same_day(known_day, report):
    query = {"site": "cam-centro", "from": DAY, "to": DAY}
    officials = rows_by_key(report(**query, group_by="official"))
    check(officials["ana"], {"served": 3, "serving_seconds": 1260.0, "logged_in_seconds": 32400.0})
    check(officials["carla"], {"served": 1, "serving_seconds": 300.0})
    assert officials["ana"]["label"] == "Ana"
    priority = rows_by_key(report(**query, group_by="priority"))
    check(priority["general"], {"issued": 7, "served": 3})
    check(priority["adulto_mayor"], {"issued": 1, "served": 1, "wait_mean": 240.0})
    assert priority["adulto_mayor"]["label"] == "Adulto mayor"
    hours = rows_by_key(report(**query, group_by="hour"))
    assert {h: hours[h]["issued"] for h in hours} == {8: 5, 9: 2, 23: 1}
    check(hours[8], {"wait_mean": (240 + 240 + 660 + 1110 + 1200) / 5})


def test_the_ticket_crossing_midnight_belongs_to_its_issue_day_but_its_desk_time_is_split(
        known_day, report):
    days = report(site="cam-centro", **{"from": DAY, "to": NEXT}, group_by="day")
    rows = rows_by_key(days)
    check(rows[DAY], {"issued": 8, "served": 4, "serving_seconds": 2040.0})
    check(rows[NEXT], {"issued": 0, "served": 0, "wait_mean": None, "logged_in_seconds": 1200.0,
                       "serving_seconds": 600.0, "occupancy": 0.5})
    check(days["totals"], {"issued": 8, "logged_in_seconds": 67800.0, "serving_seconds": 2640.0})


def test_a_sealed_day_read_again_gives_the_same_figures_as_computed_live(
        known_day, report, room, clock):
    from reports import summary
    from shared import store

    live = {g: report(site="cam-centro", **{"from": DAY, "to": DAY}, group_by=g)
            for g in ("service", "desk", "official", "priority", "hour", "day", "site")}
    sites = [store.find_site(room.db, "cam-centro")]
    assert summary.seal(room.db, sites, DAY, DAY, clock.now_ms()) == 1
    stored = room.db.execute("SELECT count(*) FROM report_partials WHERE day = ?", [DAY]).fetchone()[0]
    assert stored == len(summary.DIMENSIONS), "the closed day was stored for the next reports"
    for group, figures in live.items():
        assert report(site="cam-centro", **{"from": DAY, "to": DAY}, group_by=group) == figures


def test_all_sites_add_up_and_a_site_without_tickets_adds_nothing(known_day, report):
    both = report(site="all", **{"from": DAY, "to": DAY}, group_by="service")
    assert both["sites"] == ["cam-centro", "cam-norte"]
    check(both["totals"], {"issued": 8, "served": 4, "wait_mean": 675.0})
    assert rows_by_key(both)["cam-centro:A"]["label"] == "CAM Centro · A — Impuesto predial"
    norte = report(site="cam-norte", **{"from": DAY, "to": DAY})
    assert norte["rows"] == [] and norte["totals"]["issued"] == 0
