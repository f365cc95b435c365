"""A citizen follows a ticket on a phone and rates it; a survey screen asks at the desk. Real Chromium."""

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

WAIT = 15_000  # ms
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True, "locale": "es-CO"}


@pytest.fixture
def tokens(live_server, demo_logins):
    """Bearer tokens of the demo admin and the first official on the live server."""
    return {"admin": live_server.token(*demo_logins["admin"]),
            "official": live_server.token(*demo_logins["official"])}


def test_the_phone_page_follows_the_ticket_live_until_the_citizen_rates_it(browser, live_server,
                                                                           tokens, artifacts):
    call = live_server.call
    call(tokens["admin"], "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"})
    mine = call(tokens["admin"], "POST", "/api/v1/tickets",
                {"site": "cam-centro", "service": "A"}).json()
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        page.goto(mine["status_url"])
        expect(page.locator("#code")).to_have_text("A-002")
        expect(page.locator("#ahead")).to_have_text("1")
        expect(page.locator("#live-mark")).to_have_class("live-mark on", timeout=WAIT)
        page.screenshot(path=str(artifacts / "status-waiting.png"), full_page=True)

        assert call(tokens["official"], "POST", "/api/v1/desks/cam-centro:1/session").status_code == 201
        first = call(tokens["official"], "POST", "/api/v1/desks/cam-centro:1/next").json()
        expect(page.locator("#ahead")).to_have_text("0", timeout=WAIT)
        call(tokens["official"], "POST", f"/api/v1/tickets/{first['id']}/no-show")
        call(tokens["official"], "POST", "/api/v1/desks/cam-centro:1/next")
        expect(page.locator("#called-desk")).to_have_text("Diríjase al Módulo 1", timeout=WAIT)
        expect(page.locator("#waiting-panel")).to_be_hidden()
        page.screenshot(path=str(artifacts / "status-called.png"), full_page=True)

        call(tokens["official"], "POST", f"/api/v1/tickets/{mine['id']}/start")
        expect(page.locator("#message")).to_have_text("En atención en Módulo 1.", timeout=WAIT)
        call(tokens["official"], "POST", f"/api/v1/tickets/{mine['id']}/finish")
        expect(page.locator("#rating-panel")).to_be_visible(timeout=WAIT)
        page.locator("label.score-5").click()
        page.locator("#comment").fill("Rápido y amable")
        page.locator("#rate-button").click()
        expect(page.locator("#thanks")).to_be_visible(timeout=WAIT)
        expect(page.locator("#rating-panel")).to_be_hidden()
        page.screenshot(path=str(artifacts / "status-rated.png"), full_page=True)
    finally:
        context.close()


def test_an_unknown_ticket_address_shows_a_plain_not_found_page(browser, live_server):
    context = browser.new_context(**PHONE)
    try:
        page = context.new_page()
        response = page.goto(live_server.url + "/t/not-a-real-ticket-id")
        assert response.status == 404
        expect(page.locator("body")).to_contain_text("Este turno no existe")
    finally:
        context.close()


def test_the_survey_screen_asks_when_the_desk_finishes(browser, live_server, tokens, artifacts):
    from shared import store
    from shared.db import connect

    call = live_server.call
    device = call(tokens["admin"], "POST", "/api/v1/devices",
                  {"site": "cam-centro", "kind": "survey", "name": "Encuesta módulo 1"}).json()
    db = connect(live_server.database)
    desk = store.find_desk(db, "1", store.find_site(db, "cam-centro")["id"])
    store.set_device_config(db, device["id"], {"desk": desk["id"]})
    db.conn.close()
    context = browser.new_context(viewport={"width": 1024, "height": 768}, locale="es-CO")
    try:
        context.add_cookies([{"name": "turnos_device", "value": device["token"],
                              "url": live_server.url}])
        page = context.new_page()
        page.goto(live_server.url + "/survey/")
        expect(page.locator("#survey-idle h1")).to_have_text("Módulo 1")
        expect(page.locator("#live-mark")).to_have_class("live-mark on", timeout=WAIT)
        ticket = call(tokens["admin"], "POST", "/api/v1/tickets",
                      {"site": "cam-centro", "service": "B"}).json()
        call(tokens["official"], "POST", "/api/v1/desks/cam-centro:1/session")
        call(tokens["official"], "POST", "/api/v1/desks/cam-centro:1/next")
        call(tokens["official"], "POST", f"/api/v1/tickets/{ticket['id']}/start")
        call(tokens["official"], "POST", f"/api/v1/tickets/{ticket['id']}/finish")
        expect(page.locator("#survey-ask")).to_be_visible(timeout=WAIT)
        expect(page.locator("#survey-code")).to_have_text("Turno B-001")
        page.screenshot(path=str(artifacts / "survey-ask.png"))
        page.locator("label.score-4").click()
        page.locator("#survey-send").click()
        expect(page.locator("#survey-thanks")).to_be_visible(timeout=WAIT)
        status = call(tokens["admin"], "GET", f"/api/v1/tickets/{ticket['id']}").json()
        visit = status["status_url"].rsplit("/", 1)[1]
        import requests

        assert requests.get(f"{live_server.url}/t/{visit}.json", timeout=10).json()["rated"] is True
    finally:
        context.close()
