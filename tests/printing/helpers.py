"""A kiosk as the tests drive it: a registered device with its token, settings, sockets and tickets."""

from __future__ import annotations

from shared.events import socketio


class Kiosk:
    """A kiosk device registered through the API by the administrator."""

    def __init__(self, api, name: str = "Kiosco entrada", site: str = "cam-centro"):
        self.api = api
        self.app = api.app
        self.token = api.device("kiosk", site=site, name=name)
        me = api.call(self.token, "GET", "/api/v1/me")
        assert me.status_code == 200, me.get_json()
        self.id = me.get_json()["device"]
        self.name = name

    def configure(self, **settings) -> dict:
        """Change the kiosk's settings as the administrator; return them."""
        r = self.api.call("admin", "PATCH", f"/api/v1/kiosks/{self.id}", settings)
        assert r.status_code == 200, r.get_json()
        return r.get_json()["settings"]

    def tap(self, service: str = "A", priority: str | None = None, request_id: str | None = None):
        """Issue a ticket the way the kiosk page does; return the response."""
        body = {"service": service}
        if priority:
            body["priority"] = priority
        if request_id:
            body["request_id"] = request_id
        return self.api.call(self.token, "POST", "/kiosk/api/tickets", body)

    def issue(self, service: str = "A", priority: str | None = None) -> dict:
        """Issue a ticket and return it (status 201)."""
        r = self.tap(service, priority)
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    def job(self, job_id: int) -> dict:
        """Return one of the kiosk's print jobs as the kiosk page polls it."""
        r = self.api.call(self.token, "GET", f"/kiosk/api/jobs/{job_id}")
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    def socket(self):
        """Connect the kiosk's socket (it joins its device room)."""
        client = socketio.test_client(self.app, auth={"token": self.token})
        assert client.is_connected()
        client.get_received()
        return client


def staff_socket(api, username: str = "supervisor"):
    """Connect a staff member's socket (it joins the staff room of each site)."""
    client = socketio.test_client(api.app, auth={"token": api.token(username)})
    assert client.is_connected()
    client.get_received()
    return client


def received(client, name: str) -> list:
    """Return the payloads of the events of one name a socket test client received so far."""
    return [event["args"][0] for event in client.get_received() if event["name"] == name]


