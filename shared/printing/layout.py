"""Ticket layout: what a printed turn looks like, as ESC/POS bytes or a PNG preview.

The layout never knows where the bytes go (serial port, socket, file): it
builds the ticket once as a list of blocks, and two renderers draw those
blocks, one for the printer and one for the screen, so the preview matches
the paper.
"""

from __future__ import annotations

import io
import logging
import os
import textwrap
from dataclasses import dataclass

import qrcode
from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

log = logging.getLogger(__name__)

PAPER = {
    "80mm": dict(dots=576, columns=48),
    "58mm": dict(dots=384, columns=32),
}

# Font A on ESC/POS thermal printers is a 12 x 24 dot cell: 48 columns on
# 576 dots, 32 columns on 384 dots. The PNG preview uses the same grid.
CELL_WIDTH = 12
CELL_HEIGHT = 24

# The ticket code is the one thing a citizen must read from a distance.
CODE_SCALE = {"80mm": 4, "58mm": 3}
# QR module size in dots: about 20 mm wide for a typical status URL.
QR_MODULE = {"80mm": 6, "58mm": 5}
LOGO_MAX_HEIGHT = 160
# The cut command feeds this many lines first, so the last text clears the blade.
CUT_FEED_LINES = 6

FONT_DIR = "/usr/share/fonts/truetype/dejavu"

# Joins words that must stay on one line ("~12 min"); printed as a plain space.
_GLUE = "\u00a0"


@dataclass(frozen=True)
class TicketContent:
    """Everything printed on a citizen's ticket; no personal data."""

    entity_name: str
    service_name: str
    code: str  # e.g. "A-007"; preferential codes look like "PA-007"
    priority_label: str | None  # a category such as "Adulto mayor", never a diagnosis
    issued_at: str  # already formatted in the site's time zone
    ahead: int
    estimated_wait_minutes: int | None
    status_url: str  # the QR payload: the turn's public status page
    footer: str = "Gracias por su paciencia"
    privacy_notice: str = "Este turno no contiene datos personales."
    logo_path: str | None = None
    site_name: str = ""
    # (low, high) minutes: eight citizens in ten are called within it (shared.estimate.wait_range)
    estimated_wait_range_minutes: tuple[int, int] | None = None


# --- Blocks: the layout, independent of the output -------------------------


@dataclass(frozen=True)
class _Text:
    """A paragraph, wrapped to the paper and centred."""

    text: str
    bold: bool = False
    scale: int = 1  # width multiplier (GS !)
    tall: int = 1  # height multiplier (GS !)


@dataclass(frozen=True)
class _Logo:
    """The entity's logo, scaled to the paper."""

    path: str


@dataclass(frozen=True)
class _QR:
    """A centred QR code."""

    payload: str


@dataclass(frozen=True)
class _Space:
    """Blank lines."""

    lines: int = 1


@dataclass(frozen=True)
class _Page:
    """The printable grid: paper name, width in dots, columns of font A."""

    paper: str
    dots: int
    columns: int


def _page(paper: str, profile_columns: int | None = None, profile_dots: int | None = None) -> _Page:
    """Return the printable grid for a paper width, narrowed to what the profile can print."""
    if paper not in PAPER:
        raise ValueError(f"Unknown paper {paper!r}; accepted: {', '.join(PAPER)}")
    dots = PAPER[paper]["dots"]
    columns = PAPER[paper]["columns"]
    # An 80 mm roll in a printer whose head is narrower (e.g. TM-T88V, 512
    # dots, 42 columns) must be laid out for the head, not the roll.
    if profile_dots:
        dots = min(dots, profile_dots)
    if profile_columns:
        columns = min(columns, profile_columns)
    return _Page(paper=paper, dots=dots, columns=columns)


def _code_scale(code: str, page: _Page) -> int:
    """Return the largest text multiplier (up to the paper's) at which the code fits one line."""
    scale = CODE_SCALE[page.paper]
    while scale > 1 and len(code) * scale > page.columns:
        scale -= 1
    return scale


def _ticket_blocks(content: TicketContent, page: _Page) -> list:
    """Return the ticket as an ordered list of blocks."""
    blocks: list = []
    if content.logo_path:
        blocks.append(_Logo(content.logo_path))
    blocks.append(_Text(content.entity_name, bold=True))
    if content.site_name:
        blocks.append(_Text(content.site_name))
    blocks.append(_Space())
    blocks.append(_Text(content.service_name, bold=True, tall=2))
    blocks.append(_Space())
    scale = _code_scale(content.code, page)
    blocks.append(_Text(content.code, bold=True, scale=scale, tall=scale))
    blocks.append(_Space())
    if content.priority_label:
        line = f"ATENCIÓN PREFERENCIAL · {content.priority_label}"
        if len(line) <= page.columns:
            blocks.append(_Text(line, bold=True))
        else:
            # On narrow paper the category reads better on its own line than
            # split at whatever word happens to reach the margin.
            blocks.append(_Text("ATENCIÓN PREFERENCIAL", bold=True))
            blocks.append(_Text(content.priority_label, bold=True))
    blocks.append(_Text(content.issued_at))
    blocks.append(_Text(f"Personas antes de usted: {content.ahead}"))
    if content.estimated_wait_range_minutes is not None:
        low, high = content.estimated_wait_range_minutes
        blocks.append(_Text(f"Espera estimada: entre {low} y {high}{_GLUE}min"))
    elif content.estimated_wait_minutes is not None:
        blocks.append(_Text(f"Tiempo estimado de espera: ~{content.estimated_wait_minutes}{_GLUE}min"))
    blocks.append(_Space())
    blocks.append(_QR(content.status_url))
    blocks.append(_Text("Escanee para seguir su turno"))
    blocks.append(_Space())
    if content.footer:
        blocks.append(_Text(content.footer))
    if content.privacy_notice:
        blocks.append(_Text(content.privacy_notice))
    return blocks


TEST_SPANISH = "ñ Ñ á é í ó ú Á É Í Ó Ú ü Ü ¿ ¡ ·"
TEST_SENTENCE = "¿Cuántos años tiene el señor? ¡Atención preferencial para él y la niña!"


def _test_page_blocks(page: _Page, profile: str, codepage: str) -> list:
    """Return the printer test page as an ordered list of blocks."""
    sample_code = "PA-007"
    scale = _code_scale(sample_code, page)
    return [
        _Text("PÁGINA DE PRUEBA", bold=True, tall=2),
        _Text("Turnos: impresora de turnos"),
        _Space(),
        _Text(f"Papel: {page.paper} ({page.dots} puntos, {page.columns} columnas)"),
        _Text(f"Perfil: {profile}"),
        _Text(f"Página de códigos: {codepage}"),
        _Space(),
        _Text(TEST_SPANISH, bold=True),
        _Text(TEST_SENTENCE),
        _Space(),
        _Text(sample_code, bold=True, scale=scale, tall=scale),
        _Space(),
        _QR(f"TURNOS-PRUEBA {page.paper} {profile} {codepage}"),
        _Text("Si puede leer este texto y el código QR, la impresora está lista."),
    ]


def _wrap(text: str, columns: int) -> list[str]:
    """Split text into lines of at most `columns` characters, breaking between words."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        # Codes like "PA-007" must stay whole, so hyphens are not break points;
        # a single word longer than the line is the only thing ever cut.
        lines.extend(textwrap.wrap(paragraph, columns, break_on_hyphens=False, break_long_words=True) or [""])
    return [line.replace(_GLUE, " ") for line in lines]


# --- Images shared by both renderers -------------------------------------------


def _qr_image(payload: str, module: int) -> Image.Image:
    """Return the QR code for payload as a black-on-white image with `module` dots per module."""
    code = qrcode.QRCode(
        version=None,
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=module,
        border=2,
    )
    code.add_data(payload)
    code.make(fit=True)
    return code.make_image(fill_color="black", back_color="white").get_image().convert("L")


def _logo_image(path: str, max_width: int) -> Image.Image | None:
    """Return the logo as a greyscale image that fits the paper, or None if it cannot be read."""
    try:
        with Image.open(path) as source:
            source.load()
            rgba = source.convert("RGBA")
    except (OSError, UnidentifiedImageError) as exc:
        # A missing logo must never cost a citizen their ticket.
        log.warning("Ticket logo %s skipped: %s", path, exc)
        return None
    flat = Image.new("RGB", rgba.size, "white")
    flat.paste(rgba, mask=rgba.getchannel("A"))
    logo = flat.convert("L")
    ratio = min(max_width / logo.width, LOGO_MAX_HEIGHT / logo.height, 1.0)
    if ratio < 1.0:
        size = (max(1, round(logo.width * ratio)), max(1, round(logo.height * ratio)))
        logo = logo.resize(size, Image.LANCZOS)
    return logo


def _centred(image: Image.Image, width: int) -> Image.Image:
    """Return image padded on the left so that it prints centred on a line `width` dots wide."""
    # Only left padding: the right margin costs bytes and prints as blank anyway.
    left = max(0, (width - image.width) // 2)
    canvas = Image.new("L", (left + image.width, image.height), 255)
    canvas.paste(image, (left, 0))
    return canvas


# --- ESC/POS renderer -------------------------------------------------------------


def _printer(profile: str, codepage: str) -> Dummy:
    """Return a Dummy printer initialised once and switched to `codepage`."""
    try:
        p = Dummy(profile=profile)
    except KeyError:
        raise ValueError(f"Unknown printer profile {profile!r}") from None
    pages = p.profile.get_code_pages()
    if codepage not in pages:
        raise ValueError(
            f"Code page {codepage!r} is not known for profile {profile!r}; known: {', '.join(pages)}"
        )
    p.hw("INIT")
    # python-escpos 3.1 does not forget its code page on INIT, so without this
    # reset it would skip ESC t and the printer would stay on its default page.
    p.magic.encoding = None
    p.charcode(codepage)
    return p


def _profile_size(p: Dummy) -> tuple[int | None, int | None]:
    """Return the profile's (columns, dots) for font A, None where the profile does not know."""
    try:
        dots = int(p.profile.profile_data["media"]["width"]["pixels"])
    except (KeyError, TypeError, ValueError):
        dots = None
    try:
        columns = int(p.profile.get_columns("a"))
    except (KeyError, TypeError, ValueError):
        columns = None
    return columns, dots


def _emit(p: Dummy, blocks: list, page: _Page, native_qr: bool) -> None:
    """Write blocks to an ESC/POS printer object, then feed and cut."""
    p.set(align="center")
    for block in blocks:
        if isinstance(block, _Text):
            sized = block.scale != 1 or block.tall != 1
            if sized:
                p.set(custom_size=True, width=block.scale, height=block.tall)
            if block.bold:
                p.set(bold=True)
            lines = _wrap(block.text, page.columns // block.scale)
            p.text("\n".join(lines) + "\n")
            if block.bold:
                p.set(bold=False)
            if sized:
                p.set(custom_size=True, width=1, height=1)
        elif isinstance(block, _Space):
            p.ln(block.lines)
        elif isinstance(block, _Logo):
            logo = _logo_image(block.path, page.dots)
            if logo is not None:
                _emit_image(p, _centred(logo, page.dots))
        elif isinstance(block, _QR):
            module = QR_MODULE[page.paper]
            if native_qr and p.profile.supports("qrCode"):
                p.set(align="center")
                p.qr(block.payload, native=True, size=module, ec=QR_ECLEVEL_M)
                p.ln()
            else:
                _emit_image(p, _centred(_qr_image(block.payload, module), page.dots))
    p.cut()


def _emit_image(p: Dummy, padded: Image.Image) -> None:
    """Print an image already padded to the centre, left-aligned, then go back to centred text."""
    # Centred once: ESC a 1 would centre the padded image a second time, off to the right.
    p.set(align="left")
    p.image(padded)
    p.set(align="center")


def render_escpos(
    content: TicketContent,
    *,
    paper: str = "80mm",
    profile: str = "TM-T20II",
    codepage: str = "CP858",
    native_qr: bool = True,
) -> bytes:
    """Return the ESC/POS bytes of a citizen's ticket for the given paper, printer profile and code page."""
    p = _printer(profile, codepage)
    page = _page(paper, *_profile_size(p))
    _emit(p, _ticket_blocks(content, page), page, native_qr)
    return p.output


def render_test_page(
    *,
    paper: str = "80mm",
    profile: str = "TM-T20II",
    codepage: str = "CP858",
    native_qr: bool = True,
) -> bytes:
    """Return the ESC/POS bytes of a printer test page (Spanish characters, big code, QR, settings)."""
    p = _printer(profile, codepage)
    page = _page(paper, *_profile_size(p))
    _emit(p, _test_page_blocks(page, profile, codepage), page, native_qr)
    return p.output


# --- PNG renderer ----------------------------------------------------------------


def _font(bold: bool, size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Return a monospaced DejaVu font when installed, else Pillow's default font."""
    name = "DejaVuSansMono-Bold.ttf" if bold else "DejaVuSansMono.ttf"
    path = os.path.join(FONT_DIR, name)
    if os.path.exists(path):
        return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def _text_line_image(line: str, bold: bool, scale: int, tall: int) -> Image.Image:
    """Return one printed line drawn on the printer's character grid."""
    height = CELL_HEIGHT * tall
    width = max(1, len(line)) * CELL_WIDTH * scale
    font = _font(bold, round(CELL_HEIGHT * 0.83 * tall))
    left, top, right, bottom = font.getbbox(line or " ")
    drawn = Image.new("L", (max(1, right), height), 255)
    ImageDraw.Draw(drawn).text((0, (height - (bottom - top)) // 2 - top), line, font=font, fill=0)
    # Stretch to the exact cell grid so that wrapping and width match the paper.
    return drawn.resize((width, height), Image.LANCZOS)


def _png_rows(blocks: list, page: _Page) -> list[Image.Image]:
    """Return the ticket as a list of full-width strips, top to bottom."""
    rows: list[Image.Image] = []
    for block in blocks:
        if isinstance(block, _Text):
            for line in _wrap(block.text, page.columns // block.scale):
                rows.append(_text_line_image(line, block.bold, block.scale, block.tall))
        elif isinstance(block, _Space):
            rows.append(Image.new("L", (1, CELL_HEIGHT * block.lines), 255))
        elif isinstance(block, _Logo):
            logo = _logo_image(block.path, page.dots)
            if logo is not None:
                rows.append(logo)
        elif isinstance(block, _QR):
            rows.append(_qr_image(block.payload, QR_MODULE[page.paper]))
    rows.append(Image.new("L", (1, CELL_HEIGHT * CUT_FEED_LINES // 2), 255))
    return rows


def _to_png(rows: list[Image.Image], width: int) -> bytes:
    """Stack the rows centred on a white strip `width` pixels wide and return it as PNG."""
    margin = CELL_HEIGHT
    height = margin + sum(row.height for row in rows)
    sheet = Image.new("L", (width, height), 255)
    y = margin
    for row in rows:
        if row.width > width:
            row = row.resize((width, max(1, round(row.height * width / row.width))), Image.LANCZOS)
        sheet.paste(row, ((width - row.width) // 2, y))
        y += row.height
    out = io.BytesIO()
    sheet.save(out, format="PNG", optimize=True)
    return out.getvalue()


def render_png(content: TicketContent, *, paper: str = "80mm") -> bytes:
    """Return a PNG preview of a citizen's ticket, as wide as the paper in dots."""
    page = _page(paper)
    return _to_png(_png_rows(_ticket_blocks(content, page), page), page.dots)


def render_test_page_png(*, paper: str = "80mm", profile: str = "TM-T20II", codepage: str = "CP858") -> bytes:
    """Return a PNG preview of the printer test page."""
    page = _page(paper)
    return _to_png(_png_rows(_test_page_blocks(page, profile, codepage), page), page.dots)
