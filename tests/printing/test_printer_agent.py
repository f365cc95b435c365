"""A remote kiosk prints through its printer agent: every job once, whatever restarts."""

from __future__ import annotations

import base64

from shared.db import connect
from shared.events import socketio
from shared.printing.agent import JobRecord, PrinterAgent
from shared.printing.dispatch import wait_idle
from tests.conftest import DEMO_ADMIN
from tests.printer.escpos_decode import decode
from tests.printing.helpers import received, staff_socket


def _codes(printer) -> list[str]:
    """Return the ticket codes printed so far, one per ticket (status checks print nothing)."""
    codes = []
    for connection in list(printer.connections):
        big = [line.text.strip() for line in decode(bytes(connection.data)).lines if line.width > 1]
        codes.extend(big)
    return codes


def test_the_agent_prints_each_job_exactly_once_across_a_server_restart(live_server, tcp_printer,
                                                                        tmp_path):
    admin = live_server.token(*DEMO_ADMIN)
    device = live_server.call(admin, "POST", "/api/v1/devices",
                              {"site": "cam-centro", "kind": "kiosk", "name": "Kiosco remoto"}).json()
    r = live_server.call(admin, "PATCH", f"/api/v1/kiosks/{device['id']}", {"printer": "agent"})
    assert r.status_code == 200, r.text
    agent = PrinterAgent(live_server.url, device["token"], tcp_printer.spec,
                         state_file=tmp_path / "agent.json", status_interval=3600).start()
    try:
        assert agent.wait_until(accepted=1), "the agent never connected"
        first = live_server.call(device["token"], "POST", "/kiosk/api/tickets", {"service": "A"}).json()
        assert agent.wait_until(confirmed=1)
        assert _codes(tcp_printer) == ["A-001"]

        live_server.stop()
        # The server went down before it stored the agent's answer: on restart the job
        # is still "printing", so the server offers it again.
        db = connect(live_server.database)
        db.execute("UPDATE print_jobs SET status = 'printing', printer_status = NULL WHERE id = ?",
                   [first["print"]["id"]])
        db.close()
        live_server.start()

        assert agent.wait_until(accepted=2, confirmed=2, timeout=30), "the agent did not come back"
        second = live_server.call(device["token"], "POST", "/kiosk/api/tickets", {"service": "A"}).json()
        assert agent.wait_until(confirmed=3)
    finally:
        agent.stop()

    assert _codes(tcp_printer) == ["A-001", "A-002"]
    jobs = {j["id"]: j for j in live_server.call(admin, "GET", "/api/v1/print-jobs").json()["jobs"]}
    assert jobs[first["print"]["id"]]["status"] == "printed"
    assert jobs[first["print"]["id"]]["attempts"] == 2
    assert jobs[second["print"]["id"]]["status"] == "printed"


class _Answers:
    """Stands in for the agent's socket: keeps what the agent answers."""

    def __init__(self):
        self.sent = []

    def __call__(self, event, data=None, callback=None):
        self.sent.append((event, data))
        if callback:
            callback({"ok": True})


def _agent(printer, state_file, monkeypatch) -> tuple[PrinterAgent, _Answers]:
    """An agent whose socket is replaced by a recorder (no server needed)."""
    agent = PrinterAgent("http://127.0.0.1:9", "tdv_x", printer.spec, state_file=state_file)
    answers = _Answers()
    monkeypatch.setattr(agent.sio, "emit", answers)
    return agent, answers


def test_a_restarted_agent_answers_a_job_offered_again_without_printing_it(tcp_printer, content,
                                                                          tmp_path, monkeypatch):
    from shared.printing.layout import render_escpos

    job = {"job": "a1b2c3", "name": "000007-PA-007", "ticket": 7, "code": "PA-007", "attempt": 1,
           "data": base64.b64encode(render_escpos(content)).decode()}
    before, first = _agent(tcp_printer, tmp_path / "agent.json", monkeypatch)
    before._on_job(job)
    after, second = _agent(tcp_printer, tmp_path / "agent.json", monkeypatch)
    after._on_job(dict(job, attempt=2))

    assert _codes(tcp_printer) == ["PA-007"]
    [(event, answer)] = first.sent
    assert event == "print_result" and answer["ok"] and answer["job"] == "a1b2c3"
    assert second.sent == first.sent
    assert JobRecord(tmp_path / "agent.json").get("a1b2c3")["acked"] is True


def test_a_job_the_agent_was_printing_when_it_died_is_not_printed_again(tcp_printer, content, tmp_path,
                                                                        monkeypatch):
    from shared.printing.layout import render_escpos

    JobRecord(tmp_path / "agent.json").started("d4e5f6", "000008-A-008")
    agent, answers = _agent(tcp_printer, tmp_path / "agent.json", monkeypatch)
    agent._on_job({"job": "d4e5f6", "name": "000008-A-008", "code": "A-008",
                   "data": base64.b64encode(render_escpos(content)).decode()})
    assert tcp_printer.connections == []
    [(_event, answer)] = answers.sent
    assert not answer["ok"] and answer["error"] == "interrupted"


def _agent_socket(app, kiosk):
    """Connect as the kiosk's agent would (the kiosk's token) and introduce it."""
    client = socketio.test_client(app, auth={"token": kiosk.token})
    client.get_received()
    return client, client.emit("agent_ready", {"printer": "tcp:127.0.0.1:9100", "status": "ok"},
                               callback=True)


def test_the_server_hands_a_remote_kiosk_its_jobs_and_records_the_agents_answer(kiosk, app, api):
    kiosk.configure(printer="agent")
    agent, hello = _agent_socket(app, kiosk)
    assert hello == {"ok": True, "device": kiosk.id, "offered": 0}
    screen = kiosk.socket()
    ticket = kiosk.issue("A", priority="discapacidad")
    assert wait_idle(10)

    [job] = received(agent, "print_job")
    assert job["code"] == "PA-001" and job["attempt"] == 1
    paper = decode(base64.b64decode(job["data"]))
    assert paper.lines_with("PA-001") and paper.qr_payloads == [ticket["status_url"].encode()]
    assert kiosk.job(ticket["print"]["id"])["status"] == "printing"

    answer = {"job": job["job"], "ok": True, "status": "ok", "error": None,
              "message": "Turno enviado a la impresora.", "bytes_sent": len(job["data"])}
    assert agent.emit("print_result", answer, callback=True) == {"ok": True}
    assert agent.emit("print_result", answer, callback=True) == {"ok": True}
    assert kiosk.job(ticket["print"]["id"])["status"] == "printed"
    assert [r["ok"] for r in received(screen, "print_result")] == [True]


def test_a_remote_kiosk_without_its_agent_gets_a_failed_print_and_supervisors_an_alert(kiosk, app, api):
    app.config["PRINT_TIMEOUT_SECONDS"] = 0.2
    kiosk.configure(printer="agent")
    screen, staff = kiosk.socket(), staff_socket(api)
    ticket = kiosk.issue("B")
    assert wait_idle(10)
    job = kiosk.job(ticket["print"]["id"])
    assert job["status"] == "failed" and job["error"] == "no_agent"
    [result] = received(screen, "print_result")
    assert not result["ok"] and "Su turno es válido" in result["message"]
    [alert] = received(staff, "alert")
    assert alert["kind"] == "print_failed" and "agente" in alert["message"]


def test_the_agent_reports_a_roll_near_its_end_to_supervisors(kiosk, app, api):
    kiosk.configure(printer="agent")
    agent, _hello = _agent_socket(app, kiosk)
    staff = staff_socket(api)
    assert agent.emit("printer_status", {"status": "near_end"}, callback=True) == {"ok": True}
    assert agent.emit("printer_status", {"status": "near_end"}, callback=True) == {"ok": True}
    events = staff.get_received()
    assert [e["name"] for e in events] == ["printer_status", "alert"]
    assert events[1]["args"][0]["kind"] == "paper_near_end"
    assert api.call("admin", "GET", f"/api/v1/kiosks/{kiosk.id}").get_json()["printer_status"] == "near_end"


def test_only_a_kiosk_set_to_print_through_an_agent_may_act_as_one(kiosk, app, api):
    ticket = kiosk.issue("A")
    assert wait_idle(10)
    client, hello = _agent_socket(app, kiosk)
    assert hello["ok"] is False and hello["error"] == "not_agent"
    answer = {"job": "whatever", "ok": False, "error": "paper_out"}
    assert client.emit("print_result", answer, callback=True) == {"ok": False, "error": "forbidden"}
    assert kiosk.job(ticket["print"]["id"])["status"] == "printed"

    kiosk.configure(printer="agent")
    _client, hello = _agent_socket(app, kiosk)
    assert hello["ok"] is True
    assert _client.emit("print_result", dict(answer, job="nope"), callback=True)["error"] == "unknown_job"
    assert _client.emit("print_result", "garbage", callback=True)["error"] == "invalid"
    display = socketio.test_client(app, auth={"token": api.device("display", name="Sala")})
    assert display.emit("agent_ready", {}, callback=True) == {"ok": False, "error": "forbidden"}


def test_a_remote_kiosk_runs_the_printer_agent_command_and_its_ticket_prints(live_server, tcp_printer,
                                                                           tmp_path):
    import os
    import subprocess
    import sys
    import threading

    import socketio as sio

    from tests.conftest import ROOT

    admin = live_server.token(*DEMO_ADMIN)
    device = live_server.call(admin, "POST", "/api/v1/devices",
                              {"site": "cam-centro", "kind": "kiosk", "name": "Kiosco rural"}).json()
    live_server.call(admin, "PATCH", f"/api/v1/kiosks/{device['id']}", {"printer": "agent"})
    printed = threading.Event()
    results = []
    screen = sio.Client()

    @screen.on("print_result")
    def _result(payload):
        results.append(payload)
        printed.set()

    log = open(tmp_path / "agent.log", "wb")
    agent = subprocess.Popen(
        [sys.executable, str(ROOT / "run.py"), "printer-agent", "--server", live_server.url,
         "--printer", tcp_printer.spec, "--state-file", str(tmp_path / "agent.json")],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env=dict(os.environ, TURNOS_AGENT_TOKEN=device["token"]))
    try:
        screen.connect(live_server.url, auth={"token": device["token"]}, transports=["websocket"])
        while not printed.is_set():
            # Until the agent has introduced itself, a ticket fails with "no agent": tap again.
            ticket = live_server.call(device["token"], "POST", "/kiosk/api/tickets", {"service": "F"}).json()
            assert printed.wait(15), (tmp_path / "agent.log").read_text()
            if not results[-1]["ok"]:
                assert results[-1]["error"] == "no_agent"
                printed.clear()
                assert agent.poll() is None, (tmp_path / "agent.log").read_text()
        assert results[-1]["ok"] and results[-1]["ticket"] == ticket["id"]
        assert ticket["code"] in _codes(tcp_printer)
        state = live_server.call(admin, "GET", f"/api/v1/kiosks/{device['id']}").json()
        assert state["agent_online"] is True and state["printer_status"] == "ok"
    finally:
        screen.disconnect()
        agent.terminate()
        agent.wait(10)


def test_the_printer_agent_command_refuses_a_bad_printer_or_server():
    from click.testing import CliRunner

    from server.cli import main

    runner = CliRunner()
    bad_printer = runner.invoke(main, ["printer-agent", "--server", "http://127.0.0.1:5000",
                                       "--token", "tdv_x",
                                       "--printer", "lpt1"])
    assert bad_printer.exit_code == 2 and "Accepted forms" in bad_printer.output
    bad_server = runner.invoke(main, ["printer-agent", "--server", "127.0.0.1:5000", "--token", "tdv_x",
                                      "--printer", "tcp:127.0.0.1:9100"])
    assert bad_server.exit_code == 2 and "http://" in bad_server.output
    no_token = runner.invoke(main, ["printer-agent", "--server", "http://127.0.0.1:5000",
                                    "--printer", "tcp:127.0.0.1:9100"], env={"TURNOS_AGENT_TOKEN": ""})
    assert no_token.exit_code == 2 and "--token" in no_token.output
