"""An administrator closes a day only after seeing what will change, and never a day that is not one.

Before: ``POST /api/v1/sites/cam-centro/close-day {"day": "zzzz"}`` abandoned today's whole
waiting queue (the day was compared as text).
"""

import pytest
from click.testing import CliRunner

from tests.conftest import login


def waiting_count(api) -> int:
    """Return how many tickets wait at CAM Centro today."""
    r = api.call("admin", "GET", "/api/v1/sites/cam-centro/queue")
    return len(r.get_json()["waiting"])


@pytest.mark.parametrize("day", ["zzzz", "2026-13-45", "2026-02-30", "25/11/2026", "2026-11-26",
                                 "9999-01-01", 20261125])
def test_a_malformed_or_future_day_is_refused_and_nothing_changes(api, day):
    for _ in range(3):
        api.issue("A")
    r = api.call("admin", "POST", "/api/v1/sites/cam-centro/close-day", {"day": day})
    assert r.status_code == 400, r.get_json()
    assert r.get_json()["error"] in ("invalid_day", "future_day", "invalid_type")
    assert r.get_json()["message"]
    assert waiting_count(api) == 3


def test_a_dry_run_says_what_would_change_and_changes_nothing(api):
    api.issue("A")
    api.issue("B")
    api.take_desk("ana")
    assert api.next("ana").status_code == 200
    r = api.call("admin", "POST", "/api/v1/sites/cam-centro/close-day",
                 {"day": "2026-11-25", "dry_run": True})
    assert r.status_code == 200
    plan = r.get_json()
    assert (plan["abandoned"], plan["no_show"], plan["finished"], plan["sessions_closed"],
            plan["dry_run"]) == (1, 1, 0, 1, True)
    assert waiting_count(api) == 1


def test_a_valid_day_still_closes_in_one_call(api):
    api.issue("A")
    r = api.call("admin", "POST", "/api/v1/sites/cam-centro/close-day", {"day": "2026-11-25"})
    assert r.status_code == 200 and r.get_json()["abandoned"] == 1
    assert waiting_count(api) == 0
    r = api.call("admin", "POST", "/api/v1/sites/cam-centro/close-day", {})
    assert r.status_code == 200 and r.get_json()["day"] == "2026-11-25"


def test_the_command_line_says_what_it_will_change_and_refuses_a_bad_day(app, api):
    from server.cli import main

    api.issue("A")
    instance = app.config["INSTANCE"]
    bad = CliRunner().invoke(main, ["close-day", "--day", "zzzz", "--yes", "--instance", instance])
    assert bad.exit_code != 0 and "no es una fecha válida" in bad.output
    # The command runs on the real clock: the demo layout's day is in the past for it.
    dry = CliRunner().invoke(main, ["close-day", "--site", "cam-centro", "--day", "2026-11-25",
                                    "--dry-run", "--instance", instance])
    assert dry.exit_code == 0, dry.output
    assert "cam-centro: will close up to 2026-11-25: 1 waiting → abandoned" in dry.output
    assert waiting_count(api) == 1
    asked = CliRunner().invoke(main, ["close-day", "--site", "cam-centro", "--day", "2026-11-25",
                                      "--instance", instance], input="n\n")
    assert asked.exit_code != 0 and waiting_count(api) == 1
    done = CliRunner().invoke(main, ["close-day", "--site", "cam-centro", "--day", "2026-11-25",
                                     "--yes", "--instance", instance])
    assert done.exit_code == 0 and "cam-centro: 1 abandoned" in done.output
    assert waiting_count(api) == 0


def test_the_page_shows_the_plan_first_then_closes_on_confirmation(app, api):
    api.issue("A")
    api.issue("A")
    browser = login(app, "admin")
    page = browser.get("/reports/close-day?site=cam-centro&day=2026-11-25").get_data(as_text=True)
    assert 'data-count="abandoned">2<' in page and "No se puede deshacer" in page
    assert waiting_count(api) == 2
    bad = browser.get("/reports/close-day?site=cam-centro&day=zzzz")
    assert bad.status_code == 400 and "no es una fecha válida" in bad.get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    done = browser.post("/reports/close-day", data={"site": "cam-centro", "day": "2026-11-25",
                                                    "confirm": "1", "csrf_token": csrf})
    assert done.status_code == 200 and 'id="close-day-done"' in done.get_data(as_text=True)
    assert waiting_count(api) == 0
