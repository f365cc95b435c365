"""The ticket a citizen takes: what the printer is told to print, and the preview of it."""

from __future__ import annotations

import dataclasses
import io
import re

import pytest
from PIL import Image

from shared.printing.layout import (
    PAPER,
    TEST_SENTENCE,
    TEST_SPANISH,
    TicketContent,
    render_escpos,
    render_png,
    render_test_page,
    render_test_page_png,
)
from tests.printer.escpos_decode import decode

ESC_T_CP858_EPSON = b"\x1bt\x13"


def _png(data: bytes) -> Image.Image:
    """Return the PNG in data as an image, failing if it is not a PNG."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG"
    return image


def _logo(tmp_path, size=(1200, 400)) -> str:
    """Write a wide test logo and return its path."""
    path = tmp_path / "escudo.png"
    image = Image.new("RGBA", size, (255, 255, 255, 0))
    for x in range(0, size[0], 9):
        for y in range(size[1]):
            image.putpixel((x, y), (0, 0, 0, 255))
    image.save(path)
    return str(path)


def test_ticket_starts_with_one_init_then_selects_cp858(content):
    data = render_escpos(content)
    decoded = decode(data)
    assert data.startswith(b"\x1b@" + ESC_T_CP858_EPSON)
    assert decoded.inits == 1
    assert decoded.codepages == [19]  # one selection, never switched afterwards


def test_code_page_number_follows_the_printer_profile(content):
    # The POS-5890 clone numbers CP858 as 53, not Epson's 19.
    data = render_escpos(content, paper="58mm", profile="POS-5890")
    assert data.startswith(b"\x1b@\x1bt\x35")
    decoded = decode(data, {53: "cp858"})
    assert decoded.lines_with("Alcaldía de San José de Cúcuta")


def test_other_code_pages_can_be_chosen(content):
    data = render_escpos(content, codepage="CP850")
    assert decode(data).codepages == [2]
    assert decode(data).lines_with("ATENCIÓN PREFERENCIAL · Adulto mayor")


def test_spanish_text_is_encoded_in_the_code_page(content):
    decoded = decode(render_escpos(content))
    entity = decoded.lines_with("Alcaldía de San José de Cúcuta")
    assert entity and entity[0].bold and entity[0].align == 1
    assert decoded.lines_with("CAM Centro · Señal ñandú")
    preferential = decoded.lines_with("ATENCIÓN PREFERENCIAL · Adulto mayor")
    assert preferential and preferential[0].bold
    assert decoded.lines_with("25/11/2026 08:15")
    assert decoded.lines_with("Personas antes de usted: 3")
    assert decoded.lines_with("Tiempo estimado de espera: ~12 min")
    assert decoded.lines_with("Escanee para seguir su turno")
    assert decoded.lines_with("Gracias por su paciencia")
    assert decoded.lines_with("Este turno no contiene datos personales.")
    assert "\ufffd" not in decoded.text and "?" not in decoded.text


def test_the_code_is_printed_very_large_and_the_size_is_reset(content):
    decoded = decode(render_escpos(content))
    [code] = decoded.lines_with("PA-007")
    assert (code.width, code.height) == (4, 4) and code.bold and code.align == 1
    after = decoded.lines[decoded.lines.index(code) + 1 :]
    assert all((line.width, line.height) == (1, 1) for line in after)
    assert decoded.sizes[-1] == (1, 1)


def test_the_code_is_smaller_on_58mm_paper_but_still_large(content):
    decoded = decode(render_escpos(content, paper="58mm"))
    [code] = decoded.lines_with("PA-007")
    assert (code.width, code.height) == (3, 3)


def test_a_long_code_shrinks_to_fit_one_line():
    content = TicketContent("Entidad", "Servicio", "PREF-ABCDE-0001", None, "x", 0, None, "https://e.x/t/1")
    [code] = decode(render_escpos(content)).lines_with("PREF-ABCDE-0001")
    assert len(code.text) * code.width <= 48 and code.width == 3


def test_the_qr_carries_the_status_url_and_is_centred(content):
    data = render_escpos(content)
    assert decode(data).qr_payloads == [content.status_url.encode()]
    qr_at = data.index(b"\x1d(k")
    assert data.rfind(b"\x1ba\x01", 0, qr_at) > data.rfind(b"\x1ba\x00", 0, qr_at)


def test_image_qr_replaces_native_qr_when_asked_or_unsupported(content):
    image_qr = decode(render_escpos(content, native_qr=False))
    assert image_qr.qr_payloads == [] and len(image_qr.images) == 1
    # The POS-5890 profile has no native QR: an image is sent instead.
    clone = decode(render_escpos(content, paper="58mm", profile="POS-5890"), {53: "cp858"})
    assert clone.qr_payloads == [] and len(clone.images) == 1
    assert clone.images[0][0] <= 384


def _alignment_at(data: bytes, at: int) -> int:
    """Return the ESC a alignment in force at a byte offset (0 left, 1 centre)."""
    last = max((data.rfind(b"\x1ba" + bytes([n]), 0, at), n) for n in (0, 1, 2))
    return last[1] if last[0] >= 0 else 0


def test_an_image_qr_and_a_logo_are_centred_once_not_twice(content, tmp_path):
    logo = tmp_path / "logo.png"
    Image.new("L", (120, 60), 0).save(logo)
    data = render_escpos(dataclasses.replace(content, logo_path=str(logo)), native_qr=False)
    images = [i for i in range(len(data)) if data.startswith(b"\x1dv0", i)]
    assert len(images) == 2  # the logo, then the QR
    # Each image is padded on the left to the centre, so it must print left-aligned:
    # with ESC a 1 still in force the printer would centre the padded image again.
    assert [_alignment_at(data, i) for i in images] == [0, 0]
    # Text after an image is centred again.
    assert _alignment_at(data, data.index("Escanee".encode("cp858"))) == 1


def test_a_general_ticket_has_no_preferential_line_and_may_omit_the_wait(content):
    general = dataclasses.replace(content, code="A-007", priority_label=None, estimated_wait_minutes=None)
    decoded = decode(render_escpos(general))
    assert decoded.lines_with("A-007")[0].width == 4
    assert not decoded.lines_with("PREFERENCIAL")
    assert not decoded.lines_with("Tiempo estimado")
    assert decoded.lines_with("Personas antes de usted: 3")


def test_58mm_ticket_wraps_within_32_columns_without_cutting_words(content):
    decoded = decode(render_escpos(content, paper="58mm"))
    for line in decoded.lines:
        assert len(line.text) * line.width <= 32, line
    printed_words = set(decoded.text.split())
    source = " ".join(
        [content.entity_name, content.service_name, content.site_name, content.footer, content.privacy_notice]
    )
    for word in source.split():
        assert word in printed_words, word
    # The category goes on its own line rather than being split anywhere.
    assert decoded.lines_with("ATENCIÓN PREFERENCIAL")[0].text == "ATENCIÓN PREFERENCIAL"
    assert decoded.lines_with("Adulto mayor")[0].text == "Adulto mayor"
    # "~12 min" stays together.
    assert decoded.lines_with("~12 min")


def test_80mm_ticket_fits_48_columns_and_a_narrower_head_narrows_it(content):
    for line in decode(render_escpos(content)).lines:
        assert len(line.text) * line.width <= 48
    # TM-T88V prints 42 columns on 80 mm paper.
    for line in decode(render_escpos(content, profile="TM-T88V")).lines:
        assert len(line.text) * line.width <= 42


def test_characters_outside_the_code_page_do_not_switch_code_pages(content):
    odd = dataclasses.replace(content, entity_name="Alcaldía ✓ → ☺")
    decoded = decode(render_escpos(odd))
    assert decoded.codepages == [19]
    assert decoded.lines_with("Alcaldía ? ? ?")


def test_the_ticket_ends_with_a_feed_and_a_cut(content):
    data = render_escpos(content)
    assert decode(data).cuts == 1
    assert re.search(rb"\x1bd\x06\x1dV", data)


def test_a_logo_is_scaled_to_the_paper(content, tmp_path):
    with_logo = dataclasses.replace(content, logo_path=_logo(tmp_path))
    decoded = decode(render_escpos(with_logo))
    [(width, height)] = decoded.images
    assert width <= 576 and 0 < height <= 160
    decoded_58 = decode(render_escpos(with_logo, paper="58mm"))
    assert decoded_58.images[0][0] <= 384


def test_a_missing_logo_does_not_cost_the_ticket(content, tmp_path):
    missing = dataclasses.replace(content, logo_path=str(tmp_path / "no-such-logo.png"))
    decoded = decode(render_escpos(missing))
    assert decoded.images == [] and decoded.lines_with("PA-007")


def test_bad_paper_profile_or_code_page_are_rejected(content):
    with pytest.raises(ValueError, match="80mm"):
        render_escpos(content, paper="A4")
    with pytest.raises(ValueError, match="profile"):
        render_escpos(content, profile="NO-SUCH-PRINTER")
    with pytest.raises(ValueError, match="CP999"):
        render_escpos(content, codepage="CP999")


@pytest.mark.parametrize("paper", sorted(PAPER))
def test_png_preview_is_as_wide_as_the_paper(content, paper):
    image = _png(render_png(content, paper=paper))
    assert image.width == PAPER[paper]["dots"]
    assert image.height > image.width


def test_png_preview_shows_a_readable_centred_qr(content):
    zxingcpp = pytest.importorskip("zxingcpp")
    image = _png(render_png(content))
    [result] = zxingcpp.read_barcodes(image)
    assert result.text == content.status_url
    xs = [point.x for point in (result.position.top_left, result.position.top_right)]
    assert abs(sum(xs) / 2 - image.width / 2) < 12


def test_png_preview_has_the_big_code_centred(content):
    image = _png(render_png(content)).convert("L")
    # The widest band of ink with no white row inside, between logo-free top and
    # QR, is the code: find the tallest run of rows containing ink.
    rows = [image.crop((0, y, image.width, y + 1)).getextrema()[0] < 128 for y in range(image.height)]
    runs, start = [], None
    for y, inked in enumerate(rows + [False]):
        if inked and start is None:
            start = y
        elif not inked and start is not None:
            runs.append((y - start, start, y))
            start = None
    tall, top, bottom = max(run for run in runs if run[1] < image.height // 2)
    assert tall >= 60  # four times a 24-dot line, less the glyph's own margins
    left, _, right, _ = Image.eval(image.crop((0, top, image.width, bottom)), lambda v: 255 - v).getbbox()
    assert abs((left + right) / 2 - image.width / 2) < 12


def test_test_page_names_the_settings_and_shows_spanish_big_code_and_qr():
    decoded = decode(render_test_page(paper="80mm", profile="TM-T20II", codepage="CP858"))
    assert decoded.codepages == [19] and decoded.inits == 1
    assert decoded.lines_with("80mm") and decoded.lines_with("TM-T20II") and decoded.lines_with("CP858")
    assert decoded.lines_with(TEST_SPANISH)
    assert " ".join(line.text for line in decoded.lines if line.text).count("señor") == 1
    assert TEST_SENTENCE.split()[0] in decoded.text
    [code] = decoded.lines_with("PA-007")
    assert code.width == 4
    assert decoded.qr_payloads and b"TURNOS-PRUEBA" in decoded.qr_payloads[0]
    assert decoded.cuts == 1


def test_test_page_png_is_a_png_of_the_paper_width():
    assert _png(render_test_page_png(paper="58mm", profile="POS-5890")).width == 384
    assert _png(render_test_page_png()).width == 576
