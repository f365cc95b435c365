"""A supervisor watches the room live: lines, desks, printers, alerts, and acts on a waiting ticket."""

import pytest

from shared.events import socketio
from tests.reports.known_day import at


def events(client, name):
    """Return the payloads of one event received by a Socket.IO test client."""
    return [e["args"][0] for e in client.get_received() if e["name"] == name]


@pytest.fixture
def busy_morning(api, app, clock):
    """Three desks held (one serving, one at lunch, one free), two lines over target, a kiosk out of paper."""
    from shared import store
    from shared.db import connect

    api.take_desk("ana", "cam-centro:1")
    api.take_desk("beto", "cam-centro:3")
    api.take_desk("carla", "cam-centro:5")
    api.call("beto", "POST", "/api/v1/desks/cam-centro:3/pause", {"reason": "lunch"})
    tickets = {"A1": api.issue("A")}
    at(clock, "08:01:00")
    tickets["A2"] = api.issue("A")
    at(clock, "08:02:00")
    tickets["C1"] = api.issue("C")
    at(clock, "08:05:00")
    api.call("carla", "POST", "/api/v1/desks/cam-centro:5/pause", {"reason": "break"})
    assert api.next("ana").get_json()["code"] == "A-001"
    at(clock, "08:05:30")
    api.call("ana", "POST", f"/api/v1/tickets/{tickets['A1']['id']}/start")
    api.call("carla", "POST", "/api/v1/desks/cam-centro:5/resume")
    kiosk = api.device("kiosk", name="Kiosco entrada")
    device_id = api.call(kiosk, "GET", "/api/v1/me").get_json()["device"]
    db = connect(app.config["DATABASE"])
    store.set_printer_state(db, device_id, "paper_out", "Sin papel", clock.now_ms())
    db.conn.close()
    at(clock, "08:30:00")
    return tickets


def test_the_monitor_shows_each_line_desk_and_printer(busy_morning, api):
    state = api.call("supervisor", "GET", "/api/v1/reports/monitor?site=cam-centro").get_json()
    lines = {s["code"]: s for s in state["services"]}
    assert lines["A"]["waiting"] == 1 and lines["A"]["longest_wait_seconds"] == 29 * 60
    assert lines["A"]["over_target"] is True and lines["A"]["desks_open"] == 2
    assert lines["C"]["waiting"] == 1 and lines["C"]["over_target"] is True
    assert lines["B"]["over_target"] is False
    desks = {d["code"]: d for d in state["desks"]}
    assert desks["1"]["state"] == "serving" and desks["1"]["official"] == "Ana"
    assert desks["1"]["ticket"]["code"] == "A-001"
    assert desks["1"]["since"] == "2026-11-25T08:05:30.000-05:00"
    assert desks["3"]["state"] == "paused" and desks["3"]["pause_label"] == "Almuerzo"
    assert desks["5"]["state"] == "idle" and desks["5"]["seconds"] == 24 * 60 + 30
    assert desks["2"]["state"] == "closed" and desks["2"]["official"] is None
    assert [w["code"] for w in state["waiting"]] == ["A-002", "C-001"]
    kiosk = next(k for k in state["kiosks"] if k["name"] == "Kiosco entrada")
    assert kiosk["status"] == "paper_out"
    kinds = sorted((a["kind"], a.get("service") or a.get("status")) for a in state["alerts"])
    assert kinds == [("printer", "paper_out"), ("wait_over_target", "A"), ("wait_over_target", "C")]
    assert all(isinstance(h["desks_needed"], int) for h in state["staffing"]["services"])


def test_the_supervisor_hears_a_line_passing_its_target_once(busy_morning, api, app, clock):
    from reports import monitor
    from shared.db import connect

    sock = socketio.test_client(app, auth={"token": api.token("supervisor")})
    assert sock.is_connected()
    sock.get_received()
    db = connect(app.config["DATABASE"])
    memory: dict = {}
    announcer = app.extensions["turnos.announcer"]
    monitor.check_waits(db, clock, announcer, memory)
    alerts = events(sock, "alert")
    assert sorted(a["service"] for a in alerts) == ["A", "C"]
    assert "supera la meta de 15 min" in next(a for a in alerts if a["service"] == "A")["message"]
    monitor.check_waits(db, clock, announcer, memory)
    assert events(sock, "alert") == [], "a line still over target is not announced again"
    db.conn.close()


def test_an_official_socket_does_not_get_the_supervisor_alerts_of_other_sites(busy_morning, api,
                                                                                 app, clock):
    from reports import monitor
    from shared.db import connect

    display = socketio.test_client(app, auth={"token": api.device("display")})
    display.get_received()
    db = connect(app.config["DATABASE"])
    monitor.check_waits(db, clock, app.extensions["turnos.announcer"], {})
    db.conn.close()
    assert events(display, "alert") == [], "alerts go to the staff room, not the waiting room"


def test_the_supervisor_reassigns_and_cancels_waiting_tickets_and_the_monitor_follows(
        busy_morning, api, app):
    sock = socketio.test_client(app, auth={"token": api.token("supervisor")})
    sock.get_received()
    a2, c1 = busy_morning["A2"], busy_morning["C1"]
    moved = api.call("supervisor", "POST", f"/api/v1/tickets/{a2['id']}/transfer", {"service": "B"})
    assert moved.status_code == 201
    api.call("supervisor", "POST", f"/api/v1/tickets/{c1['id']}/cancel", {"reason": "supervisor"})
    names = [e["name"] for e in sock.get_received()]
    assert "ticket_transferred" in names and "ticket_cancelled" in names
    state = api.call("supervisor", "GET", "/api/v1/reports/monitor?site=cam-centro").get_json()
    assert [(w["code"], w["service"]) for w in state["waiting"]] == [("A-002", "B")]


def test_the_monitor_page_loads_its_script_and_strings(browser_login, busy_morning):
    page = browser_login("supervisor").get("/reports/monitor?site=cam-centro").get_data(as_text=True)
    assert 'data-site="cam-centro"' in page and "monitor.js" in page
    assert 'data-reprint="1"' in page, "the kiosk's reprint endpoint exists, so the button shows"
