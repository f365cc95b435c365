"""A server set up for HTTPS, opened over plain http: the page says to use https instead of failing later.

With Secure cookies (the deployment's env file turns them on) a browser on http://
keeps neither the session nor a device's pairing: an official's login ended in
"La solicitud no trae un token CSRF válido. Recargue la página" however often it
was reloaded, and a kiosk's pairing used up its one-time code and left the kiosk
unpaired. The browser is the one that knows which scheme it is on (behind a proxy
the server may not), so the page tells, and offers the https address.
"""

import re

import pytest
import requests

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


@pytest.fixture
def secure_server(tmp_path, database):
    """``run.py serve --demo`` with Secure cookies and its public https address, reached over http."""
    server = LiveServer(tmp_path / "instance", database=database,
                        extra_args=["--secure-cookies", "--public-url", "https://turnos.villa.gov.co"])
    server.start()
    yield server
    server.close()


def test_login_over_http_on_a_secure_server_points_to_https_and_keeps_the_form_from_failing(
        browser, secure_server):
    from playwright.sync_api import expect

    context = browser.new_context(locale="es-CO")
    page = context.new_page()
    try:
        page.goto(secure_server.url + "/login?next=/desk/")
        notice = page.locator("#https-needed")
        expect(notice).to_be_visible()
        expect(notice).to_contain_text("https")
        expect(notice.locator("a")).to_have_attribute("href", "https://turnos.villa.gov.co/login?next=/desk/")
        expect(page.locator("main form button[type=submit]")).to_be_disabled()
    finally:
        context.close()


def test_a_pairing_link_opened_over_http_on_a_secure_server_keeps_its_code(browser, secure_server):
    from playwright.sync_api import expect

    printed = secure_server.log.read_text()
    pairing = re.search(r"Kiosk \(pair\):\s+https://turnos\.villa\.gov\.co(/pair/\S+)", printed)
    assert pairing, "the demo server printed no kiosk pairing link on its public address"
    link = secure_server.url + pairing.group(1)  # opened by the server's LAN address, over http
    context = browser.new_context(locale="es-CO")
    page = context.new_page()
    try:
        page.goto(link)
        expect(page.locator("#https-needed")).to_be_visible()
        expect(page.locator("#pair")).to_be_disabled()
    finally:
        context.close()
    # The code was not used up: the link still offers to pair this kiosk (as it will over https).
    again = requests.get(link, timeout=10)
    assert again.status_code == 200 and "Vincular este equipo" in again.text


def test_a_server_without_secure_cookies_shows_no_such_notice(browser, live_server):
    from playwright.sync_api import expect

    context = browser.new_context(locale="es-CO")
    page = context.new_page()
    try:
        page.goto(live_server.url + "/login")
        expect(page.locator("main form button[type=submit]")).to_be_enabled()
        expect(page.locator("#https-needed")).to_have_count(0)
    finally:
        context.close()
