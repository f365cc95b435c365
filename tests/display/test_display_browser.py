"""The waiting-room TV in a real Chromium against a real server: calls appear, are heard, and heal."""

import re
import threading

import pytest
from playwright.sync_api import expect

from tests.conftest import CHROMIUM_ARGS, require_program
from tests.display.helpers import announced, wait_until, wait_without_a_gesture

STAFF_NAMES = ("funcionario1", "funcionario2", "Funcionaria Uno", "Funcionario Dos")


def test_a_tv_paired_by_code_shows_and_speaks_a_call_made_at_the_desk(browser, hall, artifacts):
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        page = context.new_page()
        page.goto(hall.server.url + hall.pairing_link())
        page.click("#pair")
        expect(page).to_have_url(re.compile(r"/display/$"))
        wait_until(page, "() => window.TurnosDisplay && TurnosDisplay.connected")
        expect(page.locator("#site-name")).to_have_text("CAM Centro")
        expect(page.locator("#message")).to_contain_text("Tenga a mano su documento")
        expect(page.locator("#clock-time")).to_have_text(re.compile(r"\d{1,2}:\d\d"))

        hall.issue("A", priority="gestante")
        hall.take_desk(0, "cam-centro:1")
        hall.next(0, "cam-centro:1")

        expect(page.locator("#current-code")).to_have_text("PA-001")
        expect(page.locator("#current-desk")).to_have_text("Módulo 1")
        expect(page.locator("#current-pref")).to_have_text("Preferencial")
        expect(page.locator("#current")).to_have_class(re.compile(r"\bpulse\b"))
        page.screenshot(path=str(artifacts / "display-call.png"))

        wait_until(page, "() => TurnosDisplay.announced.length === 1")
        [spoken] = announced(page)
        assert (spoken["code"], spoken["desk"], spoken["spoken"]) == ("PA-001", "1", "server")
        assert spoken["preferential"] is True
        # The category is never on the screen ("Mujer gestante"), nor any official's name.
        text = page.locator("body").inner_text()
        assert "gestante" not in text.lower()
        for name in STAFF_NAMES:
            assert name not in page.content()
    finally:
        context.close()


def test_two_calls_at_once_both_appear_and_are_announced_one_after_the_other(hall, screen, artifacts):
    page = screen(hall.display())
    hall.issue("A")
    hall.issue("B")
    hall.take_desk(0, "cam-centro:1")
    hall.take_desk(1, "cam-centro:2")
    # Both officials press "next" at the same moment.
    start = threading.Barrier(2)
    results = {}

    def press(official, desk):
        start.wait(5)
        results[desk] = hall.next(official, desk)

    presses = [threading.Thread(target=press, args=(0, "cam-centro:1")),
               threading.Thread(target=press, args=(1, "cam-centro:2"))]
    for thread in presses:
        thread.start()
    for thread in presses:
        thread.join(15)
    assert {t["code"] for t in results.values()} == {"A-001", "B-001"}

    expect(page.locator("#current-code")).to_have_text(re.compile(r"^(A-001|B-001)$"))
    expect(page.locator("#history .dsp-row")).to_have_count(1)
    shown = {page.locator("#current-code").inner_text(),
             page.locator("#history .dsp-row").get_attribute("data-code")}
    assert shown == {"A-001", "B-001"}
    page.screenshot(path=str(artifacts / "display-two-calls.png"))

    wait_until(page, "() => TurnosDisplay.announced.length === 2", timeout=30000)
    heard = announced(page)
    assert {a["code"] for a in heard} == {"A-001", "B-001"}
    assert [a["spoken"] for a in heard] == ["server", "server"]  # each played to its end
    assert heard[1]["started_at"] >= heard[0]["finished_at"]   # never over one another

    # Whoever was not there yet is called again from desk 1: a recall is announced again.
    at_desk_1 = results["cam-centro:1"]
    hall.recall(0, at_desk_1)
    wait_until(page, "() => TurnosDisplay.announced.length === 3", timeout=30000)
    again = announced(page)[2]
    assert (again["code"], again["recall"], again["spoken"]) == (at_desk_1["code"], True, "server")
    expect(page.locator("#current-code")).to_have_text(at_desk_1["code"])
    expect(page.locator("#history .dsp-row")).to_have_count(1)


def test_the_tv_heals_after_the_server_restarts_and_shows_the_call_it_missed(hall, screen,
                                                                             artifacts):
    from shared.clock import SystemClock
    from shared.queue import SYSTEM, QueueEngine

    page = screen(hall.display())
    offline = page.locator("#offline")
    expect(offline).to_be_hidden()

    hall.server.stop()
    expect(offline).to_be_visible()
    expect(offline).to_have_text("sin conexión")
    # Meanwhile, another server process of the centre calls a citizen to desk 2.
    with hall.database() as db:
        engine = QueueEngine(db, SystemClock())
        engine.issue("cam-centro", "B", actor=SYSTEM)
        engine.call_next(engine.desk("cam-centro:2"), SYSTEM)
    hall.server.start()

    # Nobody touches the TV: it reconnects, shows the missed call and still announces it.
    expect(offline).to_be_hidden(timeout=20000)
    expect(page.locator("#current-code")).to_have_text("B-001")
    expect(page.locator("#current-desk")).to_have_text("Módulo 2")
    wait_until(page, "() => TurnosDisplay.announced.some(a => a.code === 'B-001')", timeout=30000)
    page.screenshot(path=str(artifacts / "display-after-restart.png"))

    # And it is live again.
    hall.issue("A")
    hall.take_desk(0, "cam-centro:1")
    hall.next(0, "cam-centro:1")
    expect(page.locator("#current-code")).to_have_text("A-001")
    expect(page.locator("#history .dsp-row")).to_have_count(1)


def test_a_tv_for_one_zone_shows_and_chimes_only_the_calls_of_its_desks(hall, screen):
    page = screen(hall.display(config={"desks": ["3"], "voice": "chime"}))
    hall.issue("A")
    hall.issue("C")
    hall.take_desk(0, "cam-centro:1")
    hall.take_desk(1, "cam-centro:3")
    hall.next(0, "cam-centro:1")
    hall.next(1, "cam-centro:3")

    expect(page.locator("#current-code")).to_have_text("C-001")
    wait_until(page, "() => TurnosDisplay.announced.length === 1")
    assert [(a["code"], a["spoken"]) for a in announced(page)] == [("C-001", "chime")]
    expect(page.locator("#history .dsp-row")).to_have_count(0)
    expect(page.locator("#waiting")).to_contain_text("SISBÉN")
    assert page.locator("#waiting [data-service]").evaluate_all(
        "els => els.map(e => e.dataset.service)") == ["C", "D"]


@pytest.fixture
def browser_without_autoplay(browser):
    """Chromium as on a TV where nobody set the kiosk autoplay flag."""
    args = [a for a in CHROMIUM_ARGS if not a.startswith("--autoplay-policy")]
    other = browser.browser_type.launch(executable_path=require_program("chromium"), args=args)
    yield other
    other.close()


def test_without_the_autoplay_flag_the_tv_asks_for_a_tap_and_keeps_the_call(
        hall, live_server, browser_without_autoplay):
    device = hall.display(config={"voice": "chime"})
    context = browser_without_autoplay.new_context(viewport={"width": 1920, "height": 1080})
    try:
        context.add_cookies([{"name": "turnos_device", "value": device["token"],
                              "url": live_server.url}])
        page = context.new_page()
        page.goto(live_server.url + "/display/")
        # Nobody has touched this TV yet (watching it through Playwright would count as a touch).
        wait_without_a_gesture(page, "() => window.TurnosDisplay && TurnosDisplay.connected")
        hall.issue("E")
        hall.take_desk(0, "cam-centro:5")
        hall.next(0, "cam-centro:5")
        wait_without_a_gesture(page, "() => TurnosDisplay.blocked")

        prompt = page.locator("#sound-prompt")
        expect(prompt).to_be_visible()
        expect(prompt).to_have_text("Toque para activar el sonido")
        expect(page.locator("#current-code")).to_have_text("E-001")
        assert page.evaluate("() => TurnosDisplay.current.code") == "E-001"
        assert announced(page) == []

        prompt.click()
        expect(prompt).to_be_hidden()
        wait_until(page, "() => TurnosDisplay.announced.length === 1")
        assert [(a["code"], a["spoken"]) for a in announced(page)] == [("E-001", "chime")]
    finally:
        context.close()


FAKE_VOICES = """
window.spoken = [];
window.SpeechSynthesisUtterance = function (text) { this.text = text; };
Object.defineProperty(window, "speechSynthesis", { value: {
  getVoices: function () { return [{ name: "Inglés", lang: "en-US" }, { name: "Colombia", lang: "es-CO" }]; },
  speak: function (u) { window.spoken.push({ text: u.text, voice: u.voice.name, lang: u.lang });
                        setTimeout(function () { u.onend(); }, 50); }
}});
"""


def test_a_tv_with_its_own_spanish_voice_speaks_the_same_sentence(hall, live_server, browser):
    device = hall.display(config={"voice": "browser"})
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    try:
        context.add_init_script(FAKE_VOICES)  # a display PC with a Colombian Spanish voice
        context.add_cookies([{"name": "turnos_device", "value": device["token"],
                              "url": live_server.url}])
        page = context.new_page()
        page.goto(live_server.url + "/display/")
        wait_until(page, "() => window.TurnosDisplay && TurnosDisplay.connected")
        hall.issue("E")
        hall.take_desk(0, "cam-centro:5")
        hall.next(0, "cam-centro:5")
        wait_until(page, "() => TurnosDisplay.announced.length === 1")
        assert [(a["code"], a["spoken"]) for a in announced(page)] == [("E-001", "browser")]
        assert page.evaluate("() => window.spoken") == [
            {"text": "Turno e, cero cero uno, módulo cinco.", "voice": "Colombia", "lang": "es-CO"}]
    finally:
        context.close()
