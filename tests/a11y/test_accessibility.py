"""Every face read by axe-core inside a real Chromium, by keyboard, and at 1366 px: no serious or
critical finding, a visible focus on everything that takes it, nothing out of reach.

axe-core is vendored (tests/vendor/axe-core-4.14.1, from the npm registry, MPL-2.0). The pages'
CSP refuses injected scripts, so each context opens with ``bypass_csp=True``. Never skipped in CI:
the browser fixture fails there when Chromium is missing, and the axe file is in the repository.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import DEMO_ADMIN, DEMO_OFFICIAL, ROOT

pytestmark = pytest.mark.browser

AXE = ROOT / "tests" / "vendor" / "axe-core-4.14.1" / "axe.min.js"
WAIT = 15_000


def serious_findings(page) -> list[str]:
    """Run axe-core on the page; return its serious and critical findings, readable."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:4]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def focus_is_visible(page, presses: int = 25) -> list[str]:
    """Tab through a page; return the focused elements that show no focus indicator."""
    hidden = []
    page.locator("body").click(position={"x": 1, "y": 1})
    for _ in range(presses):
        page.keyboard.press("Tab")
        verdict = page.evaluate("""() => {
            const el = document.activeElement;
            if (!el || el === document.body) return null;
            const marked = e => { const s = getComputedStyle(e);
                return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2)
                    || s.boxShadow !== 'none'; };
            const holder = el.closest('label') || el;
            const name = el.id || el.tagName + ':' + (el.textContent || el.name || '').trim().slice(0, 30);
            return marked(el) || marked(holder) ? '' : name;
        }""")
        if verdict:
            hidden.append(verdict)
    return sorted(set(hidden))


def _context(browser, live_server, viewport, token=None, **extra):
    """A browser context that lets axe in, optionally carrying a device's cookie."""
    context = browser.new_context(viewport=viewport, bypass_csp=True, locale="es-CO", **extra)
    if token:
        context.add_cookies([{"name": "turnos_device", "value": token, "url": live_server.url}])
    return context


def _login(context, live_server, who):
    page = context.new_page()
    page.goto(live_server.url + "/login")
    page.get_by_label("Usuario").fill(who[0])
    page.get_by_label("Contraseña").fill(who[1])
    page.get_by_role("button", name="Ingresar").click()
    page.wait_for_url(re.compile(r"^(?!.*login).*$"))
    return page


@pytest.fixture
def staff(live_server):
    """Bearer tokens of the demo admin and official, and a device maker."""
    admin = live_server.token(*DEMO_ADMIN)

    class Staff:
        admin_token = admin
        official = live_server.token(*DEMO_OFFICIAL)

        @staticmethod
        def device(kind):
            r = live_server.call(
                admin, "POST", "/api/v1/devices", {"site": "cam-centro", "kind": kind, "name": kind}
            )
            return r.json()

        @staticmethod
        def issue(service="A", priority=None):
            body = {"site": "cam-centro", "service": service}
            if priority:
                body["priority"] = priority
            return live_server.call(admin, "POST", "/api/v1/tickets", body).json()

    return Staff


def test_the_kiosk_has_no_serious_finding_on_any_step(browser, live_server, staff):
    context = _context(
        browser, live_server, {"width": 1080, "height": 1920}, staff.device("kiosk")["token"], has_touch=True
    )
    try:
        page = context.new_page()
        page.goto(live_server.url + "/kiosk/")
        expect(page.locator("#services button").first).to_be_visible()
        found = serious_findings(page)
        assert focus_is_visible(page, 10) == []
        page.locator("[data-service='A']").tap()
        expect(page.locator("#step-priority")).to_be_visible()
        found += serious_findings(page)
        page.locator("[data-priority='gestante']").tap()
        expect(page.locator("#t-code")).to_have_text("PA-001")
        found += serious_findings(page)
        assert found == []
    finally:
        context.close()


def test_the_tv_has_no_serious_finding_at_rest_or_calling(browser, live_server, staff):
    context = _context(
        browser, live_server, {"width": 1920, "height": 1080}, staff.device("display")["token"]
    )
    try:
        page = context.new_page()
        page.goto(live_server.url + "/display/")
        page.wait_for_function("() => window.TurnosDisplay && TurnosDisplay.snapshots >= 1")
        found = serious_findings(page)
        staff.issue("A", "gestante")
        live_server.call(staff.official, "POST", "/api/v1/desks/cam-centro:1/session")
        live_server.call(staff.official, "POST", "/api/v1/desks/cam-centro:1/next")
        expect(page.locator("#current-code")).to_have_text("PA-001")
        found += serious_findings(page)
        assert found == []
    finally:
        context.close()


def test_the_desk_is_clean_and_its_focus_always_visible(browser, live_server, staff):
    context = _context(browser, live_server, {"width": 1366, "height": 768})
    try:
        staff.issue("A")
        page = _login(context, live_server, ("funcionario2", "funcionario-demo-2026"))
        page.goto(live_server.url + "/desk/")
        expect(page.locator("#picker")).to_be_visible()
        found = serious_findings(page)
        page.locator(".desk-choice", has_text="Módulo 2").click()
        expect(page.locator("#desk-name")).to_have_text("Módulo 2")
        page.locator('.actions [data-action="next"]').click()
        expect(page.locator("#desk-state")).to_have_text("Llamado")
        found += serious_findings(page)
        assert found == []
        assert focus_is_visible(page) == []
    finally:
        context.close()


def test_the_status_page_and_the_survey_show_the_focus_on_their_ratings(browser, live_server, staff):
    from shared import store
    from shared.db import connect

    ticket = staff.issue("B")
    live_server.call(staff.official, "POST", "/api/v1/desks/cam-centro:1/session")
    survey = staff.device("survey")
    db = connect(live_server.database)
    store.set_device_config(
        db, survey["id"], {"desk": store.find_desk(db, "1", store.find_site(db, "cam-centro")["id"])["id"]}
    )
    db.conn.close()
    phone = _context(browser, live_server, {"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    tablet = _context(browser, live_server, {"width": 1024, "height": 768}, survey["token"])
    try:
        screen = tablet.new_page()
        screen.goto(live_server.url + "/survey/")
        expect(screen.locator("#live-mark")).to_have_class("live-mark on", timeout=WAIT)
        found = serious_findings(screen)
        for action in (
            "/api/v1/desks/cam-centro:1/next",
            f"/api/v1/tickets/{ticket['id']}/start",
            f"/api/v1/tickets/{ticket['id']}/finish",
        ):
            assert live_server.call(staff.official, "POST", action).status_code == 200
        expect(screen.locator("#survey-ask")).to_be_visible(timeout=WAIT)
        found += serious_findings(screen)
        screen.locator("input[name=score][value='3']").focus()
        screen.keyboard.press("ArrowRight")
        assert focus_is_visible(screen, 6) == []

        page = phone.new_page()
        page.goto(ticket["status_url"])
        expect(page.locator("#rating-panel")).to_be_visible(timeout=WAIT)
        found += serious_findings(page)
        assert found == []
        # Each rating shows where the keyboard is (the radios themselves are hidden behind the numbers).
        page.locator("input[name=score][value='1']").focus()
        for value in ("2", "3"):
            page.keyboard.press("ArrowRight")
            label = page.locator(f"label.score-{value}")
            assert label.evaluate("l => getComputedStyle(l).outlineStyle") != "none"
        assert focus_is_visible(page) == []
    finally:
        phone.close()
        tablet.close()


def test_the_monitor_fits_1366_px_and_every_action_is_on_screen(browser, live_server, staff, artifacts):
    for service in ("A", "B", "C", "D", "E", "F"):
        staff.issue(service, "adulto_mayor" if service == "B" else None)
    staff.device("kiosk")
    context = _context(browser, live_server, {"width": 1366, "height": 768})
    try:
        page = _login(context, live_server, ("supervisor", "supervisor-demo-2026"))
        page.goto(live_server.url + "/reports/monitor?site=cam-centro")
        expect(page.locator("#waiting tbody tr[data-ticket]")).to_have_count(6)
        page.screenshot(path=str(artifacts / "monitor-1366.png"), full_page=True)
        page.set_viewport_size({"width": 1920, "height": 1080})
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 1920
        assert page.evaluate("""() => [...document.querySelectorAll('.monitor .card table')].every(t =>
            t.getBoundingClientRect().right <= t.closest('.card').getBoundingClientRect().right + 1)""")
        page.set_viewport_size({"width": 1366, "height": 768})
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 1366
        offscreen = page.evaluate("""() => [...document.querySelectorAll('#waiting button, #waiting select')]
            .filter(b => b.getBoundingClientRect().right > innerWidth).map(b => b.textContent)""")
        assert offscreen == []
        # Every table fits its card: no column hides behind the edge.
        assert page.evaluate("""() => [...document.querySelectorAll('.monitor .card table')].every(t =>
            t.getBoundingClientRect().right <= t.closest('.card').getBoundingClientRect().right + 1)""")
        # The preferential code and its mark stand apart, each on one line. Read in one script:
        # the monitor redraws its rows as the room changes, and an element found before a redraw
        # is measured detached (all zeros).
        apart = page.evaluate("""() => {
            const th = document.querySelector("#waiting tr[data-code='PB-001'] th");
            const code = th.querySelector('.code'), badge = th.querySelector('.badge-pref');
            const a = code.getBoundingClientRect(), b = badge.getBoundingClientRect();
            return [code.getClientRects().length, Math.round(b.left - a.right),
                    Math.round(b.top - a.bottom)]; }""")
        lines, gap_beside, gap_below = apart
        assert lines == 1 and (gap_beside >= 4 or gap_below >= 0), apart
        assert serious_findings(page) == []
        assert focus_is_visible(page) == []
    finally:
        context.close()


def test_the_reports_fit_1366_px_and_their_wide_tables_scroll_by_keyboard(browser, live_server, staff):
    staff.issue("A")
    context = _context(browser, live_server, {"width": 1366, "height": 768})
    try:
        page = _login(context, live_server, ("supervisor", "supervisor-demo-2026"))
        page.goto(live_server.url + "/reports/")
        expect(page.locator("#summary-table")).to_be_visible()
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 1366
        region = page.locator("#summary-table").locator("xpath=ancestor::div[contains(@class,'scroll')][1]")
        region.focus()
        before = region.evaluate("r => r.scrollLeft")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("End")
        wide = region.evaluate("r => r.scrollWidth > r.clientWidth")
        if wide:
            page.wait_for_function("r => r.scrollLeft > 0", arg=region.element_handle())
            assert region.evaluate("r => r.scrollLeft") > before
        assert serious_findings(page) == []
        assert focus_is_visible(page) == []
    finally:
        context.close()


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/services?site=cam-centro", "/admin/devices", "/printer/"]
)
def test_the_administration_pages_have_no_serious_finding(browser, live_server, path):
    context = _context(browser, live_server, {"width": 1366, "height": 768})
    try:
        page = _login(context, live_server, DEMO_ADMIN)
        page.goto(live_server.url + path)
        assert serious_findings(page) == []
        assert focus_is_visible(page, 15) == []
    finally:
        context.close()
