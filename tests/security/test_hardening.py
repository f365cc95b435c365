"""Secrets stay in the instance folder, pages forbid inline scripts and framing, floods are cut short."""

import os
import re
import stat
import subprocess
from pathlib import Path

from tests.admin.pages import StaffBrowser

ROOT = Path(__file__).resolve().parents[2]


def test_the_secret_key_is_made_on_first_start_kept_private_and_reused(tmp_path, clock):
    from server import create_app

    folder = tmp_path / "instance"
    first = create_app({"TESTING": True, "SOCKETIO_ASYNC_MODE": "threading"}, instance=folder,
                       clock=clock)
    key_file = folder / "secret_key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert len(first.config["SECRET_KEY"]) == 64
    again = create_app({"TESTING": True, "SOCKETIO_ASYNC_MODE": "threading"}, instance=folder,
                       clock=clock)
    assert again.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    other = create_app({"TESTING": True, "SOCKETIO_ASYNC_MODE": "threading"},
                       instance=tmp_path / "other", clock=clock)
    assert other.config["SECRET_KEY"] != first.config["SECRET_KEY"]


def test_no_secret_or_instance_file_is_in_the_repository():
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    assert not [p for p in tracked if p.startswith("instance/") or p.endswith(
        ("secret_key", "id_hash_key", ".sqlite3"))]
    ignored = subprocess.run(["git", "check-ignore", "instance/secret_key"], cwd=ROOT,
                             capture_output=True, text=True)
    assert ignored.returncode == 0


def test_pages_and_api_answers_carry_the_security_headers(app, api):
    admin = StaffBrowser(app, "admin")
    for response in (admin.get("/admin/sites/cam-centro"), StaffBrowser(app).get("/login"),
                     api.call("admin", "GET", "/api/v1/sites")):
        headers = response.headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp and headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in headers  # plain HTTP: no HSTS promise
    assert admin.get("/admin/users").headers["Cache-Control"] == "no-store"


def test_administration_pages_have_no_inline_script_or_style(app, api):
    admin = StaffBrowser(app, "admin")
    kiosk = api.device("kiosk")
    device = api.call(kiosk, "GET", "/api/v1/me").get_json()["device"]
    pages = ["/admin/", "/admin/sites", "/admin/sites/cam-centro", "/admin/sites/cam-centro/services",
             "/admin/sites/cam-centro/services/1", "/admin/sites/cam-centro/desks",
             "/admin/sites/cam-centro/desks/1", "/admin/categories", "/admin/categories/gestante",
             "/admin/users", "/admin/users/1", "/admin/devices", f"/admin/devices/{device}",
             "/admin/audit", "/admin/layout", "/login"]
    for path in pages:
        html = admin.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert not re.search(r"\sstyle=|\son[a-z]+=", html), path


def test_an_oversized_request_gets_413_in_json_and_changes_nothing(api):
    r = api.call("admin", "POST", "/api/v1/tickets",
                 {"site": "cam-centro", "service": "A", "priority": "x" * 70_000})
    assert r.status_code == 413
    assert r.get_json()["error"] == "too_large"
    queue = api.call("admin", "GET", "/api/v1/sites/cam-centro/queue").get_json()
    assert queue["waiting"] == []


def test_a_stuck_kiosk_cannot_flood_the_queue(app, api, clock):
    app.config["KIOSK_RATE_LIMIT"] = (5, 60)
    stuck, neighbour = api.device("kiosk", name="atascado"), api.device("kiosk", name="vecino")
    codes = [api.call(stuck, "POST", "/api/v1/tickets",
                      {"site": "cam-centro", "service": "A"}).status_code for _ in range(8)]
    assert codes == [201] * 5 + [429] * 3
    assert api.call(neighbour, "POST", "/api/v1/tickets",
                    {"site": "cam-centro", "service": "A"}).status_code == 201
    waiting = api.call("admin", "GET", "/api/v1/sites/cam-centro/queue").get_json()["waiting"]
    assert len(waiting) == 6
    clock.advance(seconds=61)
    assert api.call(stuck, "POST", "/api/v1/tickets",
                    {"site": "cam-centro", "service": "A"}).status_code == 201


def test_a_kiosk_cannot_issue_for_another_site(api):
    kiosk = api.device("kiosk", site="cam-norte")
    r = api.call(kiosk, "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"})
    assert r.status_code == 403 and r.get_json()["error"] == "wrong_site"
