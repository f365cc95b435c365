"""The administration forms are Flask-WTF forms that refuse in the administrator's language."""

import pytest

from tests.admin.pages import StaffBrowser, page_error, site_row


def in_english(app) -> StaffBrowser:
    """The administrator, logged in, with the pages switched to English."""
    admin = StaffBrowser(app, "admin")
    assert admin.post("/lang/en", {"next": "/admin/"}).status_code == 302
    admin.refresh_csrf("/admin/")
    return admin


def test_every_administration_form_is_a_flask_wtf_form():
    from flask_wtf import FlaskForm

    from admin import forms

    for name in ("SiteForm", "ServiceForm", "DeskForm", "CategoryForm", "NewUserForm", "UserForm",
                 "PasswordForm", "DeviceForm", "KioskForm", "DisplayForm", "SurveyForm"):
        assert issubclass(getattr(forms, name), FlaskForm), name


@pytest.mark.parametrize("path, data, spanish, english", [
    ("/admin/sites/cam-centro", {"name": "", "timezone": "America/Bogota", "policy": "strict"},
     "«Nombre» es obligatorio.", "“Name” is required."),
    ("/admin/sites/cam-centro", {"name": "Centro\u202e", "timezone": "America/Bogota",
                                 "policy": "strict"},
     "«Nombre» contiene caracteres no permitidos.", "“Name” contains characters that are not allowed."),
    ("/admin/users", {"username": "dora", "display_name": "Dora", "role": "official",
                      "password": "dora-pass-2026", "password2": "dora-pass-2027"},
     "Las contraseñas no coinciden.", "The passwords do not match."),
])
def test_a_refusal_reads_the_same_in_spanish_and_english(app, path, data, spanish, english):
    before = site_row(app)
    r = StaffBrowser(app, "admin").post(path, data)
    assert r.status_code == 400 and page_error(r) == spanish
    r = in_english(app).post(path, data)
    assert r.status_code == 400 and page_error(r) == english
    assert site_row(app) == before


def test_the_form_and_a_script_use_the_same_csrf_token(app):
    admin = StaffBrowser(app, "admin")
    form = admin.post("/admin/sites/cam-centro", {"name": "Centro", "timezone": "America/Bogota",
                                                  "policy": "strict", "active": "1"})
    assert form.status_code == 302
    script = admin.client.post("/api/v1/tickets", json={"site": "cam-centro", "service": "A"},
                               headers={"X-CSRF-Token": admin.csrf})
    assert script.status_code == 201
    forged = admin.client.post("/api/v1/tickets", json={"site": "cam-centro", "service": "A"},
                               headers={"X-CSRF-Token": admin.csrf[:-2] + "xx"})
    assert (forged.status_code, forged.get_json()["error"]) == (403, "csrf_failed")
