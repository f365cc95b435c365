"""Probing every URL rule and socket event with each role: the helpers of the route inventory."""

import json
import re

ROLES = ("admin", "supervisor", "official", "kiosk", "display", "survey")
WHO = ROLES + ("anonymous",)
_DATA_ERROR = re.compile(r'data-error="([a-z_]+)"')
ROLE_REFUSALS = {"login_required", "forbidden", "unauthorized", "invalid_token", "not_paired"}


class Principals:
    """A bearer token for each role at CAM Centro, and sample values for URL arguments."""

    def __init__(self, app, api):
        from shared import store
        from shared.db import get_db

        self.api = api
        self.tokens = {name: api.token(name) for name in ("admin", "supervisor")}
        self.tokens["official"] = api.token("ana")
        for kind in ("kiosk", "display", "survey"):
            self.tokens[kind] = api.device(kind, name=f"inventario {kind}")
        victim = api.device("kiosk", name="victima")
        ticket = api.issue("A")
        with app.app_context():
            db = get_db()
            self.samples = {
                "site": "cam-centro", "desk": "cam-centro:1", "ticket_id": str(ticket["id"]),
                "device_id": str(api.call(victim, "GET", "/api/v1/me").get_json()["device"]),
                "service_id": "1", "desk_id": "1", "job_id": "1",
                "user_id": str(store.find_user(db, "carla")["id"]),
                "visit_id": store.ticket_by_id(db, ticket["id"])["visit_id"],
                "code": "NOPE2345", "name": "000001-A-001", "ext": "png", "filename": "x.css",
                "rest": "nothing-here", "kind": "step", "key": "services",
                "city": "villa-esperanza", "token": "not-the-entrance-token",
            }

    def url(self, rule, overrides: dict | None = None) -> str:
        """Fill a URL rule's arguments with sample values."""
        values = dict(self.samples, **(overrides or {}))
        missing = sorted(set(rule.arguments) - set(values))
        assert not missing, f"{rule.rule}: add a sample value for {missing} to the inventory"
        path = rule.rule
        for arg in rule.arguments:
            path = re.sub(r"<(?:[a-z]+:)?" + arg + r">", str(values[arg]), path)
        return path

    def headers(self, who: str) -> dict:
        """Return the request headers of one role (none for an anonymous visitor)."""
        if who == "anonymous":
            return {}
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def verdict(response) -> str:
    """Tell whether a response refused the caller's identity or role, or let it through.

    ``login``: redirected to the login page; ``401``/``403``: refused for who the
    caller is; ``pass``: anything else (success, a validation error, a 404 of a
    sample value, a conflict): the role check let the request in.
    """
    if response.status_code in (301, 302, 303, 307) and "/login" in response.headers.get("Location", ""):
        return "login"
    if response.status_code not in (401, 403):
        return "pass"
    code = None
    if response.mimetype == "application/json":
        code = (response.get_json(silent=True) or {}).get("error")
    else:
        match = _DATA_ERROR.search(response.get_data(as_text=True))
        code = match.group(1) if match else None
    return str(response.status_code) if code in ROLE_REFUSALS else "pass"


def probe(client, principals: Principals, method: str, path: str, who: str):
    """Send one harmless request (an unknown JSON field, so nothing is written) as a role."""
    body = None if method in ("GET", "HEAD") else json.dumps({"__inventory__": True})
    accept = "application/json" if path.startswith("/api/") else "text/html"
    response = client.open(path, method=method, data=body, content_type="application/json",
                           headers=dict(principals.headers(who), Accept=accept))
    # Read streamed bodies to the end: an unread stream keeps its request context alive.
    response.get_data()
    response.close()
    return response
