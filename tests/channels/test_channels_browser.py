"""Before and beyond the kiosk, in a real Chromium against a real server: a citizen books, moves
and cancels an appointment from a phone (the mails reach a real SMTP server), checks in at the
kiosk with a barcode reader, and two citizens take turns from their phones: one confirms arrival
at the kiosk and is called, the other never comes and is skipped."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.channels.peers import MailServer
from tests.channels.slots import next_free_slot
from tests.conftest import DEMO_ADMIN, DEMO_OFFICIAL, LiveServer, login  # noqa: F401

# The storage paths are the API stories' (tests/channels, both engines): one engine here.
pytestmark = [pytest.mark.browser, pytest.mark.engines("sqlite")]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
         "locale": "es-CO"}
PORTRAIT = {"width": 1080, "height": 1920}
CODE = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}$")
# Records what the status page asks of the phone: vibrations and browser notifications.
SPY = """
window.__buzz = []; window.__notes = [];
navigator.vibrate = (p) => { window.__buzz.push(p); return true; };
window.Notification = class { constructor(title, options) { window.__notes.push(title); }
  static requestPermission() { return Promise.resolve('granted'); } };
window.Notification.permission = 'granted';
"""


@pytest.fixture
def mail():
    """A real SMTP server on loopback for the story."""
    with MailServer() as server:
        yield server


@pytest.fixture
def server(tmp_path, database, mail):
    """``run.py serve --demo`` that sends e-mail through the story's SMTP server, its worker every second."""
    live = LiveServer(tmp_path / "instance", database=database, env={
        "TURNOS_SMTP_HOST": "127.0.0.1", "TURNOS_SMTP_PORT": str(mail.port),
        "TURNOS_CHANNELS_INTERVAL_SECONDS": "1", "TURNOS_PUBLIC_URL": "https://turnos.villa.gov.co"})
    live.start()
    yield live
    live.close()


def _kiosk(browser, server):
    """A browser context paired as a kiosk of CAM Centro."""
    admin = server.token(*DEMO_ADMIN)
    r = server.call(admin, "POST", "/api/v1/devices", {"site": "cam-centro", "kind": "kiosk",
                                                        "name": "Kiosco de la entrada"})
    context = browser.new_context(viewport=PORTRAIT, has_touch=True, locale="es-CO")
    context.add_cookies([{"name": "turnos_device", "value": r.json()["token"], "url": server.url}])
    return context


def test_a_citizen_books_moves_and_cancels_from_a_phone_and_gets_the_mails(browser, server, mail,
                                                                          artifacts):
    # The administrator lets CAM Centro send e-mails (off by default).
    desk = browser.new_context(viewport={"width": 1366, "height": 900}, locale="es-CO")
    admin = desk.new_page()
    admin.goto(server.url + "/login")
    admin.get_by_label("Usuario").fill(DEMO_ADMIN[0])
    admin.get_by_label("Contraseña").fill(DEMO_ADMIN[1])
    admin.get_by_role("button", name="Ingresar").click()
    admin.goto(server.url + "/admin/sites/cam-centro/channels")
    admin.locator("#f-notify_email").check()
    admin.get_by_role("button", name="Guardar cambios").click()
    expect(admin.locator("#f-notify_email")).to_be_checked()
    desk.close()

    context = browser.new_context(**PHONE)
    page = context.new_page()
    try:
        page.goto(server.url + "/citas/cam-centro")
        page.get_by_role("link", name="Impuesto predial").click()
        page.locator(".days a").first.click()
        # Nothing personal is asked but what the entity configured; the notice comes first.
        expect(page.locator("#f-name")).to_have_count(0)
        expect(page.locator(".pub-privacy")).to_contain_text("se borran cuando termina la visita")
        page.locator(".pub-slot").first.click()
        page.get_by_label("Correo electrónico para el recordatorio (opcional)").fill("ana@example.org")
        page.locator("#f-accept").check()
        page.screenshot(path=str(artifacts / "portal-booking-phone.png"), full_page=True)
        page.get_by_role("button", name="Reservar cita").click()
        expect(page.locator("#code")).to_have_text(CODE)
        code = page.locator("#code").inner_text()
        first_time = page.locator("#when").inner_text()
        # The QR the kiosk reads is drawn (wait for the image itself: the page is shown before it loads).
        page.wait_for_function("() => { const qr = document.querySelector('.pub-qr');"
                               " return qr.complete && qr.naturalWidth > 0; }", timeout=10_000)
        page.screenshot(path=str(artifacts / "portal-appointment-phone.png"), full_page=True)
        to, booked = mail.next(timeout=15)
        assert to == ["ana@example.org"] and code in booked.get_content()

        # Moving keeps the code; the new time, within a day, is reminded by mail. The soonest day
        # offering another slot is chosen (late in the evening today may offer only one).
        days = page.locator("#move-title ~ ul a")
        for i in range(days.count()):
            days.nth(i).click()
            expect(days.nth(i)).to_have_class(re.compile(r"\bchosen\b"))
            if page.locator("#move-form .pub-slot").count() >= 2:
                break
        page.locator("#move-form .pub-slot").nth(1).click()
        page.get_by_role("button", name="Cambiar a este horario").click()
        expect(page.locator("#done")).to_contain_text("Cita cambiada")
        expect(page.locator("#code")).to_have_text(code)
        assert page.locator("#when").inner_text() != first_time
        _to, reminder = mail.next(timeout=15)
        assert "Recordatorio" in reminder["Subject"]
        assert page.locator("#when").inner_text()[-5:] in reminder.get_content()

        page.get_by_role("button", name="Cancelar mi cita").click()
        expect(page.locator("#status")).to_have_text("cancelada")
        expect(page.locator("#cancel")).to_have_count(0)
    finally:
        context.close()


def test_a_citizen_with_an_appointment_checks_in_with_the_kiosk_s_barcode_reader(browser, live_server,
                                                                                 artifacts):
    _day, slot = next_free_slot(live_server)
    booked = live_server.call(None, "POST", "/api/v1/public/appointments", {
        "site": "cam-centro", "service": "A", "start": slot["start_ms"],
        "accept_privacy": True}).json()
    context = _kiosk(browser, live_server)
    page = context.new_page()
    try:
        page.goto(live_server.url + "/kiosk/")
        expect(page.locator("#checkin-open")).to_be_visible()
        # A USB reader in keyboard mode types the QR's address and Enter, within milliseconds.
        page.keyboard.type(f"{live_server.url}/citas/c/{booked['code'].replace('-', '')}", delay=3)
        page.keyboard.press("Enter")
        expect(page.locator("#t-checked")).to_have_text("Cita registrada. Este es su turno.")
        expect(page.locator("#t-code")).to_have_text("A-001")
        expect(page.locator("#t-print")).to_have_text("Tome su tiquete impreso.", timeout=15_000)
        page.screenshot(path=str(artifacts / "kiosk-checkin-appointment.png"))
        assert list((live_server.instance / "tickets").glob("*-A-001.bin"))
        # The same code again is refused with a clear message.
        page.locator("#t-done").click()
        page.locator("#checkin-open").click()
        page.locator("#checkin-code").fill(booked["code"])
        page.locator("#checkin-go").click()
        expect(page.locator("#error-text")).to_contain_text("ya se registró")
    finally:
        context.close()
    official = live_server.token(*DEMO_OFFICIAL)
    live_server.call(official, "POST", "/api/v1/desks/cam-centro:1/session")
    called = live_server.call(official, "POST", "/api/v1/desks/cam-centro:1/next").json()
    assert called["code"] == "A-001"


def test_a_turn_from_a_phone_is_called_once_its_citizen_arrives_and_the_absent_one_is_skipped(
        browser, live_server, artifacts):
    phones = []
    for _ in range(2):
        phone = browser.new_context(**PHONE)
        phone.add_init_script(SPY)
        phones.append(phone)
    absent, coming = (p.new_page() for p in phones)
    kiosk = _kiosk(browser, live_server)
    try:
        for page in (absent, coming):
            page.goto(live_server.url + "/turno/cam-centro")
            page.locator("input[name=service][value=A]").check()
            page.get_by_role("button", name="Tomar turno").click()
            expect(page.locator("#arrival-panel")).to_be_visible()
            expect(page.locator("#leave")).to_contain_text("Salga")
        expect(coming.locator("#code")).to_have_text("A-002")
        coming.locator("#alerts-on").click()
        coming.screenshot(path=str(artifacts / "status-remote-awaiting.png"), full_page=True)
        arrival_code = coming.locator("#arrival-code").inner_text()

        admin = live_server.token(*DEMO_ADMIN)
        walk_in = live_server.call(admin, "POST", "/api/v1/tickets",
                                   {"site": "cam-centro", "service": "A"}).json()
        official = live_server.token(*DEMO_OFFICIAL)
        live_server.call(official, "POST", "/api/v1/desks/cam-centro:1/session")
        first = live_server.call(official, "POST", "/api/v1/desks/cam-centro:1/next").json()
        assert first["id"] == walk_in["id"]                  # nobody called to an empty room
        expect(absent.locator("#deadline")).to_contain_text("confirme su llegada antes de las")

        # The second citizen arrives and types the arrival code on the kiosk's keys.
        page = kiosk.new_page()
        page.goto(live_server.url + "/kiosk/")
        page.locator("#checkin-open").tap()
        for ch in arrival_code.replace("-", ""):
            page.locator("#checkin-keys button", has_text=re.compile(f"^{ch}$")).tap()
        page.locator("#checkin-go").tap()
        expect(page.locator("#t-checked")).to_have_text("Llegada confirmada. Espere a que lo llamen.")
        expect(coming.locator("#arrival-panel")).to_be_hidden()

        live_server.call(official, "POST", f"/api/v1/tickets/{walk_in['id']}/no-show")
        called = live_server.call(official, "POST", "/api/v1/desks/cam-centro:1/next").json()
        assert called["code"] == "A-002"                     # the phone's turn, not the absent A-001
        expect(coming.locator("#called-panel")).to_be_visible()
        expect(coming.locator("#called-desk")).to_have_text("Diríjase al Módulo 1")
        expect(coming.locator("#ticket-status")).to_have_attribute("data-alerted", re.compile("called"))
        assert "¡Es su turno!" in coming.evaluate("window.__notes")
        assert coming.evaluate("window.__buzz.length") >= 1
        expect(absent.locator("#arrival-panel")).to_be_visible()
        expect(absent.locator("#ticket-status")).to_have_attribute("data-status", "waiting")
    finally:
        kiosk.close()
        for phone in phones:
            phone.close()
