"""A citizen at the kiosk in a real Chromium: tap a procedure, answer the preferential question,
get the ticket on screen while the (virtual) printer prints it; the kiosk survives the server going away.
"""

from __future__ import annotations

import re
import shutil

import pytest

from tests.conftest import DEMO_ADMIN

pytestmark = pytest.mark.browser

PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1920, "height": 1080}
MM15 = 15 * 96 / 25.4  # CSS pixels in 15 mm


def _kiosk_context(browser, live_server, viewport):
    """A browser context paired as a new kiosk of CAM Centro (its device cookie set)."""
    admin = live_server.token(*DEMO_ADMIN)
    r = live_server.call(admin, "POST", "/api/v1/devices",
                         {"site": "cam-centro", "kind": "kiosk", "name": "Kiosco de prueba"})
    assert r.status_code == 201, r.text
    context = browser.new_context(viewport=viewport, has_touch=True, locale="es-CO")
    context.add_cookies([{"name": "turnos_device", "value": r.json()["token"], "url": live_server.url}])
    return context


def _smallest_target(page) -> float:
    """Return the height in CSS pixels of the smallest visible button."""
    return page.evaluate("""() => Math.min(...[...document.querySelectorAll('button')]
        .filter(b => b.offsetParent !== null).map(b => b.getBoundingClientRect().height))""")


def _printed(live_server, code: str):
    """Return the virtual printer's stored files of a ticket code."""
    folder = live_server.instance / "tickets"
    return sorted(folder.glob(f"*-{code}.*")) if folder.is_dir() else []


def test_a_citizen_takes_a_general_then_a_preferential_ticket(browser, live_server, artifacts):
    from playwright.sync_api import expect

    context = _kiosk_context(browser, live_server, PORTRAIT)
    page = context.new_page()
    try:
        page.goto(live_server.url + "/kiosk/")
        expect(page.locator("#services .k-service-btn")).to_have_count(6)
        assert _smallest_target(page) >= MM15
        page.screenshot(path=str(artifacts / "kiosk-portrait-services.png"))

        page.locator("[data-service='A']").tap()
        expect(page.locator("#step-priority")).to_be_visible()
        expect(page.locator("#chosen-service")).to_have_text("Impuesto predial")
        # The chosen procedure's requirements, before the ticket.
        expect(page.locator("#chosen-req")).to_contain_text("Documento de identidad")
        expect(page.locator("#categories .k-cat")).to_have_count(6)
        expect(page.locator("#step-priority h1")).to_have_text("¿Está usted en alguno de estos casos?")
        expect(page.locator("[data-priority='adulto_mayor']")).to_have_text("Adulto mayor (60 años o más)")
        expect(page.locator("#priority-none")).to_have_text("No, ninguno")
        assert _smallest_target(page) >= MM15
        page.screenshot(path=str(artifacts / "kiosk-portrait-preferential.png"))

        # An impatient double tap on "No": one ticket.
        page.locator("#priority-none").dblclick()
        expect(page.locator("#t-code")).to_have_text("A-001")
        expect(page.locator("#t-ahead")).to_have_text("Personas antes de usted: 0")
        expect(page.locator("#t-print")).to_have_text("Tome su tiquete impreso.")
        page.wait_for_function("() => { const qr = document.getElementById('t-qr');"
                               " return qr.complete && qr.naturalWidth > 100; }")
        page.screenshot(path=str(artifacts / "kiosk-portrait-ticket.png"))
        assert [p.suffix for p in _printed(live_server, "A-001")] == [".bin", ".png"]

        page.locator("#t-done").tap()
        expect(page.locator("#step-thanks")).to_be_visible()
        expect(page.locator("#step-services")).to_be_visible(timeout=10_000)

        page.set_viewport_size(LANDSCAPE)
        page.screenshot(path=str(artifacts / "kiosk-landscape-services.png"))
        page.locator("[data-service='C']").tap()
        page.locator("[data-priority='adulto_mayor']").tap()
        expect(page.locator("#t-code")).to_have_text("PC-001")
        expect(page.locator("#t-pref")).to_have_text("Atención preferencial · Adulto mayor (60 años o más)")
        expect(page.locator("#t-print")).to_have_text("Tome su tiquete impreso.")
        page.screenshot(path=str(artifacts / "kiosk-landscape-ticket.png"))
        preview = [p for p in _printed(live_server, "PC-001") if p.suffix == ".png"]
        assert preview
        shutil.copy(preview[0], artifacts / "ticket-PC-001.png")
    finally:
        context.close()

    admin = live_server.token(*DEMO_ADMIN)
    queue = live_server.call(admin, "GET", "/api/v1/sites/cam-centro/queue").json()
    assert sorted(t["code"] for t in queue["waiting"]) == ["A-001", "PC-001"]


def test_back_english_and_a_kiosk_left_alone_returns_to_the_start_in_spanish(browser, live_server):
    from playwright.sync_api import expect

    context = _kiosk_context(browser, live_server, PORTRAIT)
    page = context.new_page()
    page.clock.install()
    try:
        page.goto(live_server.url + "/kiosk/")
        page.locator("#lang-switch").tap()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.locator("[data-service='E']").tap()
        expect(page.locator("#step-priority")).to_be_visible()
        page.locator("#step-priority .k-back").tap()
        expect(page.locator("#step-services")).to_be_visible()
        expect(page.locator("#step-priority")).to_be_hidden()

        page.locator("[data-service='E']").tap()
        expect(page.locator("#step-priority")).to_be_visible()
        page.clock.fast_forward("00:29")
        expect(page.locator("#more-time")).to_be_hidden()
        # Left alone, the kiosk first asks whether the citizen needs more time; one touch says yes.
        page.clock.fast_forward("00:02")
        expect(page.locator("#more-time")).to_be_visible()
        expect(page.locator("#more-time-title")).to_have_text("Do you need more time?")
        page.locator("#more-time-yes").tap()
        expect(page.locator("#more-time")).to_be_hidden()
        expect(page.locator("#step-priority")).to_be_visible()
        # Asked again and not answered within 20 seconds: back to the start, in Spanish.
        page.clock.run_for("00:31")
        expect(page.locator("#more-time")).to_be_visible()
        page.clock.run_for("00:15")
        expect(page.locator("#step-priority")).to_be_visible()
        expect(page.locator("#more-time-left")).to_contain_text(re.compile(r"in \d seconds"))
        page.clock.run_for("00:07")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        expect(page.locator("#step-services")).to_be_visible()
    finally:
        context.close()
    admin = live_server.token(*DEMO_ADMIN)
    assert live_server.call(admin, "GET", "/api/v1/sites/cam-centro/queue").json()["waiting"] == []


def test_a_kiosk_paired_with_its_code_goes_out_of_service_and_comes_back(browser, live_server, artifacts):
    from playwright.sync_api import expect

    pairing = re.search(r"Kiosk \(pair\):\s+(\S+)", live_server.log.read_text())
    assert pairing, "the demo server printed no kiosk pairing link"
    context = browser.new_context(viewport=PORTRAIT)
    page = context.new_page()
    try:
        page.goto(pairing.group(1))
        page.locator("#pair").click()
        expect(page).to_have_url(re.compile(r"/kiosk/$"))
        expect(page.locator("#services .k-service-btn").first).to_be_visible()

        live_server.stop()
        expect(page.locator("#offline")).to_be_visible(timeout=20_000)
        expect(page.locator("#offline")).to_contain_text("Fuera de servicio")
        page.screenshot(path=str(artifacts / "kiosk-portrait-offline.png"))

        live_server.start()
        expect(page.locator("#offline")).to_be_hidden(timeout=30_000)
        page.locator("[data-service='B']").click()
        page.locator("#priority-none").click()
        expect(page.locator("#t-code")).to_have_text("B-001")
    finally:
        context.close()
