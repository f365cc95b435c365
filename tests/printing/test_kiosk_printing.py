"""A citizen takes a ticket at the kiosk and the kiosk's printer prints it, or the kiosk says why not.

Every story issues through the kiosk's own endpoint, so the ticket goes the
same way as on the kiosk: committed, recorded as a print job, printed in a
background task, and the outcome sent to the kiosk's socket and the staff.
"""

from __future__ import annotations

import pytest

from shared.printing.dispatch import wait_idle
from tests.conftest import login
from tests.printer.escpos_decode import decode
from tests.printer.fakes import PAPER_NEAR_END, PAPER_OUT, TcpFakePrinter
from tests.printing.helpers import received, staff_socket

CP858 = 19  # ESC t 19 on Epson-numbered printers


def test_a_preferential_ticket_prints_in_spanish_with_its_status_qr(kiosk, printer_link):
    kiosk.configure(printer=printer_link.spec)
    screen = kiosk.socket()
    ticket = kiosk.issue("A", priority="adulto_mayor")
    assert ticket["code"] == "PA-001" and ticket["print"]["status"] == "pending"
    assert wait_idle(10)

    paper = decode(printer_link.settle())
    assert CP858 in paper.codepages
    assert paper.lines_with("PA-001")[0].width >= 3
    for words in ("Alcaldía de Villa Esperanza", "Impuesto predial", "ATENCIÓN PREFERENCIAL · Adulto mayor",
                  "Personas antes de usted: 0", "Escanee para seguir su turno"):
        assert paper.lines_with(words), f"{words!r} not printed in:\n{paper.text}"
    assert paper.qr_payloads == [ticket["status_url"].encode()]
    assert paper.cuts == 1

    [result] = received(screen, "print_result")
    assert result["ok"] and result["status"] == "ok" and result["job"] == ticket["print"]["id"]
    assert kiosk.job(ticket["print"]["id"])["status"] == "printed"


def test_the_kiosk_page_can_follow_the_print_by_polling_when_its_socket_is_down(kiosk):
    ticket = kiosk.issue("C")
    assert wait_idle(10)
    job = kiosk.job(ticket["print"]["id"])
    assert job["status"] == "printed" and job["printer"] == "virtual" and job["attempts"] == 1


def test_the_virtual_printer_keeps_the_bytes_and_a_preview_in_the_instance(kiosk, app):
    ticket = kiosk.issue("B")
    assert wait_idle(10)
    folder = app.config["INSTANCE"] + "/tickets"
    name = f"{ticket['print']['id']:06d}-B-001"
    paper = decode(open(f"{folder}/{name}.bin", "rb").read())
    assert paper.lines_with("B-001") and paper.qr_payloads == [ticket["status_url"].encode()]
    assert open(f"{folder}/{name}.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("printer, error, staff_words", [
    (dict(paper=PAPER_OUT), "paper_out", "sin papel"),
    (dict(refuse=True), "refused", "rechazó la conexión"),
    (dict(drop_after=120), "link_lost", "se perdió la conexión"),
    (dict(online=False), "offline", "apagada o desconectada"),
    (dict(cover_open=True), "cover_open", "tapa de la impresora está abierta"),
    (dict(cutter_error=True), "printer_error", "cuchilla de corte"),
], ids=["paper-out", "connection-refused", "link-dropped-mid-job", "printer-offline", "cover-open",
        "cutter-error"])
def test_a_printer_fault_leaves_a_valid_ticket_a_failed_job_and_an_alert(kiosk, api, printer, error,
                                                                          staff_words):
    fake = TcpFakePrinter(**printer).start()
    try:
        kiosk.configure(printer=fake.spec, native_qr=False)
        screen, staff = kiosk.socket(), staff_socket(api)
        ticket = kiosk.issue("A")
        assert wait_idle(10)
    finally:
        fake.stop()

    [result] = received(screen, "print_result")
    assert not result["ok"] and result["error"] == error
    assert "Su turno es válido" in result["message"]
    job = kiosk.job(ticket["print"]["id"])
    assert job["status"] == "failed" and job["error"] == error
    still = api.call("supervisor", "GET", f"/api/v1/tickets/{ticket['id']}").get_json()
    assert still["status"] == "waiting" and still["code"] == "A-001"
    [alert] = received(staff, "alert")
    assert alert["kind"] == "print_failed" and alert["level"] == "error"
    assert alert["code"] == "A-001" and alert["device_name"] == "Kiosco entrada"
    assert staff_words in alert["message"]
    failures = api.call("supervisor", "GET", "/api/v1/print-jobs?status=failed").get_json()["jobs"]
    assert [(j["code"], j["error"]) for j in failures] == [("A-001", error)]


def test_a_printer_that_stops_taking_data_fails_the_job_within_the_timeout(kiosk, api, app):
    app.config["PRINT_TIMEOUT_SECONDS"] = 1.0
    fake = TcpFakePrinter(stall=True).start()
    try:
        kiosk.configure(printer=fake.spec, native_qr=False)
        staff = staff_socket(api)
        ticket = kiosk.issue("A")
        assert wait_idle(10)
    finally:
        fake.stop()
    job = kiosk.job(ticket["print"]["id"])
    assert job["status"] == "failed" and job["error"] == "timeout"
    assert [a["kind"] for a in received(staff, "alert")] == ["print_failed"]


@pytest.mark.parametrize("fault", [dict(silent=True), dict(stall=True), dict(silent=True, drop_after=200)],
                         ids=["silent", "accepts-then-stalls", "resets-mid-job"])
def test_a_print_the_printer_cannot_confirm_is_never_recorded_as_printed(kiosk, api, app, fault):
    fake = TcpFakePrinter(**fault).start()
    try:
        kiosk.configure(printer=fake.spec)
        screen, staff = kiosk.socket(), staff_socket(api)
        ticket = kiosk.issue("A")
        assert wait_idle(10)
    finally:
        fake.stop()
    [result] = received(screen, "print_result")
    assert not result["ok"] and result["error"] in ("unconfirmed", "link_lost")
    job = kiosk.job(ticket["print"]["id"])
    assert job["status"] == "failed" and job["printer_status"] != "ok"
    [alert] = received(staff, "alert")
    assert alert["code"] == "A-001"
    if result["error"] == "unconfirmed":
        assert alert["kind"] == "print_unconfirmed" and "no confirmó" in alert["message"]
        listed = "unconfirmed"
    else:
        assert alert["kind"] == "print_failed"
        listed = "failures"
    page = login(app, "supervisor").get("/printer/").get_data(as_text=True)
    section = page.split(f'<table id="{listed}">')[1].split("</table>")[0]
    assert f'data-job="{job["id"]}"' in section and "A-001" in section


def test_a_silent_printer_still_prints_and_the_kiosk_asks_the_citizen_to_check(kiosk, api, tcp_printer):
    tcp_printer.configure(silent=True)
    kiosk.configure(printer=tcp_printer.spec)
    screen = kiosk.socket()
    kiosk.issue("A")
    assert wait_idle(10)
    assert decode(tcp_printer.settle()).lines_with("A-001")
    [result] = received(screen, "print_result")
    assert result["error"] == "unconfirmed" and "no confirmó" in result["message"]


def test_a_reprint_that_prints_resolves_the_failure_it_replaces(kiosk, api, app, tcp_printer):
    tcp_printer.configure(paper=PAPER_OUT)
    kiosk.configure(printer=tcp_printer.spec)
    ticket = kiosk.issue("B")
    assert wait_idle(10)
    supervisor = login(app, "supervisor")
    assert f'data-job="{ticket["print"]["id"]}"' in supervisor.get("/printer/").get_data(as_text=True)

    tcp_printer.configure(paper=0x12)
    r = api.call("supervisor", "POST", f"/api/v1/tickets/{ticket['id']}/reprint")
    assert r.status_code == 202
    assert wait_idle(10)
    assert kiosk.job(r.get_json()["id"])["status"] == "printed"
    page = supervisor.get("/printer/").get_data(as_text=True)
    assert f'data-job="{ticket["print"]["id"]}"' not in page
    assert 'id="no-failures"' in page


def test_paper_out_clears_by_itself_once_the_roll_is_changed(kiosk, api, app, tcp_printer):
    from shared.printing.watch import poll_once

    tcp_printer.configure(paper=PAPER_OUT)
    kiosk.configure(printer=tcp_printer.spec)
    kiosk.issue("A")
    assert wait_idle(10)
    state = api.call("supervisor", "GET", f"/api/v1/kiosks/{kiosk.id}").get_json()
    assert state["printer_status"] == "paper_out"

    staff = staff_socket(api)
    tcp_printer.configure(paper=0x12)
    # One round of the loop that serve runs every PRINTER_POLL_SECONDS.
    assert poll_once(app) == 1
    kiosk_now = api.call("supervisor", "GET", f"/api/v1/kiosks/{kiosk.id}").get_json()
    assert kiosk_now["printer_status"] == "ok" and kiosk_now["printer_message"] == "Impresora lista."
    assert [(e["device"], e["status"]) for e in received(staff, "printer_status")] == [(kiosk.id, "ok")]
    printers = login(app, "supervisor").get("/printer/").get_data(as_text=True).split('id="printers"')[1]
    printers = printers.split("</table>")[0]
    assert "Impresora lista." in printers and "Sin papel" not in printers

    tcp_printer.configure(cover_open=True)
    poll_once(app)
    [alert] = received(staff, "alert")
    assert alert["status"] == "cover_open" and "tapa abierta" in alert["message"]

    tcp_printer.configure(silent=True, cover_open=False)
    poll_once(app)
    state = api.call("supervisor", "GET", f"/api/v1/kiosks/{kiosk.id}").get_json()
    assert state["printer_status"] == "unknown"


def test_every_kiosk_api_error_is_json_whatever_the_client_accepts(kiosk, api):
    headers = {"Authorization": f"Bearer {kiosk.token}", "Accept": "*/*"}
    client = api.client
    big = client.post("/kiosk/api/tickets", data=b"{" + b" " * 70_000 + b"}",
                      headers=dict(headers, **{"Content-Type": "application/json"}))
    assert big.status_code == 413 and big.is_json and big.get_json()["error"] == "too_large"
    wrong = client.get("/kiosk/api/tickets", headers=headers)
    assert wrong.status_code == 405 and wrong.get_json()["error"] == "method_not_allowed"
    assert wrong.headers["Allow"] == "POST"
    missing = client.get("/kiosk/api/nothing-here", headers=headers)
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    assert api.call(kiosk.token, "GET", "/kiosk/api/jobs/1").is_json


def test_near_the_end_of_the_roll_supervisors_are_warned_once(kiosk, api, tcp_printer):
    tcp_printer.configure(paper=PAPER_NEAR_END)
    kiosk.configure(printer=tcp_printer.spec)
    screen, staff = kiosk.socket(), staff_socket(api)
    kiosk.issue("A")
    kiosk.issue("A")
    assert wait_idle(10)
    assert len(decode(tcp_printer.settle(2)).lines_with("A-00")) == 2
    results = received(screen, "print_result")
    assert [r["ok"] for r in results] == [True, True]
    assert results[0]["warning"] == "near_end"
    alerts = received(staff, "alert")
    assert [(a["kind"], a["level"]) for a in alerts] == [("paper_near_end", "warning")]
    assert "poco papel" in alerts[0]["message"]


def test_a_supervisor_reprints_a_ticket_once_paper_is_back(kiosk, api, tcp_printer):
    tcp_printer.configure(paper=PAPER_OUT)
    kiosk.configure(printer=tcp_printer.spec)
    ticket = kiosk.issue("D")
    assert wait_idle(10)
    assert kiosk.job(ticket["print"]["id"])["status"] == "failed"

    tcp_printer.configure(paper=0x12)
    r = api.call("supervisor", "POST", f"/api/v1/tickets/{ticket['id']}/reprint")
    assert r.status_code == 202, r.get_json()
    again = r.get_json()
    assert again["reprint_of"] == ticket["print"]["id"] and again["device"] == kiosk.id
    assert wait_idle(10)
    assert kiosk.job(again["id"])["status"] == "printed"
    assert decode(tcp_printer.settle(2)).lines_with("D-001")


def test_only_supervisors_reprint_and_only_tickets_still_waiting(kiosk, api):
    ticket = kiosk.issue("A")
    assert wait_idle(10)
    r = api.call("ana", "POST", f"/api/v1/tickets/{ticket['id']}/reprint")
    assert r.status_code == 403
    r = api.call("supervisor", "POST", f"/api/v1/tickets/{ticket['id']}/reprint", {"device": 999})
    assert r.status_code == 409 and r.get_json()["error"] == "no_printer"
    r = api.call("supervisor", "POST", "/api/v1/tickets/424242/reprint")
    assert r.status_code == 404
    api.call("admin", "POST", f"/api/v1/tickets/{ticket['id']}/cancel")
    r = api.call("supervisor", "POST", f"/api/v1/tickets/{ticket['id']}/reprint")
    assert r.status_code == 409 and r.get_json()["error"] == "ticket_closed"
    jobs = api.call("admin", "GET", "/api/v1/print-jobs").get_json()["jobs"]
    assert len(jobs) == 1


def test_a_ticket_issued_at_a_desk_has_no_kiosk_to_reprint_on(api):
    ticket = api.issue("A", who="admin")
    r = api.call("supervisor", "POST", f"/api/v1/tickets/{ticket['id']}/reprint")
    assert r.status_code == 409 and r.get_json()["error"] == "no_printer"


def test_the_printers_page_lists_failures_with_a_reprint_button(kiosk, api, app):
    kiosk.configure(printer="tcp:127.0.0.1:1")
    ticket = kiosk.issue("E")
    assert wait_idle(10)
    browser = login(app, "supervisor")
    page = browser.get("/printer/").get_data(as_text=True)
    assert f'data-job="{ticket["print"]["id"]}"' in page and "E-001" in page and "Reimprimir" in page

    kiosk.configure(printer="virtual:")
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    r = browser.post(f"/printer/jobs/{ticket['print']['id']}/reprint", data={"csrf_token": csrf})
    assert r.status_code == 302 and "reprinted=" in r.headers["Location"]
    assert wait_idle(10)
    gallery = browser.get("/printer/virtual").get_data(as_text=True)
    assert "E-001" in gallery
    name = gallery.split('data-name="')[1].split('"')[0]
    png = browser.get(f"/printer/virtual/{name}.png")
    assert png.status_code == 200 and png.data[:4] == b"\x89PNG"


def test_officials_and_strangers_do_not_see_the_printer_pages(app, api):
    assert app.test_client().get("/printer/").status_code == 302
    official = login(app, "ana")
    assert official.get("/printer/").status_code == 403
    assert official.get("/printer/virtual/000001-A-001.png").status_code == 403
    assert api.call("ana", "GET", "/api/v1/print-jobs").status_code == 403


def test_the_print_job_list_refuses_a_bad_filter(api):
    r = api.call("admin", "GET", "/api/v1/print-jobs?status=lost")
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_status"
    r = api.call("admin", "GET", "/api/v1/print-jobs?limit=0")
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_limit"
