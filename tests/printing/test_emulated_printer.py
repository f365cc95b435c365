"""A citizen's ticket on a real emulated ESC/POS printer (emupos), through paper-out and back.

emupos (PyPI, Python 3.13) is an Epson TM-T20III on TCP that renders every
ticket to a PNG and text, answers status queries and can be put out of paper
through its control API. ``scripts/test`` makes its virtual environment and
gives its path in ``TURNOS_EMUPOS``; in CI this test fails when it is missing.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from shared.printing.dispatch import wait_idle
from tests.conftest import ROOT, free_port, in_ci
from tests.printing.helpers import received, staff_socket

DEVICE = "kiosk-printer"


def _emupos_program() -> str:
    """Return the emupos program of the venv scripts/test made; skip locally, fail in CI."""
    candidates = [os.environ.get("TURNOS_EMUPOS", ""), str(ROOT / ".venv-emupos" / "bin" / "emupos")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    message = "emupos is not installed (bash scripts/test makes .venv-emupos and sets TURNOS_EMUPOS)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


class Emupos:
    """A running emupos simulator with one printer, driven through its control API."""

    def __init__(self, program: str, folder: Path):
        self.folder = folder
        # free_port() hands out ports below 32768 (emupos was refused one in the ephemeral range).
        self.port = free_port()
        self.api_port = free_port()
        (folder / "emupos.yaml").write_text(
            "schema: 1\n"
            f"api: {{ host: 127.0.0.1, port: {self.api_port} }}\n"
            "devices:\n"
            f"  - id: {DEVICE}\n"
            "    type: printer\n"
            "    profile: epson-tm-t20iii\n"
            f"    connections: [ {{ tcp: {{ host: 127.0.0.1, port: {self.port} }} }} ]\n"
            "    job_idle_timeout_ms: 300\n"
            "    receipts_dir: ./receipts\n")
        self.log = open(folder / "emupos.log", "wb")
        self.process = subprocess.Popen([program, "run", "--config", str(folder / "emupos.yaml")],
                                        cwd=folder, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.api_port}/api/v1"
        self.completed = 0                       # receipts the printer finished, from its event stream
        self.changed = threading.Condition()
        self._events = None

    def _listen(self) -> None:
        """Count the printer's completed receipts from the control API's event stream."""
        try:
            while True:
                event = json.loads(self._events.recv())
                if event.get("type") == "printer.job.completed":
                    with self.changed:
                        self.completed += 1
                        self.changed.notify_all()
        except Exception:  # the stream closes when the simulator stops
            return

    @property
    def spec(self) -> str:
        """Return the printer spec that reaches the emulated printer."""
        return f"tcp:127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until the control API answers (the printer listens by then)."""
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.folder / "emupos.log").read_text()[-2000:])
            try:
                if requests.get(f"{self.base}/health", timeout=1).status_code == 200:
                    import websocket

                    self._events = websocket.create_connection(
                        f"ws://127.0.0.1:{self.api_port}/api/v1/events", timeout=None,
                        suppress_origin=True)  # the control API refuses requests from web pages
                    threading.Thread(target=self._listen, daemon=True).start()
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)  # polling a readiness probe, not waiting for an outcome
        raise RuntimeError("emupos did not start: " + (self.folder / "emupos.log").read_text()[-2000:])

    def fault(self, name: str, on: bool) -> None:
        """Open or clear a fault of the printer (paper-out, cover-open, ...)."""
        import requests

        r = requests.request("PUT" if on else "DELETE", f"{self.base}/devices/{DEVICE}/faults/{name}",
                             timeout=5)
        assert r.status_code == 204, r.text

    def receipts(self, count: int, timeout: float = 15) -> list[dict]:
        """Wait for the printer's event that it completed ``count`` receipts; return them, oldest first."""
        import requests

        with self.changed:
            assert self.changed.wait_for(lambda: self.completed >= count, timeout), \
                f"{self.completed} receipts completed, expected {count}"
        found = requests.get(f"{self.base}/devices/{DEVICE}/receipts", timeout=5).json()
        return sorted(found, key=lambda r: r["completed_at"])

    def text(self, receipt: dict) -> str:
        """Return the text the emulator read off a receipt."""
        import requests

        return requests.get(f"{self.base}/devices/{DEVICE}/receipts/{receipt['id']}/text", timeout=5).text

    def image(self, receipt: dict) -> bytes:
        """Return the PNG the emulator rendered of a receipt."""
        import requests

        return requests.get(f"{self.base}/devices/{DEVICE}/receipts/{receipt['id']}/image", timeout=5).content

    def stop(self) -> None:
        """Stop the simulator."""
        if self._events is not None:
            self._events.close()
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.log.close()


@pytest.fixture
def emulated_printer(tmp_path):
    """An emulated Epson TM-T20III on TCP, with paper."""
    emupos = Emupos(_emupos_program(), tmp_path)
    try:
        emupos.wait_ready()
        yield emupos
    finally:
        emupos.stop()


def _qr_text(png: bytes) -> list[str]:
    """Return the texts of the QR codes found in a rendered ticket, checking each is centred."""
    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    found = zxingcpp.read_barcodes(image)
    for barcode in found:
        middle = (barcode.position.top_left.x + barcode.position.bottom_right.x) / 2
        assert abs(middle - image.width / 2) < 24, f"QR centred at {middle} on a {image.width}-dot line"
    return [b.text for b in found]


@pytest.mark.parametrize("native_qr", [True, False], ids=["native-qr", "image-qr"])
def test_a_citizens_ticket_on_a_real_printer_through_paper_out_and_a_reprint(kiosk, api, app,
                                                                            emulated_printer, artifacts,
                                                                            native_qr):
    from shared.printing.watch import poll_once

    kiosk.configure(printer=emulated_printer.spec, profile="TM-T20II", native_qr=native_qr)

    # An older adult asks for "Licencias y planeación": the ticket prints, accents and all.
    ticket = kiosk.issue("F", "adulto_mayor")
    assert wait_idle(10)
    assert kiosk.job(ticket["print"]["id"])["status"] == "printed"
    [first] = emulated_printer.receipts(1)
    text = emulated_printer.text(first)
    assert "Alcaldía de Villa Esperanza" in text and "Licencias y planeación" in text
    assert "PF-001" in text and "ATENCIÓN PREFERENCIAL" in text
    png = emulated_printer.image(first)
    (artifacts / f"emupos-ticket-{'native' if native_qr else 'image'}-qr.png").write_bytes(png)
    assert _qr_text(png) == [ticket["status_url"]]
    assert ticket["status_url"].endswith(f"/t/{ticket['status_url'].rsplit('/', 1)[1]}")

    # The roll runs out: the next ticket is valid on screen, the staff are told, nothing prints.
    emulated_printer.fault("paper-out", True)
    staff = staff_socket(api)
    second = kiosk.issue("A")
    assert wait_idle(10)
    job = kiosk.job(second["print"]["id"])
    assert job["status"] == "failed" and job["error"] == "paper_out"
    assert [a["kind"] for a in received(staff, "alert")] == ["print_failed"]
    state = api.call("supervisor", "GET", f"/api/v1/kiosks/{kiosk.id}").get_json()
    assert state["printer_status"] == "paper_out"

    # A new roll: the status clears by itself at the next check, without a ticket.
    emulated_printer.fault("paper-out", False)
    poll_once(app)
    assert api.call("supervisor", "GET", f"/api/v1/kiosks/{kiosk.id}").get_json()["printer_status"] == "ok"
    assert [e["status"] for e in received(staff, "printer_status")] == ["ok"]

    # The supervisor reprints the citizen's ticket: it prints once, and the failure is resolved.
    r = api.call("supervisor", "POST", f"/api/v1/tickets/{second['id']}/reprint")
    assert r.status_code == 202
    assert wait_idle(10)
    assert kiosk.job(r.get_json()["id"])["status"] == "printed"
    receipts = emulated_printer.receipts(2)
    assert len(receipts) == 2 and "A-001" in emulated_printer.text(receipts[1])
    assert _qr_text(emulated_printer.image(receipts[1])) == [second["status_url"]]
    failed = api.call("supervisor", "GET", "/api/v1/print-jobs?status=failed").get_json()["jobs"]
    assert [j["id"] for j in failed] == [second["print"]["id"]]
    from tests.conftest import login

    page = login(app, "supervisor").get("/printer/").get_data(as_text=True)
    assert 'id="no-failures"' in page
