"""Printer addresses and what printers say about themselves over real links."""

from __future__ import annotations

import time

import pytest

from shared.printing.connections import (
    FileTransport,
    PrinterSpec,
    PrinterStatus,
    VirtualPrinter,
    decode_status,
    parse_spec,
)
from shared.printing.delivery import check_status
from tests.printer.fakes import PAPER_NEAR_END, PAPER_OK, PAPER_OUT, PRINTER_OFFLINE, PRINTER_ONLINE


@pytest.mark.parametrize(
    "text, expected",
    [
        ("serial:/dev/ttyUSB0", PrinterSpec("serial", path="/dev/ttyUSB0", baudrate=9600)),
        ("serial:/dev/ttyS0?baudrate=19200", PrinterSpec("serial", path="/dev/ttyS0", baudrate=19200)),
        ("tcp:192.168.1.50:9100", PrinterSpec("tcp", host="192.168.1.50", port=9100)),
        ("tcp:impresora-cam1", PrinterSpec("tcp", host="impresora-cam1", port=9100)),
        ("tcp:[fe80::1]:9101", PrinterSpec("tcp", host="fe80::1", port=9101)),
        ("usb:0x04b8:0x0202", PrinterSpec("usb", vendor_id=0x04B8, product_id=0x0202)),
        ("usb:04B8:202", PrinterSpec("usb", vendor_id=0x04B8, product_id=0x0202)),
        ("file:/dev/usb/lp0", PrinterSpec("file", path="/dev/usb/lp0")),
        ("virtual:", PrinterSpec("virtual")),
        ("none", PrinterSpec("none")),
    ],
)
def test_accepted_printer_specs(text, expected):
    assert parse_spec(text) == expected
    # The canonical form reads back to the same spec.
    assert parse_spec(str(expected)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "bogus",
        "lpt:1",
        "serial:",
        "serial:/dev/ttyUSB0?baudrate=fast",
        "serial:/dev/ttyUSB0?baudrate=\u00b3",
        "serial:/dev/ttyUSB0?parity=E",
        "tcp:",
        "tcp:host:0",
        "tcp:host:99999",
        "tcp:host:port",
        "usb:04b8",
        "usb:xyz:0202",
        "usb:0x104b8:0202",
        "file:",
    ],
)
def test_bad_printer_specs_name_the_accepted_forms(text):
    with pytest.raises(ValueError) as error:
        parse_spec(text)
    message = str(error.value)
    for form in ("serial:", "tcp:", "usb:", "file:", "virtual:", "none"):
        assert form in message


@pytest.mark.parametrize(
    "printer_byte, paper_byte, expected",
    [
        (PRINTER_ONLINE, PAPER_OK, PrinterStatus.OK),
        (PRINTER_ONLINE, PAPER_NEAR_END, PrinterStatus.NEAR_END),
        (PRINTER_ONLINE, 0x16, PrinterStatus.NEAR_END),  # only bit 2
        (PRINTER_OFFLINE, PAPER_OUT, PrinterStatus.PAPER_OUT),  # out of paper also reads offline
        (PRINTER_ONLINE, 0x32, PrinterStatus.PAPER_OUT),  # only bit 5
        (PRINTER_OFFLINE, PAPER_OK, PrinterStatus.OFFLINE),
        (PRINTER_ONLINE, None, PrinterStatus.UNKNOWN),
        (None, None, PrinterStatus.UNKNOWN),
    ],
)
def test_status_is_decoded_by_bits(printer_byte, paper_byte, expected):
    assert decode_status(printer_byte, paper_byte) is expected


@pytest.mark.parametrize(
    "cause_byte, error_byte, expected",
    [
        (0x16, None, PrinterStatus.COVER_OPEN),  # DLE EOT 2 bit 2
        (0x32, None, PrinterStatus.PAPER_OUT),  # bit 5: stopped at the paper end
        (0x52, 0x1A, PrinterStatus.CUTTER_ERROR),  # bit 6, then DLE EOT 3 bit 3
        (0x52, 0x52, PrinterStatus.ERROR),  # another error (e.g. the head overheated)
        (0x12, None, PrinterStatus.OFFLINE),  # offline, no cause given
        (None, None, PrinterStatus.OFFLINE),
    ],
)
def test_an_offline_printer_is_named_by_its_cause(cause_byte, error_byte, expected):
    assert decode_status(PRINTER_OFFLINE, PAPER_OK, cause_byte, error_byte) is expected


@pytest.mark.parametrize(
    "condition, expected",
    [
        (dict(), PrinterStatus.OK),
        (dict(paper=PAPER_NEAR_END), PrinterStatus.NEAR_END),
        (dict(paper=PAPER_OUT, online=False), PrinterStatus.PAPER_OUT),
        (dict(online=False), PrinterStatus.OFFLINE),
        (dict(cover_open=True), PrinterStatus.COVER_OPEN),
        (dict(cutter_error=True), PrinterStatus.CUTTER_ERROR),
    ],
)
def test_a_printer_reports_its_status(fake_printer, condition, expected):
    fake_printer.configure(**condition)
    assert check_status(fake_printer.spec, timeout=2.0) is expected
    fake_printer.settle()
    # The offline cause (DLE EOT 2), and the error cause (3), only of a printer that is offline.
    offline = not fake_printer.online or fake_printer.cover_open or fake_printer.cutter_error
    asked = [1, 2, 3, 4] if fake_printer.cutter_error else [1, 2, 4] if offline else [1, 4]
    assert fake_printer.queries == asked


def test_a_silent_printer_is_unknown_never_ok_and_costs_only_the_timeout(fake_printer):
    fake_printer.configure(silent=True)
    started = time.monotonic()
    assert check_status(fake_printer.spec, timeout=0.3) is PrinterStatus.UNKNOWN
    assert time.monotonic() - started < 1.0
    # It does not ask the paper sensor of a printer that ignored the first question.
    fake_printer.settle()
    assert fake_printer.queries == [1]


def test_a_refused_connection_reads_offline(tcp_printer):
    tcp_printer.refuse = True
    assert check_status(tcp_printer.spec, timeout=1.0) is PrinterStatus.OFFLINE


def test_a_missing_serial_device_reads_offline(tmp_path):
    assert check_status(f"serial:{tmp_path / 'ttyUSB9'}", timeout=0.5) is PrinterStatus.OFFLINE


def test_one_way_links_cannot_answer(tmp_path):
    with FileTransport(str(tmp_path / "lp0")) as link:
        assert link.status(0.1) is PrinterStatus.UNKNOWN
    assert check_status(f"file:{tmp_path / 'lp0'}") is PrinterStatus.UNKNOWN
    assert check_status("none") is PrinterStatus.UNKNOWN


def test_virtual_printer_stores_each_job_and_is_always_ready(tmp_path):
    with VirtualPrinter(str(tmp_path / "jobs")) as printer:
        assert printer.status() is PrinterStatus.OK
        printer.begin_job("A-007", png=b"\x89PNG preview")
        assert printer.write(b"\x1b@ticket") == 8
    assert (tmp_path / "jobs" / "A-007.bin").read_bytes() == b"\x1b@ticket"
    assert (tmp_path / "jobs" / "A-007.png").read_bytes() == b"\x89PNG preview"


def test_virtual_printer_refuses_job_ids_that_escape_its_directory(tmp_path):
    printer = VirtualPrinter(str(tmp_path))
    for bad in ("../evil", "a/b", ".hidden", ""):
        with pytest.raises(ValueError):
            printer.begin_job(bad)
