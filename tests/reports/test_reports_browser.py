"""A supervisor reads the day's report and works the live monitor in a real Chromium."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

WAIT = 15_000  # ms: the longest any step may take to show on screen


@pytest.fixture
def morning(live_server, demo_logins):
    """The live demo CAM after a few tickets: one served, one no-show, two waiting."""
    admin = live_server.token(*demo_logins["admin"])
    official = live_server.token(*demo_logins["official"])
    tickets = [live_server.call(admin, "POST", "/api/v1/tickets",
                                {"site": "cam-centro", "service": code}).json()
               for code in ("A", "A", "B", "A")]
    assert live_server.call(official, "POST", "/api/v1/desks/cam-centro:1/session").status_code == 201
    first = live_server.call(official, "POST", "/api/v1/desks/cam-centro:1/next").json()
    live_server.call(official, "POST", f"/api/v1/tickets/{first['id']}/start")
    live_server.call(official, "POST", f"/api/v1/tickets/{first['id']}/finish")
    second = live_server.call(official, "POST", "/api/v1/desks/cam-centro:1/next").json()
    live_server.call(official, "POST", f"/api/v1/tickets/{second['id']}/no-show")
    return {"admin": admin, "official": official, "tickets": tickets}


def log_in(context, server, who):
    """Log in through the login page and return the page."""
    page = context.new_page()
    page.goto(server.url + "/login")
    page.get_by_label("Usuario").fill(who[0])
    page.get_by_label("Contraseña").fill(who[1])
    page.get_by_role("button", name="Ingresar").click()
    expect(page).to_have_url(re.compile(r"/reports/monitor"))
    return page


def test_the_supervisor_reads_todays_report_with_its_charts(browser, live_server, morning,
                                                            demo_logins, artifacts):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="es-CO")
    try:
        page = log_in(context, live_server, demo_logins["supervisor"])
        page.goto(live_server.url + "/reports/?period=day&site=cam-centro&group_by=service")
        expect(page.locator("#kpi-tickets")).to_have_text("4", timeout=WAIT)
        expect(page.locator("#kpi-served")).to_have_text("1")
        expect(page.locator("body")).to_have_attribute("data-charts", "ready", timeout=WAIT)
        row = page.locator('#summary-table tr[data-key="cam-centro:A"]')
        expect(row.locator("td").nth(0)).to_have_text("3")
        expect(page.locator("#heatmap")).to_be_visible()
        page.screenshot(path=str(artifacts / "reports-day.png"), full_page=True)
        page.select_option("#group_by", "desk")
        page.get_by_role("button", name="Ver informe").click()
        expect(page.locator('#summary-table tr[data-key="cam-centro:1"]')).to_be_visible(timeout=WAIT)
        # The page's script is running (it marks the charts ready): the period's change reaches it.
        expect(page.locator("body")).to_have_attribute("data-charts", "ready", timeout=WAIT)
        page.select_option("#period", "month")
        expect(page).to_have_url(re.compile(r"period=month"), timeout=WAIT)
        with page.expect_download() as download:
            page.locator('[data-export="tickets-csv"]').first.click()
        text = open(download.value.path(), encoding="utf-8-sig").read()
        assert text.count("\n") == 5 and "A-001" in text
    finally:
        context.close()


def test_the_supervisor_sees_the_room_live_and_reassigns_a_waiting_ticket(browser, live_server,
                                                                         morning, demo_logins,
                                                                         artifacts):
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="es-CO")
    try:
        page = log_in(context, live_server, demo_logins["supervisor"])
        desk1 = page.locator('#desks tr[data-desk="1"]')
        expect(desk1).to_contain_text("Disponible", timeout=WAIT)
        expect(desk1).to_contain_text("Funcionaria Uno")
        waiting = page.locator("#waiting tr[data-code]")
        expect(waiting).to_have_count(2, timeout=WAIT)
        # A citizen takes a ticket: the monitor hears it without reloading.
        live_server.call(morning["admin"], "POST", "/api/v1/tickets",
                         {"site": "cam-centro", "service": "C"})
        expect(waiting).to_have_count(3, timeout=WAIT)
        row = page.locator('#waiting tr[data-code="A-003"]')
        row.locator("select").select_option("E")
        row.locator('[data-action="reassign"]').click()
        expect(page.locator("#alerts")).to_contain_text("A-003 reasignado", timeout=WAIT)
        expect(page.locator('#waiting tr[data-code="A-003"] td').first).to_have_text("E",
                                                                                   timeout=WAIT)
        # The official calls: the desk turns to "called" with the ticket.
        live_server.call(morning["official"], "POST", "/api/v1/desks/cam-centro:1/next")
        expect(desk1).to_contain_text("Llamado", timeout=WAIT)
        expect(page.locator("#live-dot")).to_have_class(re.compile(r"\bon\b"))
        page.screenshot(path=str(artifacts / "reports-monitor.png"), full_page=True)
    finally:
        context.close()
