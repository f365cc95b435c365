"""An official's day at the desk page, in a real Chromium against a real server with the demo CAM."""

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

WAIT = 15_000   # ms: the longest any step may take to show on screen


def log_in(context, server, who=("funcionario1", "funcionario-demo-2026")):
    """Open the desk page, get sent to the login page, log in, and land back on the desk page."""
    page = context.new_page()
    page.goto(server.url + "/desk/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Usuario").fill(who[0])
    page.get_by_label("Contraseña").fill(who[1])
    page.get_by_role("button", name="Ingresar").click()
    expect(page).to_have_url(re.compile(r"/desk/$"))
    return page


def button(page, action: str):
    """Return one of the desk's big action buttons."""
    return page.locator(f'.actions [data-action="{action}"]')


def service_row(page, code: str):
    """Return the waiting counts row of a service."""
    return page.locator(f'#services tr[data-service="{code}"]')


def pairing_link(server) -> str:
    """Return the demo display's one-time pairing path that the server printed at start."""
    found = re.findall(r"Display \(pair\):\s+\S+(/pair/\w+)", server.log.read_text())
    assert found, server.log.read_text()
    return found[-1]



def test_an_official_serves_a_kiosk_ticket_the_display_shows_it_then_a_no_show_a_transfer_and_a_pause(
        browser, hall, artifacts):
    tv = browser.new_context(viewport={"width": 1280, "height": 720}, locale="es-CO")
    desk_context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="es-CO")
    try:
        display = tv.new_page()
        display.goto(hall.server.url + pairing_link(hall.server))
        display.click("#pair")
        expect(display).to_have_url(re.compile(r"/display/$"))

        page = log_in(desk_context, hall.server)
        expect(page.locator("#picker")).to_be_visible()
        expect(page.locator(".desk-choice")).to_have_count(8)
        page.screenshot(path=str(artifacts / "desk-picker.png"))
        page.locator(".desk-choice", has_text="Módulo 1").click()

        expect(page.locator("#desk-name")).to_have_text("Módulo 1")
        expect(page.locator("#desk-site")).to_have_text("CAM Centro")
        expect(page.locator("#desk-state")).to_have_text("Disponible")
        expect(page.locator("#current-code")).to_have_text("—")
        expect(button(page, "next")).to_be_disabled()          # nobody waits yet

        # A citizen takes a ticket at the kiosk: the desk sees it without reloading.
        first = hall.issue("A")
        expect(service_row(page, "A").locator('[data-field="general"]')).to_have_text("1")
        expect(page.locator("#line li[data-code]")).to_have_text(re.compile(first["code"]))
        expect(button(page, "next")).to_be_enabled()

        button(page, "next").click()
        expect(page.locator("#current-code")).to_have_text(first["code"])
        expect(page.locator("#desk-state")).to_have_text("Llamado")
        expect(page.locator("#message")).to_have_text(f"Llamando el turno {first['code']}.")
        expect(service_row(page, "A").locator('[data-field="general"]')).to_have_text("0")
        for action, enabled in (("next", False), ("recall", True), ("start", True),
                                ("finish", False), ("no_show", True), ("transfer", True),
                                ("pause", False), ("leave", False)):
            (expect(button(page, action)).to_be_enabled() if enabled
             else expect(button(page, action)).to_be_disabled())
        expect(display.locator("#current-code")).to_have_text(first["code"])
        expect(display.locator("#current-desk")).to_have_text("Módulo 1")
        display.screenshot(path=str(artifacts / "desk-story-display.png"))

        button(page, "start").click()
        expect(page.locator("#desk-state")).to_have_text("En atención")
        expect(page.locator("#timer-serving")).to_be_visible()
        expect(button(page, "finish")).to_be_enabled()
        expect(button(page, "no_show")).to_be_disabled()

        button(page, "finish").click()
        dialog = page.locator("#finish-dialog")
        expect(dialog).to_be_visible()
        dialog.get_by_label("Resuelto").check()
        dialog.get_by_label("Nota breve (opcional)").fill("Pagó el predial")
        dialog.get_by_role("button", name="Finalizar").click()
        expect(page.locator("#message")).to_have_text(f"Turno {first['code']} finalizado.")
        expect(page.locator("#current-code")).to_have_text("—")
        expect(page.locator('#today [data-field="served"]')).to_have_text("1")
        expect(page.locator("#today-tickets li").first).to_contain_text(
            f"{first['code']} · Atendido (resuelto)")

        # A citizen who does not come.
        absent = hall.issue("B")
        expect(button(page, "next")).to_be_enabled()
        button(page, "next").click()
        expect(page.locator("#current-code")).to_have_text(absent["code"])
        button(page, "no_show").click()
        expect(page.locator("#message")).to_have_text(
            f"Turno {absent['code']} marcado como no presentado.")
        expect(page.locator('#today [data-field="no_show"]')).to_have_text("1")

        # A citizen sent to another service, with a note for the next official.
        later = [hall.issue("A"), hall.issue("B")]
        moved = hall.issue("A", priority="adulto_mayor")
        expect(page.locator("#line li[data-code]")).to_have_count(3)
        expect(page.locator("#line li[data-code]").first).to_contain_text(
            f"{moved['code']}Impuesto predialAdulto mayor")      # preferential goes first
        button(page, "next").click()
        expect(page.locator("#current-code")).to_have_text(moved["code"])
        expect(page.locator("#current-priority")).to_have_text("Adulto mayor")
        button(page, "start").click()
        expect(page.locator("#desk-state")).to_have_text("En atención")
        expect(page.locator("#line li[data-code]")).to_have_count(2)
        assert [page.locator("#line li[data-code]").nth(i).get_attribute("data-code")
                for i in range(2)] == [t["code"] for t in later]
        page.screenshot(path=str(artifacts / "desk-serving.png"))
        button(page, "transfer").click()
        transfer = page.locator("#transfer-dialog")
        expect(transfer).to_be_visible()
        assert "Impuesto predial (A)" not in transfer.locator("select").inner_text()
        transfer.get_by_label("Servicio").select_option("E")
        transfer.get_by_label("Nota para quien lo atienda (opcional)").fill("Radicar derecho de petición")
        transfer.get_by_role("button", name="Transferir").click()
        expect(page.locator("#message")).to_have_text(
            f"Turno {moved['code']} transferido a Radicación de correspondencia (E).")
        expect(page.locator("#current-code")).to_have_text("—")
        expect(page.locator('#today [data-field="transferred"]')).to_have_text("1")

        # Lunch: no calls while paused, then back to work.
        button(page, "pause").click()
        page.locator("#pause-dialog").get_by_role("button", name="Almuerzo").click()
        expect(page.locator("#desk-state")).to_contain_text("En pausa · Almuerzo")
        expect(button(page, "pause")).to_contain_text("Reanudar")
        expect(button(page, "next")).to_be_disabled()
        page.screenshot(path=str(artifacts / "desk-paused.png"))
        button(page, "pause").click()
        expect(page.locator("#desk-state")).to_have_text("Disponible")
        expect(button(page, "pause")).to_contain_text("Pausa")
        page.screenshot(path=str(artifacts / "desk-day.png"))

        # Leaving the desk: the page offers it again next time.
        button(page, "leave").click()
        expect(page.locator("#picker")).to_be_visible()
        expect(page.locator("#take-last")).to_have_text("Tomar Módulo 1 (Último módulo usado)")
        page.keyboard.press("Enter")
        expect(page.locator("#desk-name")).to_have_text("Módulo 1")
    finally:
        desk_context.close()
        tv.close()


def test_keyboard_shortcuts_and_a_second_tab_of_the_same_desk(browser, hall, artifacts):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="es-CO")
    try:
        one = log_in(context, hall.server)
        one.locator(".desk-choice", has_text="Módulo 2").click()
        expect(one.locator("#desk-name")).to_have_text("Módulo 2")
        for action, key in (("next", "L"), ("recall", "V"), ("start", "I"), ("finish", "F"),
                            ("no_show", "N"), ("transfer", "T"), ("pause", "P"), ("leave", "S")):
            expect(button(one, action).locator("kbd")).to_have_text(key)

        two = context.new_page()          # the same official opens the desk in a second tab
        two.goto(hall.server.url + "/desk/")
        expect(two.locator("#desk-name")).to_have_text("Módulo 2")

        ticket = hall.issue("B", priority="gestante")
        expect(one.locator("#line li[data-code]")).to_have_count(1)
        one.keyboard.press("l")
        for page in (one, two):
            expect(page.locator("#current-code")).to_have_text(ticket["code"])
            expect(page.locator("#desk-state")).to_have_text("Llamado")
        two.keyboard.press("v")
        expect(two.locator("#message")).to_have_text(f"Turno {ticket['code']} llamado de nuevo.")
        expect(one.locator("#timer-called")).to_contain_text("2 llamados")
        two.keyboard.press("i")
        expect(one.locator("#desk-state")).to_have_text("En atención")
        one.keyboard.press("f")
        expect(one.locator("#finish-dialog")).to_be_visible()
        one.keyboard.press("Enter")
        for page in (one, two):
            expect(page.locator("#current-code")).to_have_text("—")
            expect(page.locator('#today [data-field="served"]')).to_have_text("1")
        two.keyboard.press("p")
        two.keyboard.press("4")          # the fourth reason: other
        for page in (one, two):
            expect(page.locator("#desk-state")).to_contain_text("En pausa · Otro")
        one.keyboard.press("l")          # a refused shortcut does nothing while paused
        expect(one.locator("#current-code")).to_have_text("—")
        one.screenshot(path=str(artifacts / "desk-second-tab-paused.png"))
        one.keyboard.press("p")
        for page in (one, two):
            expect(page.locator("#desk-state")).to_have_text("Disponible")

        # A citizen with a general ticket says she is pregnant: the official marks it, with the reason.
        first, second = hall.issue("A"), hall.issue("A")
        row = two.locator(f'#line li[data-code="{second["code"]}"]')
        expect(row.locator('[data-line-action="call"]')).to_have_count(0)   # not hers to jump
        row.locator('[data-line-action="mark"]').click()
        mark = two.locator("#mark-dialog")
        expect(mark).to_be_visible()
        mark.get_by_label("Categoría").select_option("gestante")
        mark.get_by_label("Motivo").fill("Lo manifestó en la ventanilla")
        mark.get_by_role("button", name="Marcar").click()
        for page in (one, two):
            expect(page.locator("#line li[data-code]").first).to_contain_text(
                f"{second['code']}Impuesto predialMujer gestante")
        expect(two.locator("#message")).to_have_text(
            f"Turno {second['code']} marcado como preferencial.")
        one.locator(f'#line li[data-code="{second["code"]}"] [data-line-action="call"]').click()
        for page in (one, two):
            expect(page.locator("#current-code")).to_have_text(second["code"])
        expect(one.locator("#line li[data-code]")).to_have_text([re.compile(first["code"])])
        two.keyboard.press("n")
        expect(one.locator("#current-code")).to_have_text("—")
        expect(two.locator("#desk-state")).to_have_text("Disponible")   # "s" only once it may leave
        two.keyboard.press("s")
        for page in (one, two):
            expect(page.locator("#picker")).to_be_visible()
    finally:
        context.close()


def test_the_desk_page_shows_a_lost_connection_and_restores_the_state_from_the_server(
        browser, hall, artifacts):
    from shared.clock import SystemClock
    from shared.db import connect
    from shared.queue import Actor, QueueEngine

    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="es-CO")
    try:
        page = log_in(context, hall.server)
        page.locator(".desk-choice", has_text="Módulo 3").click()
        expect(page.locator("#desk-state")).to_have_text("Disponible")
        expect(service_row(page, "C")).to_be_visible()
        expect(page.locator("#connection")).to_be_hidden()

        hall.server.stop()
        expect(page.locator("#connection")).to_have_text("Sin conexión con el servidor. Reconectando…")
        page.screenshot(path=str(artifacts / "desk-offline.png"))
        # While the page is cut off, its desk calls a ticket (a supervisor's console, say):
        # no event can reach the page, so only a re-read can show it.
        db = connect(hall.server.database)
        try:
            engine = QueueEngine(db, SystemClock())
            waiting = engine.issue("cam-centro", "C")
            engine.call_next(engine.desk("cam-centro:3"), Actor())
        finally:
            db.conn.close()
        hall.server.start()

        expect(page.locator("#connection")).to_be_hidden(timeout=WAIT)
        expect(page.locator("#message")).to_have_text("Conexión restablecida.")
        expect(page.locator("#current-code")).to_have_text(waiting["code"], timeout=WAIT)
        expect(page.locator("#desk-state")).to_have_text("Llamado")
        button(page, "start").click()
        expect(page.locator("#desk-state")).to_have_text("En atención")
    finally:
        context.close()
