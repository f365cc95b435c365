"""On a real server, revoking a screen from the admin page cuts its open socket and its token at once."""

import re
import threading

import pytest
import requests
import socketio

from tests.conftest import DEMO_ADMIN


def _admin_session(base: str) -> tuple[requests.Session, str]:
    """Log in as the demo administrator through the login form; return the session and CSRF token."""
    session = requests.Session()
    page = session.get(base + "/login", timeout=10).text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    r = session.post(base + "/login", data={"username": DEMO_ADMIN[0], "password": DEMO_ADMIN[1],
                                            "csrf_token": csrf}, timeout=10, allow_redirects=False)
    assert r.status_code == 302, r.text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', session.get(base + "/admin/").text).group(1)
    return session, csrf


@pytest.mark.slow
def test_a_revoked_display_loses_its_socket_and_its_token_at_once(live_server):
    base = live_server.url
    admin_token = live_server.token(*DEMO_ADMIN)
    created = live_server.call(admin_token, "POST", "/api/v1/devices",
                               {"site": "cam-centro", "kind": "display", "name": "Pantalla robada"})
    device = created.json()
    gone, snapshot = threading.Event(), threading.Event()
    client = socketio.Client(reconnection=False)
    client.on("snapshot", lambda data: snapshot.set())
    client.on("disconnect", lambda *args: gone.set())
    client.connect(base, auth={"token": device["token"]}, transports=["websocket"], wait_timeout=10)
    try:
        assert snapshot.wait(10)
        session, csrf = _admin_session(base)
        r = session.post(f"{base}/admin/devices/{device['id']}/revoke", data={"csrf_token": csrf},
                         timeout=10, allow_redirects=False)
        assert r.status_code == 302
        assert gone.wait(5), "the revoked display's socket stayed open"
    finally:
        client.disconnect()
    assert live_server.call(device["token"], "GET", "/api/v1/me").status_code == 401
    again = socketio.Client(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        again.connect(base, auth={"token": device["token"]}, transports=["websocket"], wait_timeout=5)
