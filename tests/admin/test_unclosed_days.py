"""A night the end-of-day job did not run is seen on the administration overview the next day.

When the nightly ``close-day`` fails (a broken unit, a database away at 23:00), a
day's waiting and called tickets stay open: that day's figures are never stored
and the control body's report of it is incomplete. Nobody looks at the job's log;
everybody opens the overview.
"""

import re

from click.testing import CliRunner

from server.cli import main
from tests.admin.pages import StaffBrowser


def _card(page: str) -> str:
    """Return the overview's card of days left open ('' when there is none)."""
    found = re.search(r'<section class="card warn" id="unclosed-days">(.*?)</section>', page, re.S)
    return found.group(1) if found else ""


def test_the_overview_names_a_day_the_nightly_close_missed_until_it_is_closed(app, api, clock, database):
    # Wednesday 2026-11-25 at CAM Centro (open at all hours in the demo): two tickets, one called.
    api.issue("A")
    api.issue("B")
    api.take_desk("ana")
    assert api.next("ana").status_code == 200
    assert _card(StaffBrowser(app, "admin").get("/admin/").text) == ""

    # The next day the 25th may still wait for tonight's job: no alarm yet.
    clock.advance(days=1)
    assert _card(StaffBrowser(app, "admin").get("/admin/").text) == ""

    # A day later it is still open: the night's job did not run. Admin and supervisor are told.
    clock.advance(days=1)
    card = _card(StaffBrowser(app, "admin").get("/admin/").text)
    assert "CAM Centro" in card and "2026-11-25" in card
    assert re.search(r"<td>\s*2\s*</td>", card), card  # the two tickets still open
    assert "turnos-close-day.timer" in card and "close-day --ended --yes" in card
    assert "CAM Centro" in _card(StaffBrowser(app, "supervisor").get("/admin/").text)

    # The administrator runs what the card says (on the real clock, days after the story's);
    # the day is closed and the card goes.
    done = CliRunner().invoke(main, ["close-day", "--ended", "--yes", "--instance",
                                     app.config["INSTANCE"], "--database", database])
    assert done.exit_code == 0, done.output
    assert _card(StaffBrowser(app, "admin").get("/admin/").text) == ""


def test_a_long_run_of_missed_closes_lists_the_newest_ten_days_and_counts_the_rest(app, api, clock):
    # An install where nobody ever scheduled the close: a ticket left waiting on each of 12 days.
    kiosk = api.device("kiosk")  # a paired kiosk's token lasts; a staff token would expire
    for _day in range(12):
        api.issue("A", who=kiosk)
        clock.advance(days=1)
    clock.advance(days=1)  # the 12th day's night has passed too
    card = _card(StaffBrowser(app, "admin").get("/admin/").text)
    days = re.findall(r"<td>(\d{4}-\d{2}-\d{2})</td>", card)
    assert days == [f"2026-12-{d:02d}" for d in range(6, 0, -1)] + \
        [f"2026-11-{d:02d}" for d in range(30, 26, -1)]  # the 6th of December back to 27 Nov
    assert "y 2 días más, más antiguos" in card
