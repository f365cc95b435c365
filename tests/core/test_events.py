"""Screens and desks hear about every change: snapshot first, then live events."""

import threading

import pytest

from shared.events import socketio


def events(client, name):
    """Return the payloads of one event received by a test client."""
    return [e["args"][0] for e in client.get_received() if e["name"] == name]


def test_a_display_gets_the_snapshot_then_each_call_of_its_site(app, api):
    api.issue("A")
    display = socketio.test_client(app, auth={"token": api.device("display")})
    assert display.is_connected()
    received = display.get_received()
    assert [e["name"] for e in received] == ["snapshot"]
    snapshot = received[0]["args"][0]
    assert snapshot["site"] == "cam-centro"
    assert [s["waiting"] for s in snapshot["services"] if s["code"] == "A"] == [1]
    api.take_desk("ana")
    api.next("ana")
    calls = events(display, "ticket_called")
    assert len(calls) == 1
    assert calls[0]["code"] == "A-001" and calls[0]["desk"] == "1"
    assert calls[0]["desk_name"] == "Módulo 1" and calls[0]["recall"] is False


def test_a_display_of_another_site_hears_nothing_of_this_one(app, api):
    norte = socketio.test_client(app, auth={"token": api.device("display", "cam-norte")})
    centro = socketio.test_client(app, auth={"token": api.device("display", "cam-centro")})
    norte.get_received()
    api.issue("A")
    api.take_desk("ana")
    api.next("ana")
    assert len(events(centro, "ticket_called")) == 1
    assert [e["name"] for e in norte.get_received()] == []


def test_a_recall_is_announced_again(app, api):
    display = socketio.test_client(app, auth={"token": api.device("display")})
    t = api.issue("A")
    api.take_desk("ana")
    api.next("ana")
    api.call("ana", "POST", f"/api/v1/tickets/{t['id']}/recall")
    calls = events(display, "ticket_called")
    assert [c["recall"] for c in calls] == [False, True]


def test_the_snapshot_after_reconnecting_holds_the_calls_missed_meanwhile(app, api):
    token = api.device("display")
    display = socketio.test_client(app, auth={"token": token})
    display.disconnect()
    api.issue("A")
    api.issue("B")
    api.take_desk("ana")
    api.next("ana")
    again = socketio.test_client(app, auth={"token": token})
    snapshot = events(again, "snapshot")[0]
    assert [c["code"] for c in snapshot["last_calls"]] == ["A-001"]
    assert [s["waiting"] for s in snapshot["services"] if s["code"] == "B"] == [1]


def test_strangers_and_revoked_devices_cannot_listen(app, api):
    assert not socketio.test_client(app).is_connected()
    assert not socketio.test_client(app, auth={"token": "tdv_forged"}).is_connected()
    token = api.device("display")
    device_id = api.call(token, "GET", "/api/v1/me").get_json()["device"]
    api.call("admin", "DELETE", f"/api/v1/devices/{device_id}")
    assert not socketio.test_client(app, auth={"token": token}).is_connected()


def test_staff_hear_every_ticket_change_but_displays_only_calls_and_counts(app, api):
    staff = socketio.test_client(app, auth={"token": api.token("supervisor")})
    display = socketio.test_client(app, auth={"token": api.device("display")})
    staff.get_received()
    display.get_received()
    t = api.issue("A")
    api.take_desk("ana")
    api.next("ana")
    api.call("ana", "POST", f"/api/v1/tickets/{t['id']}/start")
    staff_names = {e["name"] for e in staff.get_received()}
    display_names = {e["name"] for e in display.get_received()}
    assert {"ticket_issued", "ticket_called", "ticket_started", "queue_changed",
            "desk_changed"} <= staff_names
    assert display_names == {"ticket_called", "queue_changed"}


def test_a_tickets_status_page_hears_its_own_ticket_only(app, api):
    mine = api.issue("A")
    api.issue("A")
    visit = mine["status_url"].rsplit("/", 1)[1]
    page = socketio.test_client(app, auth={"ticket": visit})
    assert page.is_connected()
    assert not socketio.test_client(app, auth={"ticket": "guessed-id"}).is_connected()
    api.take_desk("ana")
    api.next("ana")
    statuses = events(page, "ticket_status")
    assert statuses == [{"status": "called", "code": "A-001"}]


def test_a_real_socketio_client_receives_the_snapshot_then_the_call(live_server, demo_logins):
    """Over a real WebSocket to a real server process (gevent), as a display would."""
    import socketio as sio

    admin = live_server.token(*demo_logins["admin"])
    device = live_server.call(admin, "POST", "/api/v1/devices",
                              {"site": "cam-centro", "kind": "display", "name": "Sala"}).json()
    got_snapshot = threading.Event()
    got_call = threading.Event()
    received = []
    client = sio.Client(reconnection=False)

    @client.on("snapshot")
    def on_snapshot(data):
        received.append(("snapshot", data))
        got_snapshot.set()

    @client.on("ticket_called")
    def on_called(data):
        received.append(("ticket_called", data))
        got_call.set()

    client.connect(live_server.url, auth={"token": device["token"]}, transports=["websocket"],
                   wait_timeout=10)
    try:
        assert got_snapshot.wait(10)
        ticket = live_server.call(admin, "POST", "/api/v1/tickets",
                                  {"site": "cam-centro", "service": "A", "priority": "gestante"})
        assert ticket.status_code == 201
        assert live_server.call(admin, "POST", "/api/v1/desks/cam-centro:3/next").status_code == 204
        assert live_server.call(admin, "POST", "/api/v1/desks/cam-centro:1/next").status_code == 200
        assert got_call.wait(10)
    finally:
        client.disconnect()
    assert [name for name, _ in received] == ["snapshot", "ticket_called"]
    call = received[1][1]
    assert call["code"] == "PA-001" and call["preferential"] is True and call["desk_name"] == "Módulo 1"
    # A screen gets the preferential mark it shows, never the citizen's category.
    assert "priority" not in call and "priority_label" not in call
    assert "gestante" not in str(received).lower()


@pytest.mark.parametrize("token_kind", ["display", "kiosk"])
def test_device_sockets_join_only_their_own_site(app, api, token_kind):
    client = socketio.test_client(app, auth={"token": api.device(token_kind, "cam-norte")})
    snapshots = events(client, "snapshot")
    assert [s["site"] for s in snapshots] == ["cam-norte"]


def test_an_official_at_a_desk_hears_each_call_and_change_once(app, api):
    api.take_desk("ana")
    desk_socket = socketio.test_client(app, auth={"token": api.token("ana")})
    desk_socket.get_received()
    t = api.issue("A")
    api.next("ana")
    api.call("ana", "POST", f"/api/v1/tickets/{t['id']}/start")
    names = [e["name"] for e in desk_socket.get_received()]
    assert names.count("ticket_called") == 1
    assert names.count("ticket_started") == 1


def _counts_sent(announcer):
    """Return an Event set each time the announcer sends waiting counts."""
    sent = threading.Event()
    emit = announcer.emit

    def spy(event, payload, room):
        emit(event, payload, room)
        if event == "queue_changed":
            sent.set()

    announcer.emit = spy
    return sent


def test_a_burst_of_tickets_reaches_the_screens_as_a_few_counts_with_the_final_numbers(app, api):
    """At opening a queue of people takes tickets at once: screens get a few updates, not one each.

    The first change after a quiet spell is sent at once; the rest of the
    burst becomes one send at the end of the interval, with the counts of
    that moment, so the screen ends on the true numbers.
    """
    announcer = app.extensions["turnos.announcer"]
    announcer.interval = 2.0  # longer than the burst takes, even on a slow machine
    display = socketio.test_client(app, auth={"token": api.device("display")})
    display.get_received()
    sent = _counts_sent(announcer)
    for _ in range(12):
        api.issue("A")
    heard = events(display, "queue_changed")
    assert len(heard) == 1 and [s["waiting"] for s in heard[0]["services"]
                                if s["code"] == "A"] == [1], "the first ticket is shown at once"
    sent.clear()
    assert sent.wait(10), "the rest of the burst was never sent"
    heard += events(display, "queue_changed")
    assert len(heard) == 2, f"a burst of 12 tickets sent {len(heard)} counts"
    assert [s["waiting"] for s in heard[-1]["services"] if s["code"] == "A"] == [12]


def test_a_change_after_the_quiet_interval_is_sent_at_once(app, api):
    announcer = app.extensions["turnos.announcer"]
    announcer.interval = 0.2
    display = socketio.test_client(app, auth={"token": api.device("display")})
    display.get_received()
    api.issue("A")
    assert len(events(display, "queue_changed")) == 1
    announcer._last.clear()  # as if the interval had passed without changes
    api.issue("B")
    counts = events(display, "queue_changed")
    assert len(counts) == 1, "no wait for a change that follows a quiet spell"
    assert [s["waiting"] for s in counts[0]["services"] if s["code"] == "B"] == [1]
