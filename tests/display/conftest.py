"""Helpers for the waiting-room display stories: display devices, a live hall, the screen."""

import re

import pytest

from tests.display.helpers import wait_until


@pytest.fixture
def display_device(app, api):
    """Register a display device (with optional settings); return {"id", "token"}."""
    from shared import store
    from shared.db import get_db

    def make(site: str = "cam-centro", config: dict | None = None, name: str | None = None) -> dict:
        token = api.device("display", site, name)
        device_id = api.call(token, "GET", "/api/v1/me").get_json()["device"]
        if config is not None:
            with app.app_context():
                store.set_device_config(get_db(), device_id, config)
        return {"id": device_id, "token": token}

    return make


class Hall:
    """A live server seen from the hall: staff calling through the API, screens configured in the DB."""

    def __init__(self, server, logins):
        self.server = server
        self.admin = server.token(*logins["admin"])
        self.officials = [server.token(*logins["official"]), server.token(*logins["official2"])]

    def issue(self, service: str = "A", priority: str | None = None, site: str = "cam-centro") -> dict:
        """Issue a ticket as the admin."""
        body = {"site": site, "service": service}
        if priority:
            body["priority"] = priority
        r = self.server.call(self.admin, "POST", "/api/v1/tickets", body)
        assert r.status_code == 201, r.text
        return r.json()

    def take_desk(self, official: int, desk: str) -> None:
        """Make the n-th demo official hold a desk (POST /session)."""
        r = self.server.call(self.officials[official], "POST", f"/api/v1/desks/{desk}/session")
        assert r.status_code == 201, r.text

    def next(self, official: int, desk: str) -> dict:
        """Call the next citizen at a desk as the official holding it."""
        r = self.server.call(self.officials[official], "POST", f"/api/v1/desks/{desk}/next")
        assert r.status_code == 200, r.text
        return r.json()

    def recall(self, official: int, ticket: dict) -> None:
        """Call a called ticket again."""
        r = self.server.call(self.officials[official], "POST",
                             f"/api/v1/tickets/{ticket['id']}/recall")
        assert r.status_code == 200, r.text

    def display(self, site: str = "cam-centro", config: dict | None = None) -> dict:
        """Register a display device; return {"id", "token"}."""
        r = self.server.call(self.admin, "POST", "/api/v1/devices",
                             {"site": site, "kind": "display", "name": f"Sala {site}"})
        assert r.status_code == 201, r.text
        device = r.json()
        if config is not None:
            with self.database() as db:
                from shared import store

                store.set_device_config(db, device["id"], config)
        return device

    def database(self):
        """Open the live server's database directly (for what happens while it is down)."""
        import contextlib

        from shared.db import connect

        @contextlib.contextmanager
        def opened():
            db = connect(self.server.database)
            try:
                yield db
            finally:
                db.conn.close()

        return opened()

    def pairing_link(self) -> str:
        """Return the demo display's one-time pairing path printed by the server at start."""
        found = re.findall(r"Display \(pair\):\s+\S+(/pair/\w+)", self.server.log.read_text())
        assert found, self.server.log.read_text()
        return found[-1]


@pytest.fixture
def hall(live_server, demo_logins):
    """The demo CAM on a live server, with staff tokens ready."""
    return Hall(live_server, demo_logins)


@pytest.fixture
def screen(browser, live_server):
    """Open the display page in a 1920x1080 Chromium tab with a device's cookie."""
    contexts = []

    def open_screen(device: dict, target_browser=None):
        context = (target_browser or browser).new_context(
            viewport={"width": 1920, "height": 1080}, locale="es-CO")
        contexts.append(context)
        context.add_cookies([{"name": "turnos_device", "value": device["token"],
                              "url": live_server.url}])
        page = context.new_page()
        page.goto(live_server.url + "/display/")
        wait_until(page, "() => window.TurnosDisplay && TurnosDisplay.snapshots >= 1")
        return page

    yield open_screen
    for context in contexts:
        context.close()

