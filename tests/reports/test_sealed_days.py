"""Reported periods stay as reported: a sealed day never changes by itself.

Before: a sealed day's service level went from 15 % to 50 % after a target was changed (it was
computed with today's targets), and Q1 satisfaction went from 5.0 to 2.33 after two ratings given
in April (a late rating dropped the day's stored figures).
"""

import json

import pytest
from click.testing import CliRunner

from tests.reports.known_day import DAY, NEXT, at

Q = {"site": "cam-centro", "from": DAY, "to": DAY}


def seal_the_day(room, clock):
    """Seal the known day as close-day does at night."""
    from reports import summary

    return summary.seal_recent(room.db, clock.now_ms())


def test_changing_a_target_after_the_day_does_not_rewrite_its_service_level(
        known_day, report, room, clock):
    before = report(**Q)["totals"]
    seal_the_day(room, clock)
    room.db.execute("UPDATE services SET target_wait_seconds = 3600")  # every wait is now "met"
    after = report(**Q)["totals"]
    assert after["service_level"] == before["service_level"] == pytest.approx(4 / 6, abs=1e-6)


def test_a_target_changed_during_the_day_counts_only_for_citizens_who_came_after(room, report,
                                                                                 clock, api):
    from shared import desks
    from tests.reports.conftest import user_id

    desk = room.desk("1", room.site("cam-centro"))
    desks.open_session(room, desk, user_id(room, "ana"))
    first = room.issue("cam-centro", "A")          # A's target: 15 minutes
    room.db.execute("UPDATE services SET target_wait_seconds = 60 WHERE code = 'A'")
    second = room.issue("cam-centro", "A")         # joined the line when the target was 1 minute
    at(clock, "08:10:00")
    from shared.queue import Actor
    ana = Actor(user_id=user_id(room, "ana"))
    assert room.call_next(desk, ana)["id"] == first["id"]
    room.no_show(first["id"], ana)
    assert room.call_next(desk, ana)["id"] == second["id"]
    figures = report(**Q)["totals"]
    assert (figures["service_level_met"], figures["called"]) == (1, 2)


def test_a_rating_after_the_day_was_sealed_is_refused_and_the_figures_stay(
        known_day, report, room, clock):
    from shared import store
    from shared.errors import Conflict
    from status import ratings

    seal_the_day(room, clock)
    before = report(**Q)
    try:
        ratings.rate(room.db, store.ticket_by_id(room.db, known_day["A3"]["id"]), 1, "", "status",
                     None, clock.now_ms())
        raise AssertionError("a late rating was taken")
    except Conflict as exc:
        assert exc.code == "rating_closed"
    assert report(**Q) == before
    assert before["totals"]["satisfaction_mean"] == 4.0


def test_a_rating_more_than_a_day_after_the_visit_is_refused(room, clock, api):
    from shared import desks, store
    from shared.errors import Conflict
    from shared.queue import Actor
    from status import ratings
    from tests.reports.conftest import user_id

    desk = room.desk("1", room.site("cam-centro"))
    ana = Actor(user_id=user_id(room, "ana"))
    desks.open_session(room, desk, ana.user_id)
    t = room.issue("cam-centro", "A")
    room.call_next(desk, ana)
    room.start(t["id"], ana)
    room.finish(t["id"], ana)
    at(clock, "09:00:00", "2026-11-26")
    try:
        ratings.rate(room.db, store.ticket_by_id(room.db, t["id"]), 5, "", "status", None,
                     clock.now_ms())
        raise AssertionError("a rating a day late was taken")
    except Conflict as exc:
        assert exc.code == "rating_closed"


def test_a_rating_given_the_same_day_counts_for_the_visit_day(known_day, report):
    assert report(**Q)["totals"]["ratings"] == 3  # E-001 was rated at 00:12 on the next day
    assert report(site="cam-centro", **{"from": NEXT, "to": NEXT})["totals"]["ratings"] == 0


def test_computing_sealed_figures_again_is_an_explicit_audited_act(known_day, report, room, clock,
                                                                    app):
    from server.cli import main
    from shared import store

    seal_the_day(room, clock)
    room.db.execute("UPDATE tickets SET automatic = ? WHERE code = 'A-003'", [True])  # a repair in the data
    assert report(**Q)["totals"]["served"] == 4, "sealed: the repair does not show by itself"
    refused = CliRunner().invoke(main, ["reseal", "--from", DAY, "--to", DAY, "--reason", " ",
                                        "--instance", app.config["INSTANCE"]])
    assert refused.exit_code != 0
    done = CliRunner().invoke(main, ["reseal", "--site", "cam-centro", "--from", DAY, "--to", DAY,
                                     "--reason", "A-003 was closed by the night job",
                                     "--user", "admin", "--instance", app.config["INSTANCE"]])
    assert done.exit_code == 0, done.output
    assert "served: 4 -> 3" in done.output
    assert report(**Q)["totals"]["served"] == 3
    entry = store.search_audit(room.db, "reports.reseal")[0]
    detail = json.loads(entry["detail"])
    assert entry["username"] == "admin" and detail["reason"] == "A-003 was closed by the night job"
    assert detail["changed"]["served"] == {"before": 4, "after": 3}


def test_a_sealed_month_is_read_from_its_roll_up_with_the_same_figures(known_day, room, clock):
    from reports import summary
    from shared import kpi, store

    at(clock, "08:00:00", "2026-12-02")
    sites = store.list_sites(room.db)
    assert summary.seal(room.db, sites, "2026-11-01", "2026-11-30", clock.now_ms()) == 60
    months = room.db.execute("SELECT count(*) FROM report_month_partials WHERE month = '2026-11'")
    assert months.fetchone()[0] == 2 * len(summary.DIMENSIONS)
    now = clock.now_ms()
    for group in ("service", "desk", "official", "priority", "hour", "site"):
        rolled = summary.summary(room.db, sites, "2026-11-01", "2026-11-30", group, now)
        partials = summary.day_partials(room.db, sites, "2026-11-01", "2026-11-30",
                                        "total" if group == "site" else group, now, months=False)
        assert all(len(period) == 10 for _site, period in partials)  # read day by day here
        assert {k for _s, k in rolled["_periods"]} == {"2026-11"}      # and from the month there
        groups, by_days = summary.merge(partials,
                                        lambda s, p, k, group=group: s if group == "site" else k)
        assert rolled["totals"] == kpi.figures(by_days)
        figures = {row["key"]: {name: row[name] for name in rolled["totals"]}
                   for row in rolled["rows"]}
        labels = summary.Labels(room.db, sites)
        assert figures == {labels.row_head(group, key)["key"]: kpi.figures(t)
                           for key, t in groups.items()}, group
    heat = summary.summary(room.db, sites, "2026-11-01", "2026-11-30", "hour", now)["_heatmap"]
    assert {(c["weekday"], c["hour"]): c["issued"] for c in heat} == {(2, 8): 5, (2, 9): 2,
                                                                      (2, 23): 1}


def test_a_long_period_s_percentiles_stay_within_one_percent_of_the_exact_ones():
    import random

    from shared import kpi

    rng = random.Random(12)
    waits = [int(rng.lognormvariate(13, 1)) for _ in range(20_000)]  # a year of one service
    merged = kpi.Histogram()
    for day in range(0, len(waits), 80):          # stored day by day, merged for the report
        stored = kpi.Histogram()
        for ms in waits[day:day + 80]:
            stored.add(ms)
        merged.merge(kpi.Histogram.decode(stored.encode(exact=False)))
    assert merged.values is None, "a year is read from buckets"
    exact = sorted(waits)
    for p in (0.1, 0.5, 0.9, 0.99):
        assert merged.quantile(p) == pytest.approx(kpi.percentile(exact, p), rel=kpi.ALPHA)
