"""The citizens' pages before the visit and the channels' administration page, read by axe-core
in a real Chromium on a phone (and the admin page at 1366 px): no serious or critical finding, a
visible focus on everything that takes it."""

import pytest

from tests.a11y.test_accessibility import _context, _login, focus_is_visible, serious_findings
from tests.channels.slots import next_free_slot
from tests.conftest import DEMO_ADMIN

# What axe-core reads does not depend on the engine: one engine here.
pytestmark = [pytest.mark.browser, pytest.mark.engines("sqlite")]


def test_the_public_pages_have_no_serious_finding_and_show_their_focus(browser, live_server):
    today, slot = next_free_slot(live_server)
    booked = live_server.call(None, "POST", "/api/v1/public/appointments", {
        "site": "cam-centro", "service": "A", "start": slot["start_ms"],
        "accept_privacy": True}).json()
    taken = live_server.call(None, "POST", "/api/v1/public/sites/cam-centro/remote-tickets",
                             {"service": "A"}).json()
    pages = [f"/citas/cam-centro?service=A&day={today}", "/turno/cam-centro", taken["status_url"],
             "/espera/villa-esperanza"]
    pages.append(f"/citas/c/{booked['code'].replace('-', '')}")
    context = _context(browser, live_server, {"width": 390, "height": 844}, is_mobile=True,
                       has_touch=True)
    found, unfocused = [], []
    try:
        page = context.new_page()
        for path in pages:
            page.goto(live_server.url + path)
            found += [f"{path}: {f}" for f in serious_findings(page)]
            unfocused += [f"{path}: {f}" for f in focus_is_visible(page, 12)]
    finally:
        context.close()
    admin = _context(browser, live_server, {"width": 1366, "height": 768})
    try:
        page = _login(admin, live_server, DEMO_ADMIN)
        page.goto(live_server.url + "/admin/sites/cam-centro/channels")
        found += [f"admin: {f}" for f in serious_findings(page)]
        unfocused += [f"admin: {f}" for f in focus_is_visible(page, 15)]
    finally:
        admin.close()
    assert found == [] and unfocused == []
