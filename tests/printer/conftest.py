"""Fixtures for the printer tests: fake printers on a real TCP socket and a real pty pair."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

# The project is not installed into the test environment: import it from the tree.
_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from shared.printing.layout import TicketContent  # noqa: E402
from tests.printer.fakes import SerialFakePrinter, TcpFakePrinter  # noqa: E402

SOCAT_READY = "starting data transfer loop"


@pytest.fixture
def content() -> TicketContent:
    """A preferential ticket for an older adult, with Spanish text in every field."""
    return TicketContent(
        entity_name="Alcaldía de San José de Cúcuta",
        service_name="Impuesto predial y certificados de paz y salvo",
        code="PA-007",
        priority_label="Adulto mayor",
        issued_at="25/11/2026 08:15",
        ahead=3,
        estimated_wait_minutes=12,
        status_url="https://turnos.example.gov.co/t/8f3a9c2e",
        site_name="CAM Centro · Señal ñandú",
    )


@pytest.fixture
def tcp_printer():
    """A fake network printer with paper, answering status."""
    fake = TcpFakePrinter().start()
    yield fake
    fake.stop()


def _socat() -> str:
    """Return the socat executable, skipping (locally) or failing (in CI) when it is missing."""
    path = shutil.which("socat")
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail("socat is required for the serial printer tests in CI (apt-get install socat)")
    pytest.skip("socat is not installed (apt-get install socat); serial printer tests skipped")


@pytest.fixture
def pty_pair(tmp_path):
    """A socat pty pair: (printer end, host end, process); bytes written on one come out of the other."""
    socat = _socat()
    printer_end = tmp_path / "printer"
    host_end = tmp_path / "host"
    proc = subprocess.Popen(
        [socat, "-d", "-d", f"pty,raw,echo=0,link={printer_end}", f"pty,raw,echo=0,link={host_end}"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    ready = threading.Event()
    log: list[str] = []

    def watch_stderr() -> None:
        # Keep reading to the end so socat never blocks on a full pipe.
        for line in proc.stderr:
            log.append(line)
            if SOCAT_READY in line:
                ready.set()
        ready.set()

    threading.Thread(target=watch_stderr, daemon=True).start()
    try:
        assert ready.wait(10), "socat did not start within 10 s"
        assert proc.poll() is None and printer_end.exists() and host_end.exists(), "".join(log)
        yield str(printer_end), str(host_end), proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def serial_printer(pty_pair):
    """A fake serial printer with paper, answering status, on the printer end of a pty pair."""
    printer_end, host_end, proc = pty_pair
    fake = SerialFakePrinter(printer_end, host_end, on_drop=proc.kill).start()
    yield fake
    fake.stop()


@pytest.fixture(params=["tcp", pytest.param("serial", marks=pytest.mark.serial)])
def fake_printer(request):
    """The same fake printer behaviour over the real TCP path and the real serial path."""
    return request.getfixturevalue(f"{request.param}_printer")
