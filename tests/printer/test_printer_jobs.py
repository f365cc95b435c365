"""Delivering a citizen's ticket over real serial and TCP links, and saying honestly what happened."""

from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image

from shared.printing.connections import PrinterStatus
from shared.printing.delivery import deliver
from shared.printing.layout import render_escpos, render_png
from tests.printer.escpos_decode import decode
from tests.printer.fakes import PAPER_NEAR_END, PAPER_OUT, TcpFakePrinter

STATUS_QUERIES = b"\x10\x04\x01\x10\x04\x04"
KEEP_TURN = "Su turno es válido: tome una foto del código QR o anote su turno."


def _ticket(content, **options) -> bytes:
    """Render a ticket the fakes can read unambiguously."""
    data = render_escpos(content, **options)
    # The fakes answer every DLE EOT they see; a ticket must not contain one by chance.
    assert b"\x10\x04" not in data
    return data


@pytest.fixture
def big_ticket(content, tmp_path) -> bytes:
    """A ticket with a logo and an image QR: about 18 KB, far more than a link buffers."""
    logo = tmp_path / "escudo.png"
    image = Image.new("L", (800, 300), 255)
    for x in range(0, 800, 7):
        for y in range(0, 300, 3):
            image.putpixel((x, y), 0)
    image.save(logo)
    data = _ticket(dataclasses.replace(content, logo_path=str(logo)), native_qr=False)
    assert len(data) > 15_000
    return data


def test_a_ticket_arrives_whole_between_two_status_checks(fake_printer, content):
    ticket = _ticket(content)
    outcome = deliver(fake_printer.spec, ticket, job_id="PA-007", timeout=2.0)
    assert outcome.ok and outcome.error is None and outcome.warning is None
    assert outcome.status is PrinterStatus.OK
    assert outcome.bytes_sent == len(ticket)
    assert outcome.message == "Turno enviado a la impresora."
    received = fake_printer.settle()
    assert received == STATUS_QUERIES + ticket + STATUS_QUERIES
    printed = decode(received)
    assert printed.lines_with("PA-007")[0].width == 4
    assert printed.qr_payloads == [content.status_url.encode()]


def test_out_of_paper_the_ticket_is_not_sent(fake_printer, content):
    fake_printer.configure(paper=PAPER_OUT, online=False)
    outcome = deliver(fake_printer.spec, _ticket(content), job_id="PA-007", timeout=2.0)
    assert not outcome.ok
    assert outcome.error == "paper_out" and outcome.status is PrinterStatus.PAPER_OUT
    assert outcome.bytes_sent == 0
    assert outcome.message == f"La impresora no tiene papel. {KEEP_TURN}"
    # Offline: it is also asked why (DLE EOT 2), then for its paper.
    assert fake_printer.settle() == b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"


def test_an_offline_printer_is_not_sent_the_ticket(fake_printer, content):
    fake_printer.configure(online=False)
    outcome = deliver(fake_printer.spec, _ticket(content), job_id="PA-007", timeout=2.0)
    assert not outcome.ok and outcome.error == "offline" and outcome.status is PrinterStatus.OFFLINE
    assert fake_printer.settle() == b"\x10\x04\x01\x10\x04\x02\x10\x04\x04"


def test_near_the_end_of_the_roll_the_ticket_prints_with_a_warning(fake_printer, content):
    fake_printer.configure(paper=PAPER_NEAR_END)
    ticket = _ticket(content)
    outcome = deliver(fake_printer.spec, ticket, job_id="PA-007", timeout=2.0)
    assert outcome.ok and outcome.warning == "near_end" and outcome.status is PrinterStatus.NEAR_END
    assert "poco papel" in outcome.message
    assert fake_printer.settle() == STATUS_QUERIES + ticket + STATUS_QUERIES


def test_a_silent_printer_still_gets_the_ticket_but_the_job_is_unconfirmed_not_printed(fake_printer, content):
    fake_printer.configure(silent=True)
    ticket = _ticket(content)
    outcome = deliver(fake_printer.spec, ticket, job_id="PA-007", timeout=0.5)
    assert not outcome.ok and outcome.error == "unconfirmed" and outcome.status is PrinterStatus.UNKNOWN
    assert "no confirmó" in outcome.message
    assert outcome.elapsed_ms < 1000
    # Asked before the job and again after it: only an answer after it would confirm it.
    assert fake_printer.settle() == b"\x10\x04\x01" + ticket + b"\x10\x04\x01"


def test_a_printer_that_accepts_a_small_ticket_and_then_stalls_is_unconfirmed(tcp_printer, content):
    # The whole ticket fits in the socket buffers, so the write succeeds: that proves nothing.
    tcp_printer.stall = True
    outcome = deliver(tcp_printer.spec, _ticket(content), job_id="PA-007", timeout=1.0)
    assert not outcome.ok and outcome.error == "unconfirmed"
    assert outcome.bytes_sent == len(_ticket(content))


def test_a_silent_printer_that_resets_mid_job_is_a_lost_link_not_a_print(tcp_printer, content):
    tcp_printer.configure(silent=True, drop_after=200)
    outcome = deliver(tcp_printer.spec, _ticket(content), job_id="PA-007", timeout=1.0)
    assert not outcome.ok and outcome.error == "link_lost"
    assert outcome.status is not PrinterStatus.OK


@pytest.mark.parametrize("fault, error", [("cover_open", "cover_open"), ("cutter_error", "printer_error")])
def test_a_cover_open_or_a_cutter_error_is_named_and_the_ticket_not_sent(fake_printer, content, fault, error):
    fake_printer.configure(**{fault: True})
    outcome = deliver(fake_printer.spec, _ticket(content), job_id="PA-007", timeout=2.0)
    assert not outcome.ok and outcome.error == error and outcome.bytes_sent == 0
    assert "apagada" not in outcome.message
    assert b"PA-007" not in fake_printer.settle()


def test_a_link_dropped_mid_job_is_reported_as_lost(fake_printer, big_ticket):
    fake_printer.configure(drop_after=1000)
    # A 5 s budget gives the check after the job a full second to see the serial link go
    # (the fake closes its end from another thread, late on a loaded machine); the drop
    # still ends the job early, which the elapsed-time bound below checks.
    outcome = deliver(fake_printer.spec, big_ticket, job_id="PA-007", timeout=5.0)
    assert not outcome.ok and outcome.error == "link_lost"
    assert outcome.status is PrinterStatus.OFFLINE
    # The citizen is told the turn stands either way; the printout is called incomplete
    # when bytes are known to have left (a pty write that fails part-way reports none).
    assert "Su turno es válido" in outcome.message
    if outcome.bytes_sent:
        assert "incompleto" in outcome.message
    assert outcome.elapsed_ms < 2500
    # The printer got the first thousand bytes of the ticket and nothing more.
    if isinstance(fake_printer, TcpFakePrinter):
        [connection] = fake_printer.wait_for_connections(1)
        received = bytes(connection.data)
        # Over TCP the write itself fails: the link took far less than the ticket.
        assert 0 < outcome.bytes_sent < len(big_ticket)
        assert "incompleto" in outcome.message
    else:
        assert fake_printer.dropped.wait(2)
        # A pty pair buffers ~30 KB, so the write completes and the check after
        # the job is what finds the link gone.
        received = bytes(fake_printer.received)
    assert len(received) == 1000 and received == (STATUS_QUERIES + big_ticket)[:1000]


def test_a_refused_connection_fails_fast(tcp_printer, content):
    tcp_printer.refuse = True
    outcome = deliver(tcp_printer.spec, _ticket(content), job_id="PA-007", timeout=2.0)
    assert not outcome.ok and outcome.error == "refused" and outcome.status is PrinterStatus.OFFLINE
    assert outcome.message == f"No se pudo conectar con la impresora. {KEEP_TURN}"
    assert outcome.elapsed_ms < 2000


def test_a_printer_that_stops_taking_data_times_out_within_the_budget(tcp_printer, big_ticket):
    tcp_printer.stall = True
    outcome = deliver(tcp_printer.spec, big_ticket, job_id="PA-007", timeout=0.6)
    assert not outcome.ok and outcome.error == "timeout" and outcome.status is PrinterStatus.UNKNOWN
    assert 0 < outcome.bytes_sent < len(big_ticket)
    assert "incompleto" in outcome.message
    # The write stops early enough to leave the check after the job its share of the budget.
    assert 400 < outcome.elapsed_ms < 1200


def test_a_missing_serial_port_is_offline(tmp_path, content):
    outcome = deliver(f"serial:{tmp_path / 'ttyUSB9'}", _ticket(content), job_id="PA-007", timeout=1.0)
    assert not outcome.ok and outcome.error == "offline" and outcome.bytes_sent == 0


def test_the_virtual_printer_keeps_the_bytes_and_the_preview(tmp_path, content):
    ticket = _ticket(content)
    preview = render_png(content)
    outcome = deliver("virtual:", ticket, job_id="PA-007", png=preview, virtual_dir=str(tmp_path))
    assert outcome.ok and outcome.status is PrinterStatus.OK and outcome.bytes_sent == len(ticket)
    assert (tmp_path / "PA-007.bin").read_bytes() == ticket
    image = Image.open(io.BytesIO((tmp_path / "PA-007.png").read_bytes()))
    assert image.format == "PNG" and image.width == 576


def test_a_file_printer_gets_the_bytes_but_cannot_confirm(tmp_path, content):
    ticket = _ticket(content)
    outcome = deliver(f"file:{tmp_path / 'lp0'}", ticket, job_id="PA-007")
    assert not outcome.ok and outcome.error == "unconfirmed" and outcome.status is PrinterStatus.UNKNOWN
    assert "no confirmó" in outcome.message
    assert (tmp_path / "lp0").read_bytes() == ticket


@pytest.mark.parametrize("spec", ["bogus", "tcp:host:port", "virtual:"])
def test_a_bad_spec_is_an_outcome_not_an_exception(spec, content):
    outcome = deliver(spec, _ticket(content), job_id="PA-007")
    assert not outcome.ok and outcome.error == "bad_spec" and outcome.bytes_sent == 0
    assert outcome.message.endswith(KEEP_TURN)


def test_no_printer_configured_is_reported(content):
    outcome = deliver("none", _ticket(content), job_id="PA-007")
    assert not outcome.ok and outcome.error == "offline" and "no tiene impresora" in outcome.message


def test_a_job_id_that_could_escape_the_jobs_folder_is_a_programming_error(tmp_path, content):
    with pytest.raises(ValueError):
        deliver("virtual:", b"x", job_id="../../etc/passwd", virtual_dir=str(tmp_path))
