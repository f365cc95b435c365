"""An official's hands on the desk page: a stray key, an undo, shortcuts off, and two different exits."""

import re

import pytest
from playwright.sync_api import expect

from tests.desk.test_desk_browser import button, log_in

pytestmark = pytest.mark.browser


def _take(page, desk: str):
    page.locator(".desk-choice", has_text=desk).click()
    expect(page.locator("#desk-name")).to_have_text(desk)


def test_a_no_show_marked_by_a_stray_key_is_taken_back_and_stays_in_the_log(browser, hall, artifacts):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="es-CO")
    try:
        page = log_in(context, hall.server)
        _take(page, "Módulo 3")
        ticket = hall.issue("C")
        expect(button(page, "next")).to_be_enabled()
        page.keyboard.press("l")
        expect(page.locator("#current-code")).to_have_text(ticket["code"])
        page.keyboard.press("n")          # half a second later, a stray "n"
        expect(page.locator("#message")).to_have_text(f"Turno {ticket['code']} marcado como no presentado.")
        undo = page.locator("#undo")
        expect(undo).to_be_visible()
        expect(undo).to_have_text(re.compile(r"^Deshacer \(\d+ s\)$"))
        page.screenshot(path=str(artifacts / "desk-undo-no-show.png"))
        undo.click()
        expect(page.locator("#current-code")).to_have_text(ticket["code"])
        expect(page.locator("#desk-state")).to_have_text("Llamado")
        expect(page.locator('#today [data-field="no_show"]')).to_have_text("0")
        expect(undo).to_be_hidden()
    finally:
        context.close()
    from shared import store
    from shared.db import connect

    db = connect(hall.server.database)
    try:
        kinds = [e["kind"] for e in store.ticket_events(db, ticket["id"])]
    finally:
        db.conn.close()
    # Recorded, never erased: the no-show stays in the log, followed by its undo.
    assert kinds == ["issued", "called", "no_show", "no_show_undone"]
    ticket_now = hall.server.call(hall.admin_token, "GET", f"/api/v1/tickets/{ticket['id']}").json()
    assert ticket_now["status"] == "called" and ticket_now["desk"] == "3"


def test_shortcuts_never_fire_with_a_modifier_and_each_official_may_turn_them_off(browser, hall):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="es-CO")
    try:
        page = log_in(context, hall.server)
        _take(page, "Módulo 4")
        ticket = hall.issue("D")
        expect(button(page, "next")).to_be_enabled()
        for chord in ("Shift+L", "Control+l", "Alt+l", "Meta+l"):
            page.keyboard.press(chord)
        expect(page.locator("#current-code")).to_have_text("—")

        page.locator("#shortcuts-toggle").uncheck()
        expect(page.locator("#message")).to_have_text("Atajos de teclado desactivados.")
        expect(button(page, "next").locator("kbd")).to_be_hidden()
        assert button(page, "next").get_attribute("aria-keyshortcuts") is None
        page.locator("body").click(position={"x": 5, "y": 700})
        page.keyboard.press("l")
        expect(page.locator("#current-code")).to_have_text("—")

        # The choice is the official's, kept on the server: a new page load remembers it.
        page.reload()
        expect(page.locator("#desk-name")).to_have_text("Módulo 4")
        expect(page.locator("#shortcuts-toggle")).not_to_be_checked()
        page.keyboard.press("l")
        expect(page.locator("#current-code")).to_have_text("—")
        button(page, "next").click()
        expect(page.locator("#current-code")).to_have_text(ticket["code"])
    finally:
        context.close()


def test_leaving_the_desk_and_logging_out_are_two_different_buttons(browser, hall):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="es-CO")
    try:
        page = log_in(context, hall.server)
        _take(page, "Módulo 5")
        leave = button(page, "leave")
        expect(leave.locator(".label")).to_have_text("Salir del módulo")
        logout = page.locator(".topbar").get_by_role("button", name="Cerrar sesión")
        expect(logout).to_have_count(1)
        expect(page.get_by_role("button", name=re.compile("Cerrar sesión"))).to_have_count(1)
    finally:
        context.close()
