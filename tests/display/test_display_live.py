"""A waiting-room screen hears its own site's calls, within its zone, and catches up on reconnect."""

import json
import threading

import pytest

from shared.events import socketio
from tests.conftest import PASSWORD
from tests.display.helpers import received


def connect(app, token: str | None = None, **auth):
    """Open an in-process Socket.IO client (a screen) with a token and extra auth fields."""
    if token:
        auth["token"] = token
    return socketio.test_client(app, auth=auth)


def call_and_close(api, who: str, desk: str) -> dict:
    """Call the next citizen at a desk, then mark them absent so the desk is free again."""
    r = api.next(who, desk)
    assert r.status_code == 200, r.get_json()
    ticket = r.get_json()
    assert api.call(who, "POST", f"/api/v1/tickets/{ticket['id']}/no-show").status_code == 200
    return ticket


def test_a_screen_in_cam_norte_hears_its_own_calls_and_never_cam_centros(app, api, display_device):
    norte = connect(app, display_device("cam-norte")["token"])
    centro = connect(app, display_device("cam-centro")["token"])
    norte.get_received()
    centro.get_received()
    api.issue("A", site="cam-centro")
    api.issue("E", site="cam-norte")
    api.take_desk("ana", "cam-centro:1")
    api.take_desk("beto", "cam-norte:2")
    api.next("ana", "cam-centro:1")
    api.next("beto", "cam-norte:2")

    norte_calls = received(norte, "ticket_called")
    assert [(c["code"], c["desk_name"]) for c in norte_calls] == [("E-001", "Ventanilla 2")]
    assert [c["code"] for c in received(centro, "ticket_called")] == ["A-001"]


def test_the_snapshot_holds_todays_calls_of_the_screens_services_only(app, api, display_device):
    for _ in range(4):
        api.issue("A")
    api.issue("C")
    api.take_desk("ana", "cam-centro:1")
    api.take_desk("beto", "cam-centro:3")
    for _ in range(3):
        call_and_close(api, "ana", "cam-centro:1")
    api.next("beto", "cam-centro:3")

    # Service codes are matched without regard to case; two earlier calls under the current one.
    token = display_device(config={"services": ["a"], "history_length": 2})["token"]
    snapshot = received(connect(app, token), "snapshot")[0]

    assert [c["code"] for c in snapshot["last_calls"]] == ["A-003", "A-002", "A-001"]
    assert snapshot["display"]["services"] == ["A"]
    assert snapshot["display"]["history_length"] == 2
    assert [s["code"] for s in snapshot["services"]] == ["A"]
    assert snapshot["services"][0]["waiting"] == 1
    assert snapshot["site_name"] == "CAM Centro"
    assert snapshot["display_message"].startswith("Bienvenido")


def test_a_screen_for_some_desks_counts_the_queues_those_desks_serve(app, api, display_device):
    api.issue("A")
    api.issue("C")
    api.take_desk("ana", "cam-centro:1")
    api.take_desk("beto", "cam-centro:3")
    api.next("ana", "cam-centro:1")
    api.next("beto", "cam-centro:3")
    token = display_device(config={"desks": ["3", "4"]})["token"]
    snapshot = received(connect(app, token), "snapshot")[0]
    assert [(c["code"], c["desk"]) for c in snapshot["last_calls"]] == [("C-001", "3")]
    assert snapshot["display"]["desks"] == ["3", "4"]
    assert snapshot["display"]["counted"] == ["C", "D"]
    assert [s["code"] for s in snapshot["services"]] == ["C", "D"]


def test_a_recalled_ticket_is_listed_once_at_the_top(app, api, display_device):
    first = api.issue("A")
    api.issue("A")
    api.take_desk("ana", "cam-centro:1")
    api.take_desk("beto", "cam-centro:2")
    api.next("ana", "cam-centro:1")
    api.next("beto", "cam-centro:2")
    assert api.call("ana", "POST", f"/api/v1/tickets/{first['id']}/recall").status_code == 200
    snapshot = received(connect(app, display_device()["token"]), "snapshot")[0]
    assert [(c["code"], c["recall"]) for c in snapshot["last_calls"]] == [("A-001", True),
                                                                          ("A-002", False)]


def test_yesterdays_calls_are_gone_from_the_morning_screen(app, api, clock, display_device):
    api.issue("A")
    api.take_desk("ana", "cam-centro:1")
    api.next("ana", "cam-centro:1")
    token = display_device()["token"]
    assert [c["code"] for c in received(connect(app, token), "snapshot")[0]["last_calls"]] == ["A-001"]
    clock.advance(hours=24)
    assert received(connect(app, token), "snapshot")[0]["last_calls"] == []


def test_a_long_history_is_cut_to_what_the_screen_shows(app, display_device):
    token = display_device(config={"history_length": 50})["token"]
    assert received(connect(app, token), "snapshot")[0]["display"]["history_length"] == 10


def test_wrong_settings_fall_back_to_the_defaults(app, display_device):
    token = display_device(config={"history_length": 0, "voice": "loud", "services": "A",
                                   "desks": [None, {"x": 1}]})["token"]
    settings = received(connect(app, token), "snapshot")[0]["display"]
    assert settings["history_length"] == 6
    assert settings["voice"] == "server"
    assert settings["services"] == [] and settings["desks"] == []


def test_an_admin_previews_a_screen_and_hears_only_what_the_screen_hears(app, api, display_device):
    preview = connect(app, api.token("admin"), display=True, site="cam-norte")
    assert preview.is_connected()
    snapshot = received(preview, "snapshot")[0]
    assert snapshot["site"] == "cam-norte" and snapshot["display"]["voice"] == "server"
    api.issue("A", site="cam-norte")
    assert {e["name"] for e in preview.get_received()} == {"queue_changed"}  # no staff events

    device = display_device("cam-centro", {"services": ["C"], "voice": "chime"})
    of_device = connect(app, api.token("admin"), display=True, device=device["id"])
    settings = received(of_device, "snapshot")[0]["display"]
    assert settings["services"] == ["C"] and settings["voice"] == "chime"


@pytest.mark.parametrize("who, auth", [
    ("supervisor", {"display": True, "site": "cam-centro"}),
    ("admin", {"display": True}),
    ("admin", {"display": True, "site": "cam-sur"}),
    ("admin", {"display": True, "site": ["cam-centro"]}),
    ("admin", {"display": True, "device": 999}),
])
def test_only_screens_and_admins_naming_a_real_site_may_watch(app, api, who, auth):
    assert not connect(app, api.token(who), **auth).is_connected()


def test_an_admin_cannot_preview_a_kiosk_as_a_screen(app, api):
    kiosk = api.call(api.device("kiosk"), "GET", "/api/v1/me").get_json()["device"]
    assert not connect(app, api.token("admin"), display=True, device=kiosk).is_connected()


def test_nothing_a_screen_hears_names_the_staff(app, api, display_device):
    from shared import auth
    from shared.db import get_db

    with app.app_context():
        auth.create_user(get_db(), "zuleima.r", PASSWORD, "official", app.extensions["turnos.clock"],
                         display_name="Zuleima Rengifo")
    screen = connect(app, display_device()["token"])
    first = api.issue("A", priority="adulto_mayor")
    api.issue("A")
    api.take_desk("zuleima.r", "cam-centro:1")
    api.next("zuleima.r", "cam-centro:1")
    api.call("zuleima.r", "POST", f"/api/v1/tickets/{first['id']}/recall")
    api.call("zuleima.r", "POST", f"/api/v1/tickets/{first['id']}/start")
    api.call("zuleima.r", "POST", f"/api/v1/tickets/{first['id']}/finish", {"outcome": "resolved"})
    api.next("zuleima.r", "cam-centro:1")
    later = connect(app, display_device()["token"])

    heard = screen.get_received() + later.get_received()
    assert {e["name"] for e in heard} == {"snapshot", "ticket_called", "queue_changed"}
    text = json.dumps(heard, ensure_ascii=False).lower()
    for secret in ("zuleima", "rengifo"):
        assert secret not in text
    calls = [e["args"][0] for e in heard if e["name"] == "ticket_called"]
    assert [c["code"] for c in calls] == ["PA-001", "PA-001", "A-002"]


# --- over a real WebSocket to a real server process ------------------------------

class Listener:
    """A python-socketio client that records what a screen hears and signals each event."""

    def __init__(self, url: str, token: str, reconnection: bool = False):
        import socketio as sio

        self.events: list[tuple[str, dict]] = []
        self.changed = threading.Condition()
        self.client = sio.Client(reconnection=reconnection, reconnection_delay=0.2,
                                 reconnection_delay_max=1)
        for name in ("snapshot", "ticket_called"):
            self.client.on(name, self._recorder(name))
        self.client.connect(url, auth={"token": token}, transports=["websocket"], wait_timeout=10)

    def _recorder(self, name):
        def record(data):
            with self.changed:
                self.events.append((name, data))
                self.changed.notify_all()
        return record

    def wait_for(self, predicate, timeout: float = 15) -> list:
        """Wait until the recorded events satisfy a predicate; return them."""
        with self.changed:
            assert self.changed.wait_for(lambda: predicate(self.events), timeout), self.events
            return list(self.events)

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()


def test_over_a_real_websocket_a_norte_screen_hears_norte_calls_only(hall):
    norte = Listener(hall.server.url, hall.display("cam-norte")["token"])
    centro = Listener(hall.server.url, hall.display("cam-centro")["token"])
    try:
        hall.issue("A", site="cam-centro")
        hall.issue("E", site="cam-norte")
        hall.take_desk(0, "cam-centro:1")
        hall.take_desk(1, "cam-norte:1")
        hall.next(0, "cam-centro:1")
        hall.next(1, "cam-norte:1")
        # The centro call went out first: had norte been in its room, it would be heard before.
        heard = norte.wait_for(lambda ev: any(n == "ticket_called" for n, _ in ev))
        assert [(n, d.get("code")) for n, d in heard] == [("snapshot", None), ("ticket_called", "E-001")]
        centro.wait_for(lambda ev: any(n == "ticket_called" for n, _ in ev))
        assert [d["code"] for n, d in centro.events if n == "ticket_called"] == ["A-001"]
    finally:
        norte.close()
        centro.close()


def test_after_a_server_restart_a_screen_reconnects_and_gets_the_call_it_missed(hall):
    from shared.clock import SystemClock
    from shared.queue import SYSTEM, QueueEngine

    screen = Listener(hall.server.url, hall.display("cam-centro")["token"], reconnection=True)
    try:
        screen.wait_for(lambda ev: len(ev) == 1)
        hall.server.stop()
        # While the server is down, another process of the centre calls a citizen.
        with hall.database() as db:
            engine = QueueEngine(db, SystemClock())
            engine.issue("cam-centro", "B", actor=SYSTEM)
            engine.call_next(engine.desk("cam-centro:2"), SYSTEM)
        hall.server.start()
        heard = screen.wait_for(lambda ev: sum(n == "snapshot" for n, _ in ev) == 2)
        assert [c["code"] for c in heard[-1][1]["last_calls"]] == ["B-001"]
        assert heard[-1][1]["last_calls"][0]["desk_name"] == "Módulo 2"
    finally:
        screen.close()
