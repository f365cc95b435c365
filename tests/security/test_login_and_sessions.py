"""Logging in: failures held back where they come from, sessions that expire, cookies no script reads."""

import re

from tests.admin.pages import StaffBrowser, audit_actions


def test_five_wrong_passwords_hold_back_that_place_and_the_login_page_says_so(app, clock):
    for _attempt in range(5):
        r = StaffBrowser(app).login("ana", "not-her-password")
        assert r.status_code == 401
        assert "Usuario o contraseña incorrectos." in r.text
    locked = StaffBrowser(app).login("ana")
    assert locked.status_code == 429
    assert ("login.throttled", "user:ana", None) in audit_actions(app)
    assert re.search(r'role="alert">Demasiados intentos fallidos con esta cuenta desde este equipo',
                     locked.text)
    clock.advance(minutes=16)
    assert StaffBrowser(app).login("ana").status_code == 302


def test_after_a_lockout_runs_out_one_typo_does_not_lock_the_account_again(app, clock):
    for _ in range(5):
        StaffBrowser(app).login("ana", "not-her-password")
    clock.advance(minutes=16)
    assert StaffBrowser(app).login("ana", "one-more-typo").status_code == 401
    assert StaffBrowser(app).login("ana").status_code == 302


def test_the_lockout_also_holds_for_api_tokens(app, api):
    for _ in range(5):
        api.client.post("/api/v1/auth/token", json={"username": "beto", "password": "nope-nope"})
    r = api.client.post("/api/v1/auth/token", json={"username": "beto", "password": "secret-pass-1"})
    assert r.status_code == 429 and r.get_json()["error"] == "account_locked"


def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(app):
    unknown = StaffBrowser(app).login("nadie", "whatever-pass")
    wrong = StaffBrowser(app).login("ana", "whatever-pass")
    assert unknown.status_code == wrong.status_code == 401
    assert "Usuario o contraseña incorrectos." in unknown.text


def test_a_session_left_idle_expires(app, clock):
    ana = StaffBrowser(app, "ana")
    clock.advance(hours=7)
    assert ana.get("/api/v1/me").status_code == 200
    clock.advance(hours=8, seconds=1)
    assert ana.get("/api/v1/me").status_code == 401


def test_a_busy_session_still_ends_at_its_lifetime(app, clock):
    ana = StaffBrowser(app, "ana")
    for _ in range(11):
        clock.advance(hours=1)
        assert ana.get("/api/v1/me").status_code == 200
    clock.advance(hours=1, seconds=1)
    assert ana.get("/api/v1/me").status_code == 401
    page = ana.get("/admin/")
    assert page.status_code == 302 and "/login" in page.headers["Location"]


def test_session_cookies_are_http_only_same_site_and_secure_behind_https(tmp_path, clock):
    from server import create_app

    for secure in (False, True):
        app = create_app({"TESTING": True, "SESSION_COOKIE_SECURE": secure,
                          "SOCKETIO_ASYNC_MODE": "threading"},
                         instance=tmp_path / f"instance-{secure}", clock=clock)
        cookie = app.test_client().get("/login").headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure


def test_the_paired_device_cookie_is_http_only_and_secure_behind_https(tmp_path, clock):
    from server import create_app
    from shared import devices, store
    from shared.db import get_db

    app = create_app({"TESTING": True, "SESSION_COOKIE_SECURE": True,
                      "SOCKETIO_ASYNC_MODE": "threading"}, instance=tmp_path / "i", clock=clock)
    with app.app_context():
        db = get_db()
        site = store.upsert_site(db, {"code": "s", "name": "S"}, 0)
        device_id = store.insert_device(db, site, "display", "Pantalla", None, {}, 0)
        code = devices.new_pairing_code(db, device_id, clock)
    screen = StaffBrowser(app)
    screen.refresh_csrf(f"/pair/{code}")
    r = screen.post(f"/pair/{code}")
    device_cookie = [c for c in r.headers.getlist("Set-Cookie") if c.startswith("turnos_device=")][0]
    assert "HttpOnly" in device_cookie and "Secure" in device_cookie and "SameSite=Lax" in device_cookie
    assert r.headers["Strict-Transport-Security"] == "max-age=31536000"


def test_login_returns_only_to_pages_of_this_server(app):
    for target, expected in (("/admin/devices", "/admin/devices"), ("//evil.example/", "/admin/"),
                             ("/\\evil.example/", "/admin/"), ("https://evil.example/", "/admin/")):
        visitor = StaffBrowser(app)
        visitor.refresh_csrf()
        r = visitor.client.post("/login", query_string={"next": target},
                                data={"username": "admin", "password": "secret-pass-1",
                                      "csrf_token": visitor.csrf})
        assert r.headers["Location"] == expected, target


def test_passwords_are_stored_with_scrypt_by_default(tmp_path, clock):
    from server import create_app
    from shared import auth, store
    from shared.db import get_db

    app = create_app({"TESTING": True, "SOCKETIO_ASYNC_MODE": "threading"},
                     instance=tmp_path / "i", clock=clock)
    with app.app_context():
        db = get_db()
        auth.create_user(db, "eva", "eva-pass-2026", "official", clock)
        stored = store.find_user(db, "eva")["password_hash"]
    assert stored.startswith("scrypt:") and "eva-pass-2026" not in stored
