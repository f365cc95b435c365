"""Command-line helpers for installers: print a test page and read the printer's answer."""

from __future__ import annotations

import time

from .connections import parse_spec
from .delivery import deliver
from .layout import render_test_page, render_test_page_png

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def printer_test(
    spec: str,
    *,
    paper: str = "80mm",
    profile: str = "TM-T20II",
    codepage: str = "CP858",
    virtual_dir: str | None = None,
    timeout: float = 5.0,
) -> int:
    """Print a test page on the printer at `spec`, report the outcome on stdout and return an exit code."""
    try:
        parsed = parse_spec(spec)
        data = render_test_page(paper=paper, profile=profile, codepage=codepage)
    except ValueError as exc:
        print(f"Error: {exc}")
        return EXIT_USAGE
    png = render_test_page_png(paper=paper, profile=profile, codepage=codepage)
    job_id = time.strftime("test-page-%Y%m%d-%H%M%S")
    outcome = deliver(parsed, data, job_id=job_id, png=png, virtual_dir=virtual_dir, timeout=timeout)

    print(f"Printer:     {parsed}")
    print(f"Test page:   {paper}, profile {profile}, code page {codepage}, {len(data)} bytes")
    verdict = "sent" if outcome.ok else f"FAILED ({outcome.error})"
    print(f"Result:      {verdict}, {outcome.bytes_sent} bytes in {outcome.elapsed_ms:.0f} ms")
    print(f"Status:      {outcome.status.value}")
    if outcome.warning:
        print(f"Warning:     {outcome.warning}")
    if outcome.detail:
        print(f"Detail:      {outcome.detail}")
    print(f"Message:     {outcome.message}")
    if outcome.ok and parsed.kind == "virtual":
        print(f"Job stored as {job_id}.bin and {job_id}.png")
    elif outcome.ok:
        # Bytes accepted by the link are not a printed page: the person at the
        # printer has the last word.
        print("Check the paper: the Spanish characters, the big code and the QR must be legible.")
    return EXIT_OK if outcome.ok else (EXIT_USAGE if outcome.error == "bad_spec" else EXIT_FAILED)
