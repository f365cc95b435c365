"""The kiosk on its first day, in a real Chromium at 1920x1080 and 1080x1920: every service of a
site within reach (6 in the demo, 40 in a big centre), codes that never wrap, and a spoken guide.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import DEMO_ADMIN, require_program

pytestmark = pytest.mark.browser

PORTRAIT = {"width": 1080, "height": 1920}
LANDSCAPE = {"width": 1920, "height": 1080}
NAMES = ["Certificado de estratificación socioeconómica", "Paz y salvo", "Licencia de construcción",
         "Devolución de pagos en exceso del impuesto predial", "Inscripción de víctimas del conflicto",
         "Registro de mascotas", "Subsidio de vivienda", "Matrícula escolar"]


def _letters(i: int) -> str:
    """Return the i-th ticket prefix: A..Z, then AA, AB, ..."""
    return chr(65 + i) if i < 26 else "A" + chr(65 + i - 26)


def _big_site(code: str, grouped: bool) -> str:
    """Return a layout with one centre of 40 services (in 5 groups, or none)."""
    lines = [f'[[sites]]\ncode = "{code}"\nname = "CAM Grande"\nentity_name = "Alcaldía de Prueba"\n']
    for i in range(40):
        group = f'group = "Grupo {i // 8 + 1}"\n' if grouped else ""
        lines.append(f'[[sites.services]]\ncode = "S{i:02d}"\nprefix = "{_letters(i)}"\n'
                     f'name = "{NAMES[i % len(NAMES)]} {i + 1}"\n{group}')
    lines.append('[[sites.desks]]\ncode = "1"\nname = "Módulo 1"\nservices = ["S00"]\n')
    return "\n".join(lines)


def _kiosk_page(browser, live_server, viewport, site="cam-centro"):
    """Open the kiosk of a site as a newly paired kiosk; return (context, page)."""
    admin = live_server.token(*DEMO_ADMIN)
    r = live_server.call(admin, "POST", "/api/v1/devices", {"site": site, "kind": "kiosk", "name": "Kiosco"})
    assert r.status_code == 201, r.text
    context = browser.new_context(viewport=viewport, has_touch=True, locale="es-CO")
    context.add_cookies([{"name": "turnos_device", "value": r.json()["token"], "url": live_server.url}])
    page = context.new_page()
    page.goto(live_server.url + "/kiosk/")
    expect(page.locator("#services button").first).to_be_visible()
    return context, page


def _all_within_the_screen(page, grid: str) -> list[str]:
    """Return the codes of the tiles shown, checking each sits whole on the screen, name unclipped."""
    return page.evaluate(f"""() => {{
        const tiles = [...document.querySelectorAll('{grid} button')].filter(b => b.offsetParent);
        for (const tile of tiles) {{
            const r = tile.getBoundingClientRect();
            if (r.top < 0 || r.left < 0 || r.bottom > innerHeight || r.right > innerWidth)
                throw new Error('tile off screen: ' + tile.textContent);
            const name = tile.querySelector('.k-service-name');
            if (name.scrollHeight > name.clientHeight + 1) throw new Error('name cut: ' + name.textContent);
        }}
        const pager = document.querySelector('{grid} + .k-pager');
        if (pager && pager.offsetParent) {{
            const p = pager.getBoundingClientRect();
            if (p.bottom > innerHeight) throw new Error('pager off screen');
        }}
        return tiles.map(t => t.dataset.service || 'group:' + t.dataset.group);
    }}""")


def _every_page(page, grid: str, pager: str) -> list[str]:
    """Walk the pages of a grid with its visible control; return every tile seen."""
    seen = _all_within_the_screen(page, grid)
    while page.locator(f"{pager}:visible [data-page='1']:enabled").count():
        before = page.locator(f"{pager} .k-page-of").inner_text()
        page.locator(f"{pager} [data-page='1']").tap()
        expect(page.locator(f"{pager} .k-page-of")).not_to_have_text(before)
        assert re.fullmatch(r"Página \d+ de \d+", page.locator(f"{pager} .k-page-of").inner_text())
        seen += _all_within_the_screen(page, grid)
    return seen


@pytest.mark.parametrize("viewport", [LANDSCAPE, PORTRAIT], ids=["landscape", "portrait"])
@pytest.mark.parametrize("site, grouped", [("cam-centro", None), ("cam-grande", True), ("cam-lista", False)],
                         ids=["demo", "40-in-groups", "40-in-one-list"])
def test_every_service_is_within_reach_of_the_first_screen(browser, live_server, artifacts, viewport,
                                                         site, grouped):
    if grouped is not None:
        from shared import layout
        from shared.clock import SystemClock
        from shared.db import connect

        db = connect(live_server.database)
        try:
            layout.apply(db, layout.parse(_big_site(site, grouped)), SystemClock())
        finally:
            db.conn.close()
    context, page = _kiosk_page(browser, live_server, viewport, site)
    try:
        expected = page.evaluate("() => fetch('/kiosk/api/start').then(r => r.json())"
                                 ".then(d => d.services.map(s => s.code))")
        name = f"kiosk-{site}-{'landscape' if viewport is LANDSCAPE else 'portrait'}.png"
        page.screenshot(path=str(artifacts / name))
        first = _every_page(page, "#services", "#pager")
        reached = [c for c in first if not c.startswith("group:")]
        groups = [c[6:] for c in first if c.startswith("group:")]
        for group in groups:
            while not page.locator(f".k-group-btn[data-group='{group}']:visible").count():
                page.locator("#pager [data-page='1']").tap()
            page.locator(f".k-group-btn[data-group='{group}']").tap()
            expect(page.locator("#group-title")).to_have_text(group)
            reached += _every_page(page, "#group-services", "#group-pager")
            page.locator("#step-group .k-back").tap()
            expect(page.locator("#step-services")).to_be_visible()
        assert sorted(reached) == sorted(expected) and len(expected) == (6 if grouped is None else 40)
        if grouped is False:
            expect(page.locator("#pager")).to_be_visible()   # a visible control, not a hidden scroll
        assert page.evaluate("() => document.querySelector('.k-main').scrollHeight "
                             "<= document.querySelector('.k-main').clientHeight")
    finally:
        context.close()


@pytest.mark.parametrize("viewport", [PORTRAIT, LANDSCAPE], ids=["portrait", "landscape"])
def test_an_older_adults_preferential_code_never_breaks_across_two_lines(browser, live_server, artifacts,
                                                                        viewport):
    context, page = _kiosk_page(browser, live_server, viewport)
    try:
        page.locator("[data-service='B']").tap()
        page.locator("[data-priority='adulto_mayor']").tap()
        expect(page.locator("#t-code")).to_have_text("PB-001")
        assert page.evaluate("""() => { const code = document.getElementById('t-code');
            const range = document.createRange(); range.selectNodeContents(code);
            const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
            return lines.size === 1 && code.scrollWidth <= code.clientWidth
                && parseFloat(getComputedStyle(code).fontSize) >= 80; }""")
        shape = "portrait" if viewport is PORTRAIT else "landscape"
        page.screenshot(path=str(artifacts / f"kiosk-{shape}-PB-001.png"))
    finally:
        context.close()


def test_a_citizen_who_cannot_read_is_guided_by_voice(browser, live_server):
    require_program("espeak-ng")
    context, page = _kiosk_page(browser, live_server, PORTRAIT)
    try:
        with page.expect_response(re.compile(r"/kiosk/audio/step/services\.wav")) as step:
            page.locator("#guide").tap()
        assert step.value.status in (200, 206) and step.value.headers["content-type"] == "audio/wav"
        expect(page.locator("#guide")).to_have_attribute("aria-pressed", "true")
        # The first touch says the service's name; only the second chooses it.
        with page.expect_response(re.compile(r"/kiosk/audio/service/C\.wav")) as said:
            page.locator("[data-service='C']").tap()
        assert said.value.status in (200, 206)
        expect(page.locator("[data-service='C']")).to_have_class(re.compile(r"\bk-armed\b"))
        expect(page.locator("#step-services")).to_be_visible()
        with page.expect_response(re.compile(r"/kiosk/audio/step/priority\.wav")):
            page.locator("[data-service='C']").tap()
        expect(page.locator("#step-priority")).to_be_visible()
        with page.expect_response(re.compile(r"/kiosk/audio/category/adulto_mayor\.wav")) as case:
            page.locator("[data-priority='adulto_mayor']").tap()
        assert case.value.status in (200, 206)
        with page.expect_response(re.compile(r"/kiosk/audio/ticket/[\w-]+\.wav")) as ticket:
            page.locator("[data-priority='adulto_mayor']").tap()
        assert ticket.value.status in (200, 206)
        expect(page.locator("#t-code")).to_have_text("PC-001")
    finally:
        context.close()
    # Only sentences the kiosk knows are spoken: nothing made up reaches espeak-ng.
    admin = live_server.token(*DEMO_ADMIN)
    token = live_server.call(admin, "POST", "/api/v1/devices",
                             {"site": "cam-centro", "kind": "kiosk", "name": "K"}).json()["token"]
    odd = live_server.call(token, "GET", "/kiosk/audio/step/hola%20mundo.wav")
    assert odd.status_code == 404 and odd.json()["error"] == "unknown_guide"
