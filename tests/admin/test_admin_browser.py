"""In a real browser, an administrator pairs a kiosk, adds a service and a desk; the kiosk and the
desk see them without restarting the server."""

import re

import pytest

from tests.conftest import DEMO_ADMIN, DEMO_OFFICIAL

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _login(context, base, username, password):
    """Log in through the login page; return the page."""
    page = context.new_page()
    page.goto(base + "/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("main button[type=submit]")
    return page


def test_a_new_service_and_desk_reach_the_kiosk_and_the_desk_without_a_restart(
        live_server, browser, artifacts):
    from playwright.sync_api import expect

    base = live_server.url
    admin_ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="es-CO")
    kiosk_ctx = browser.new_context(viewport={"width": 1080, "height": 1700}, locale="es-CO")
    desk_ctx = browser.new_context(viewport={"width": 1280, "height": 900}, locale="es-CO")
    try:
        admin = _login(admin_ctx, base, *DEMO_ADMIN)
        expect(admin).to_have_url(re.compile(r"/admin/$"))
        expect(admin.locator("h1")).to_have_text("Administración")

        # Pair a kiosk from the devices page: the code and its QR are shown once.
        admin.goto(base + "/admin/devices")
        admin.select_option("#f-site", label="CAM Centro")
        admin.select_option("#f-kind", "kiosk")
        admin.fill("#f-name", "Kiosco entrada sur")
        admin.click("#device-form button[type=submit]")
        expect(admin.locator("#pair-code")).to_have_text(re.compile(r"^[A-Z0-9]{8}$"))
        expect(admin.locator("img.pair-qr")).to_be_visible()
        admin.screenshot(path=str(artifacts / "admin-pairing-code.png"), full_page=True)
        link = admin.locator("#pair-link").get_attribute("href")

        kiosk = kiosk_ctx.new_page()
        kiosk.goto(link)
        kiosk.click("#pair")
        expect(kiosk).to_have_url(re.compile(r"/kiosk/$"))
        expect(kiosk.locator(".k-service-btn, .k-group-btn").first).to_be_visible()
        expect(kiosk.get_by_text("Certificados de residencia")).to_have_count(0)
        kiosk.evaluate("window.heard = []; window.TurnosKiosk.socket.on('config_changed', "
                       "function (p) { window.heard.push(p); });")

        # A new service, with a mistake first: the refusal names the field and keeps the input.
        admin.goto(base + "/admin/sites/cam-centro/services")
        form = admin.locator("#service-form")
        form.locator("#f-code").fill("G")
        form.locator("#f-prefix").fill("A")
        form.locator("#f-name").fill("Certificados de residencia")
        form.locator("#f-group_name").fill("Ventanilla única")
        form.locator("#f-description").fill("Certificado de residencia para trámites.")
        form.locator("#f-requirements").fill("Documento de identidad y recibo de servicio público.")
        form.locator("#f-target_wait_minutes").fill("12")
        form.locator("button[type=submit]").click()
        expect(admin.locator("#form-error")).to_have_text(
            "El prefijo «A» ya lo usa el servicio «Impuesto predial».")
        expect(admin.locator("#f-name")).to_have_value("Certificados de residencia")
        admin.screenshot(path=str(artifacts / "admin-service-refused.png"), full_page=True)
        admin.locator("#service-form #f-prefix").fill("G")
        admin.locator("#service-form button[type=submit]").click()
        expect(admin.locator("#services-table tr[data-code=G]")).to_contain_text(
            "Certificados de residencia")
        admin.screenshot(path=str(artifacts / "admin-service-created.png"), full_page=True)
        kiosk.wait_for_function("window.heard.some(function (p) { return p.what === 'services'; })")

        # A new desk that calls G first, then A.
        admin.goto(base + "/admin/sites/cam-centro/desks")
        admin.fill("#desk-form #f-code", "7")
        admin.fill("#desk-form #f-name", "Módulo 7")
        admin.fill("#desk-form input[data-service=G]", "1")
        admin.fill("#desk-form input[data-service=A]", "2")
        admin.click("#desk-form button[type=submit]")
        row = admin.locator("#desks-table tr[data-code='7']")
        expect(row).to_contain_text("1. Certificados de residencia")
        expect(row).to_contain_text("2. Impuesto predial")
        admin.screenshot(path=str(artifacts / "admin-desk-created.png"), full_page=True)

        # The API gives the kiosk and an official the new configuration at once.
        admin_token = live_server.token(*DEMO_ADMIN)
        device_token = live_server.call(admin_token, "POST", "/api/v1/devices", {
            "site": "cam-centro", "kind": "kiosk", "name": "Kiosco API"}).json()["token"]
        services = live_server.call(device_token, "GET", "/api/v1/sites/cam-centro/services").json()
        assert "G" in [s["code"] for s in services["services"]]
        official_token = live_server.token(*DEMO_OFFICIAL)
        desks = live_server.call(official_token, "GET", "/api/v1/sites/cam-centro/desks").json()
        assert [d["services"] for d in desks["desks"] if d["code"] == "7"] == [["G", "A"]]

        # The kiosk's start screen offers the service at once, with its requirements (no reload).
        group = kiosk.locator(".k-group-btn[data-group='Ventanilla única']")
        expect(kiosk.locator(".k-service-btn, .k-group-btn").first).to_be_visible()
        if group.count():
            group.click()
        while not kiosk.locator(".k-service-btn[data-service=G]:visible").count() and \
                kiosk.locator("#pager [data-page='1']:enabled").count():
            kiosk.locator("#pager [data-page='1']").click()
        button = kiosk.locator(".k-service-btn[data-service=G]:visible")
        expect(button).to_contain_text("Certificados de residencia")
        kiosk.screenshot(path=str(artifacts / "kiosk-new-service.png"), full_page=True)
        button.click()
        expect(kiosk.locator("#chosen-req")).to_contain_text(
            "Documento de identidad y recibo de servicio público.")

        # The official's desk picker offers the new desk.
        desk = _login(desk_ctx, base, *DEMO_OFFICIAL)
        expect(desk).to_have_url(re.compile(r"/desk/"))
        choice = desk.locator(".desk-choice", has_text="Módulo 7")
        expect(choice).to_be_visible()
        expect(choice).to_contain_text("G · A")
        desk.screenshot(path=str(artifacts / "desk-picker-new-desk.png"), full_page=True)
    finally:
        for context in (admin_ctx, kiosk_ctx, desk_ctx):
            context.close()
