"""The waiting-room TV read from the back of the room: at rest, a call, and who waits where."""

import re

from playwright.sync_api import expect

from tests.display.helpers import wait_until


def _font_px(page, selector: str) -> float:
    """Return the computed font size of an element, in CSS pixels."""
    return page.evaluate(f"() => parseFloat(getComputedStyle(document.querySelector('{selector}')).fontSize)")


def _one_line(page, selector: str) -> bool:
    """Tell whether an element's text sits on one line, whole, inside its box."""
    return page.evaluate(f"""() => {{ const el = document.querySelector('{selector}');
        const range = document.createRange(); range.selectNodeContents(el);
        const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        const panel = document.getElementById('current').getBoundingClientRect();
        const box = range.getBoundingClientRect();
        return lines.size === 1 && box.left >= panel.left && box.right <= panel.right; }}""")


def test_at_rest_the_tv_welcomes_and_names_each_procedure_with_its_waiting_people(hall, screen, artifacts):
    hall.issue("A")
    hall.issue("A")
    hall.issue("C")
    page = screen(hall.display())
    expect(page.locator("#idle")).to_be_visible()
    expect(page.locator("#idle")).to_contain_text("Bienvenido")
    # No empty call: neither "Diríjase a" with nothing after it nor a placeholder code.
    expect(page.locator("#call")).to_be_hidden()
    expect(page.get_by_text("Diríjase a")).to_be_hidden()
    # Per procedure, by its name, not by a bare letter.
    expect(page.locator("#waiting [data-service='A']")).to_have_text(re.compile(r"^Impuesto predial\s*2$"))
    expect(page.locator("#waiting [data-service='C']")).to_have_text(re.compile(r"^SISBÉN\s*1$"))
    # What does not fit the line waits for the next page; nothing is cut at the edge.
    assert page.evaluate("""() => { const box = document.getElementById('waiting').getBoundingClientRect();
        return [...document.querySelectorAll('#waiting [data-service]')].filter(e => e.offsetParent)
            .every(e => e.getBoundingClientRect().right <= box.right); }""")
    page.screenshot(path=str(artifacts / "display-idle.png"))


def test_the_desk_is_as_large_as_the_code_and_both_stay_on_one_line(hall, screen, artifacts):
    page = screen(hall.display())
    hall.issue("F", priority="adulto_mayor")
    hall.take_desk(0, "cam-centro:6")
    hall.next(0, "cam-centro:6")
    expect(page.locator("#current-code")).to_have_text("PF-001")
    expect(page.locator("#current-desk")).to_have_text("Módulo 6")
    expect(page.locator("#idle")).to_be_hidden()
    wait_until(page, "() => !document.getElementById('current').classList.contains('idle')")
    code, desk = _font_px(page, "#current-code"), _font_px(page, "#current-desk")
    assert desk >= code > 0.12 * 1080, (code, desk)
    assert _one_line(page, "#current-code") and _one_line(page, "#current-desk")
    page.screenshot(path=str(artifacts / "display-call-desk.png"))
