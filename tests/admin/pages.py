"""Helpers for administration stories: a logged-in browser-like client and small readers."""

import html
import re

PASSWORD = "secret-pass-1"
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class StaffBrowser:
    """A Flask test client that logs in through the form and sends the page's CSRF token."""

    def __init__(self, app, username: str | None = None, password: str = PASSWORD):
        self.app = app
        self.client = app.test_client()
        self.csrf = ""
        if username:
            self.login(username, password)

    def refresh_csrf(self, path: str = "/login") -> str:
        """Read the CSRF token a page carries in its meta tag."""
        self.csrf = _META.search(self.client.get(path).text).group(1)
        return self.csrf

    def login(self, username: str, password: str = PASSWORD):
        """Log in through the login form; return the response."""
        self.refresh_csrf()
        r = self.client.post("/login", data={"username": username, "password": password,
                                             "csrf_token": self.csrf})
        if r.status_code == 302:
            self.refresh_csrf("/login")
        return r

    def get(self, path: str, **kwargs):
        """Open a page."""
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict | None = None, *, csrf: bool = True, **kwargs):
        """Submit a form (with the CSRF token unless told otherwise)."""
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.csrf)
        return self.client.post(path, data=data, **kwargs)



def heard(client, name: str) -> list:
    """Return the payloads of one event a socket test client received."""
    return [e["args"][0] for e in client.get_received() if e["name"] == name]


def site_row(app, code: str = "cam-centro") -> dict:
    """Read a site straight from the database."""
    from shared import store
    from shared.db import get_db

    with app.app_context():
        return store.find_site(get_db(), code)


def audit_actions(app) -> list[tuple[str, str, str | None]]:
    """Return (action, target, username) of every audit entry, newest first."""
    from shared import store
    from shared.db import get_db

    with app.app_context():
        return [(e["action"], e["target"], e["username"]) for e in store.audit_entries(get_db())]


def page_error(response) -> str:
    """Return the refusal a page shows (its role=alert text)."""
    match = re.search(r'role="alert"[^>]*>([^<]+)<', response.text)
    return html.unescape(match.group(1).strip()) if match else ""
