"""A page on another site cannot act with a logged-in browser: every change needs the CSRF token."""

import pytest

from tests.admin.pages import StaffBrowser, site_row


@pytest.fixture
def admin(app):
    """The administrator, logged in through the login page."""
    return StaffBrowser(app, "admin")


def test_a_form_without_the_token_is_refused_and_changes_nothing(app, admin):
    before = site_row(app)
    for token in (None, "", "forged-token"):
        data = {"name": "Tomada", "timezone": "America/Bogota", "policy": "strict"}
        if token is not None:
            data["csrf_token"] = token
        r = admin.post("/admin/sites/cam-centro", data, csrf=False)
        assert r.status_code == 403
        assert "La solicitud no trae un token CSRF válido" in r.text
    assert site_row(app) == before


def test_a_script_call_without_the_header_is_refused_and_with_it_goes_through(app, admin):
    refused = admin.client.post("/api/v1/tickets", json={"site": "cam-centro", "service": "A"})
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "csrf_failed"
    ok = admin.client.post("/api/v1/tickets", json={"site": "cam-centro", "service": "A"},
                           headers={"X-CSRF-Token": admin.csrf})
    assert ok.status_code == 201
    assert ok.get_json()["code"] == "A-001"  # the refused call issued nothing


def test_a_cross_site_plain_text_post_and_a_delete_are_refused(app, admin, api):
    r = admin.client.post("/api/v1/tickets", data='{"site": "cam-centro", "service": "A"}',
                          content_type="text/plain")
    assert r.status_code == 403
    kiosk = api.device("kiosk")
    device = api.call(kiosk, "GET", "/api/v1/me").get_json()["device"]
    assert admin.client.delete(f"/api/v1/devices/{device}").status_code == 403
    assert api.call(kiosk, "GET", "/api/v1/me").status_code == 200


def test_logout_and_the_language_switch_need_the_token_too(app, admin):
    assert admin.post("/logout", csrf=False).status_code == 403
    assert admin.get("/api/v1/me").status_code == 200  # still logged in
    assert admin.post("/lang/en", {"next": "/admin/"}, csrf=False).status_code == 403
    assert admin.post("/logout").status_code == 302
    assert admin.get("/api/v1/me").status_code == 401


def test_the_login_form_itself_needs_the_token(app):
    visitor = StaffBrowser(app)
    r = visitor.client.post("/login", data={"username": "admin", "password": "secret-pass-1"})
    assert r.status_code == 403
    assert visitor.login("admin").status_code == 302


def test_a_paired_device_browser_needs_the_token_for_changes(app, api):
    from shared import devices, store
    from shared.db import get_db

    with app.app_context():
        db = get_db()
        device_id = store.insert_device(db, 1, "kiosk", "Kiosco", None, {}, 0)
        code = devices.new_pairing_code(db, device_id, app.extensions["turnos.clock"])
    kiosk = StaffBrowser(app)
    kiosk.refresh_csrf(f"/pair/{code}")
    assert kiosk.post(f"/pair/{code}").status_code == 302
    body = {"site": "cam-centro", "service": "A"}
    assert kiosk.client.post("/api/v1/tickets", json=body).status_code == 403
    r = kiosk.client.post("/api/v1/tickets", json=body, headers={"X-CSRF-Token": kiosk.csrf})
    assert r.status_code == 201


def test_bearer_token_clients_do_not_need_a_csrf_token(api):
    assert api.call("admin", "POST", "/api/v1/tickets",
                    {"site": "cam-centro", "service": "A"}).status_code == 201
