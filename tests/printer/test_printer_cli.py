"""An installer prints a test page and reads what happened."""

from __future__ import annotations

from shared.printing.testpage import printer_test
from tests.printer.escpos_decode import decode
from tests.printer.fakes import PAPER_OUT


def test_a_test_page_reaches_a_network_printer(tcp_printer, capsys):
    assert printer_test(tcp_printer.spec) == 0
    out = capsys.readouterr().out
    assert "sent" in out and "Status:      ok" in out and "Check the paper" in out
    printed = decode(tcp_printer.settle())
    assert printed.lines_with("Página de códigos: CP858")
    assert printed.lines_with("Perfil: TM-T20II")


def test_a_test_page_on_58mm_uses_the_narrow_layout(tcp_printer, capsys):
    assert printer_test(tcp_printer.spec, paper="58mm") == 0
    printed = decode(tcp_printer.settle())
    assert printed.lines_with("Papel: 58mm")
    assert all(len(line.text) * line.width <= 32 for line in printed.lines)


def test_a_printer_without_paper_fails_with_the_reason(tcp_printer, capsys):
    tcp_printer.configure(paper=PAPER_OUT)
    assert printer_test(tcp_printer.spec) == 1
    out = capsys.readouterr().out
    assert "FAILED (paper_out)" in out and "no tiene papel" in out


def test_the_virtual_printer_keeps_the_test_page(tmp_path, capsys):
    assert printer_test("virtual:", virtual_dir=str(tmp_path)) == 0
    assert len(list(tmp_path.glob("test-page-*.bin"))) == 1
    assert len(list(tmp_path.glob("test-page-*.png"))) == 1
    assert "Job stored as test-page-" in capsys.readouterr().out


def test_a_bad_spec_or_profile_is_a_usage_error(capsys):
    assert printer_test("lpt1") == 2
    assert "Accepted forms" in capsys.readouterr().out
    assert printer_test("none", profile="NO-SUCH-PRINTER") == 2
