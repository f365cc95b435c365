"""A small ESC/POS reader for tests: what would a person see on the paper?

It walks the byte stream the way a printer does, tracks the selected code
page, text size and emphasis, skips image data, and collects the printed
lines, the QR payloads and the code-page and cut commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ESC, GS, DLE, LF = 0x1B, 0x1D, 0x10, 0x0A

# ESC t n on Epson-numbered printers (TM-T20II, TM-T88V, ...).
EPSON_CODEPAGES = {0: "cp437", 2: "cp850", 16: "cp1252", 19: "cp858"}

# Parameter bytes after ESC x / GS x for the fixed-length commands a ticket may use.
_ESC_ARGS = {
    "!": 1,
    "-": 1,
    "2": 0,
    "3": 1,
    "E": 1,
    "G": 1,
    "J": 1,
    "M": 1,
    "R": 1,
    "S": 0,
    "U": 1,
    "V": 1,
    "c": 2,
    "e": 1,
    "i": 0,
    "m": 0,
    "p": 3,
    "r": 1,
    "{": 1,
    " ": 1,
    "$": 2,
}
_GS_ARGS = {
    "B": 1,
    "H": 1,
    "I": 1,
    "L": 2,
    "P": 2,
    "W": 2,
    "a": 1,
    "b": 1,
    "f": 1,
    "h": 1,
    "r": 1,
    "w": 1,
    "|": 1,
}


@dataclass
class Line:
    """One printed line and how it was printed."""

    text: str
    width: int = 1
    height: int = 1
    bold: bool = False
    align: int = 0


@dataclass
class Decoded:
    """What the byte stream would put on paper, plus the commands tests care about."""

    lines: list[Line] = field(default_factory=list)
    codepages: list[int] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    qr_payloads: list[bytes] = field(default_factory=list)
    images: list[tuple[int, int]] = field(default_factory=list)
    status_queries: list[int] = field(default_factory=list)
    inits: int = 0
    cuts: int = 0

    @property
    def text(self) -> str:
        """Return all printed text, one line per printed line."""
        return "\n".join(line.text for line in self.lines)

    def lines_with(self, needle: str) -> list[Line]:
        """Return the printed lines that contain needle."""
        return [line for line in self.lines if needle in line.text]


def decode(data: bytes, codepages: dict[int, str] | None = None) -> Decoded:
    """Return what a printer would do with data, decoding text in the code page selected by ESC t."""
    table = EPSON_CODEPAGES if codepages is None else codepages
    out = Decoded()
    encoding = "cp437"  # a printer's power-on default
    width = height = 1
    bold = False
    align = 0
    pending = bytearray()
    line_width = line_height = 1
    line_bold = False

    def flush_text() -> None:
        if not pending:
            return
        current.append(bytes(pending).decode(encoding, errors="replace"))
        pending.clear()

    current: list[str] = []

    def end_line() -> None:
        nonlocal line_width, line_height, line_bold
        flush_text()
        out.lines.append(Line("".join(current), line_width, line_height, line_bold, align))
        current.clear()
        line_width = line_height = 1
        line_bold = False

    def note_style() -> None:
        # A line is as big and as bold as the biggest text on it.
        nonlocal line_width, line_height, line_bold
        line_width = max(line_width, width)
        line_height = max(line_height, height)
        line_bold = line_bold or bold

    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b == ESC and i + 1 < n:
            cmd = data[i + 1]
            if cmd == ord("@"):
                flush_text()
                out.inits += 1
                width = height = 1
                bold = False
                align = 0
                encoding = table.get(0, "cp437")
                i += 2
            elif cmd == ord("t"):
                flush_text()
                page = data[i + 2]
                out.codepages.append(page)
                encoding = table.get(page, "cp437")
                i += 3
            elif cmd == ord("E"):
                flush_text()
                bold = bool(data[i + 2] & 1)
                i += 3
            elif cmd == ord("a"):
                flush_text()
                align = data[i + 2] % 48
                i += 3
            elif cmd == ord("d"):
                flush_text()
                for _ in range(data[i + 2]):
                    end_line()
                i += 3
            elif cmd == ord("*"):
                # Column bit image: m nL nH, then 1 or 3 bytes per column.
                m, columns = data[i + 2], data[i + 3] | data[i + 4] << 8
                size = columns * (3 if m in (32, 33) else 1)
                out.images.append((columns, 8 if size == columns else 24))
                i += 5 + size
            else:
                i += 2 + _ESC_ARGS.get(chr(cmd), 0)
        elif b == GS and i + 1 < n:
            cmd = data[i + 1]
            if cmd == ord("!"):
                flush_text()
                size = data[i + 2]
                width, height = (size >> 4) + 1, (size & 0x0F) + 1
                out.sizes.append((width, height))
                i += 3
            elif cmd == ord("V"):
                flush_text()
                out.cuts += 1
                i += 4 if data[i + 2] in (65, 66, 97, 98, 103, 104) else 3
            elif cmd == ord("v") and data[i + 2] == ord("0"):
                # Raster bit image: m xL xH yL yH, then xbytes * y bytes.
                xbytes = data[i + 4] | data[i + 5] << 8
                rows = data[i + 6] | data[i + 7] << 8
                out.images.append((xbytes * 8, rows))
                i += 8 + xbytes * rows
            elif cmd == ord("(") and i + 4 < n:
                kind = data[i + 2]
                length = data[i + 3] | data[i + 4] << 8
                body = data[i + 5 : i + 5 + length]
                # GS ( k, cn=49 (QR), fn=80 (store data), m=48: the payload follows.
                if kind == ord("k") and body[:3] == b"\x31\x50\x30":
                    out.qr_payloads.append(bytes(body[3:]))
                elif kind == ord("L") and body[:2] == b"0p":
                    width_dots = body[7] | body[8] << 8
                    height_dots = body[9] | body[10] << 8
                    out.images.append((width_dots, height_dots))
                i += 5 + length
            else:
                i += 2 + _GS_ARGS.get(chr(cmd), 0)
        elif b == DLE and i + 2 < n and data[i + 1] == 0x04:
            out.status_queries.append(data[i + 2])
            i += 3
        elif b == LF:
            end_line()
            i += 1
        elif b < 0x20:
            i += 1
        else:
            if not pending:
                note_style()
            pending.append(b)
            i += 1
    if pending or current:
        end_line()
    return out
