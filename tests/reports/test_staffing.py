"""A supervisor asks how many desks keep next hour's waits on target (Erlang C)."""

import math

import pytest

from shared import staffing
from tests.reports.known_day import at


def erlang_c_by_the_book(c: int, a: float) -> float:
    """The Erlang C formula written with factorials, to check the stable recursion against."""
    top = a ** c / math.factorial(c) * c / (c - a)
    return top / (sum(a ** k / math.factorial(k) for k in range(c)) + top)


@pytest.mark.parametrize("c, a", [(1, 0.5), (4, 3.0), (10, 8.0), (25, 21.5), (60, 50.0)])
def test_the_probability_of_waiting_is_erlang_c(c, a):
    assert staffing.erlang_c(c, a) == pytest.approx(erlang_c_by_the_book(c, a), rel=1e-9)


def test_the_hint_is_the_fewest_desks_that_reach_the_goal():
    # 30 citizens an hour, 6 minutes each: 3 erlangs; target 15 minutes for 80 %.
    assert staffing.desks_needed(30, 360, 900) == 4
    a = 30 * 360 / 3600
    assert staffing.service_level(4, a, 360, 900) >= 0.8 > staffing.service_level(3, a, 360, 900)
    # A tighter target or a busier hour needs more desks; nobody coming needs none.
    assert staffing.desks_needed(30, 360, 30) > 4
    assert staffing.desks_needed(90, 360, 900) > staffing.desks_needed(30, 360, 900)
    assert staffing.desks_needed(0, 360, 900) == 0


def test_too_few_desks_let_the_line_grow_without_end():
    assert staffing.erlang_c(3, 3.0) == 1.0
    assert staffing.service_level(3, 3.0, 360, 900) == 0.0
    assert staffing.mean_wait_seconds(3, 3.0, 360) is None


def test_the_monitor_hint_uses_the_same_hour_of_past_weeks(api, room, clock):
    # Last Wednesday 30 citizens came for A between 09:00 and 10:00.
    for n in range(30):
        at(clock, f"09:{2 * n:02d}:00", "2026-11-18")
        room.issue("cam-centro", "A")
    at(clock, "09:00:00")
    state = api.call("supervisor", "GET", "/api/v1/reports/monitor?site=cam-centro").get_json()
    hints = {h["service"]: h for h in state["staffing"]["services"]}
    assert state["staffing"]["source"] == "history"
    assert hints["A"]["arrivals_per_hour"] == 30.0 and hints["A"]["aht_seconds"] == 360.0
    assert hints["A"]["desks_needed"] == 4 and hints["A"]["desks_open"] == 0
    assert hints["B"]["desks_needed"] == 0
