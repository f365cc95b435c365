"""Helpers for the desk stories: reading the database and posting as a logged-in browser."""

import re

import pytest

from tests.conftest import PASSWORD, login


@pytest.fixture
def db(app):
    """A direct connection to the test database, to check what was recorded.

    It is not an app context: an open one would be shared by the test client's
    requests (and with it the cached principal).
    """
    from shared.db import connect

    conn = connect(app.config["DATABASE"])
    yield conn
    conn.conn.close()


@pytest.fixture
def make_user(app, clock):
    """Create a staff account limited to some sites (by code)."""
    from shared import auth, store
    from shared.db import get_db

    def make(username: str, role: str, sites: list[str]) -> None:
        with app.app_context():
            db = get_db()
            ids = [store.find_site(db, code)["id"] for code in sites]
            auth.create_user(db, username, PASSWORD, role, clock, site_ids=ids)

    return make


@pytest.fixture
def browser_login(app):
    """Log a test client in through the login form; returns (client, csrf token)."""
    def login_at_desk(username: str):
        client = login(app, username)
        page = client.get("/desk/").get_data(as_text=True)
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', page).group(1)
        return client, csrf

    return login_at_desk


@pytest.fixture
def hall(live_server, demo_logins):
    """The live demo CAM with an admin token and a kiosk device that issues tickets."""
    admin = live_server.token(*demo_logins["admin"])
    kiosk = live_server.call(admin, "POST", "/api/v1/devices",
                             {"site": "cam-centro", "kind": "kiosk", "name": "Kiosco prueba"}).json()

    class Hall:
        server = live_server
        admin_token = admin

        @staticmethod
        def issue(service, priority=None):
            """Take a ticket at the kiosk (its device token), as a citizen would."""
            body = {"site": "cam-centro", "service": service}
            if priority:
                body["priority"] = priority
            r = live_server.call(kiosk["token"], "POST", "/api/v1/tickets", body)
            assert r.status_code == 201, r.text
            return r.json()

    return Hall
