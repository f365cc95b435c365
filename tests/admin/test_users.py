"""Administrators create staff accounts, reset passwords, unlock and disable them."""

import pytest

from tests.admin.pages import StaffBrowser, audit_actions, page_error

NEW = {"username": "dora", "display_name": "Dora Díaz", "role": "official",
       "password": "dora-pass-2026", "password2": "dora-pass-2026", "sites": "1"}


def _user_id(app, username):
    """Return a user's id."""
    from shared import store
    from shared.db import get_db

    with app.app_context():
        return store.find_user(get_db(), username)["id"]


def test_a_new_official_logs_in_and_works_only_in_their_site(app, admin, api):
    r = admin.post("/admin/users", NEW)
    assert r.status_code == 302
    dora = StaffBrowser(app, "dora", "dora-pass-2026")
    assert dora.get("/api/v1/me").get_json()["username"] == "dora"
    r = api.client.post("/api/v1/auth/token", json={"username": "dora", "password": "dora-pass-2026"})
    token = r.get_json()["token"]
    assert api.call(token, "GET", "/api/v1/sites/cam-centro/queue").status_code == 200
    assert api.call(token, "GET", "/api/v1/sites/cam-norte/queue").status_code == 403
    assert ("user.create", "user:dora", "admin") in audit_actions(app)
    assert "dora-pass-2026" not in str(audit_actions(app))


@pytest.mark.parametrize("changes, status, message", [
    ({"username": "ana"}, 409, "Ya existe el usuario «ana»."),
    ({"username": "d"}, 400, "Usuario no válido"),
    ({"password": "corta", "password2": "corta"}, 400,
     "La contraseña debe tener entre 8 y 200 caracteres."),
    ({"password2": "otra-cosa-2026"}, 400, "Las contraseñas no coinciden."),
    ({"role": "root"}, 400, "Elija un valor válido para «Rol»."),
    ({"sites": "99"}, 400, "Sede desconocida en la lista."),
])
def test_a_bad_account_is_refused_and_no_user_is_created(app, admin, changes, status, message):
    from shared import store
    from shared.db import get_db

    with app.app_context():
        before = store.list_users(get_db())
    r = admin.post("/admin/users", dict(NEW, **changes))
    assert r.status_code == status
    assert message in page_error(r)
    assert "dora-pass-2026" not in r.text and "corta" not in r.text
    with app.app_context():
        assert store.list_users(get_db()) == before


def test_an_official_moved_to_another_site_works_only_there_from_her_next_request(app, admin, api):
    from shared import store
    from shared.db import get_db

    # Her token was just used: what the server knows of it must not outlive the change.
    token = api.token("ana")
    assert api.call(token, "GET", "/api/v1/sites/cam-centro/queue").status_code == 200
    with app.app_context():
        norte = store.find_site(get_db(), "cam-norte")["id"]
    r = admin.post(f"/admin/users/{_user_id(app, 'ana')}",
                   {"display_name": "Ana", "role": "official", "active": "1", "sites": str(norte)})
    assert r.status_code == 302
    assert api.call(token, "GET", "/api/v1/sites/cam-centro/queue").status_code == 403
    assert api.call(token, "GET", "/api/v1/sites/cam-norte/queue").status_code == 200


def test_a_supervisor_made_official_loses_the_supervisor_s_reach_from_the_next_request(app, admin, api):
    token = api.token("supervisor")
    assert api.call(token, "GET", "/api/v1/me").get_json()["role"] == "supervisor"
    assert api.call(token, "POST", "/api/v1/desks/cam-centro:1/next").status_code == 204  # nobody waits
    r = admin.post(f"/admin/users/{_user_id(app, 'supervisor')}",
                   {"display_name": "Supervisor", "role": "official", "active": "1"})
    assert r.status_code == 302
    assert api.call(token, "GET", "/api/v1/me").get_json()["role"] == "official"
    assert api.call(token, "POST", "/api/v1/desks/cam-centro:1/next").status_code == 403


def test_disabling_an_official_ends_their_session_and_tokens_at_once(app, admin, api):
    ana = StaffBrowser(app, "ana")
    token = api.token("ana")
    assert ana.get("/api/v1/me").status_code == 200
    r = admin.post(f"/admin/users/{_user_id(app, 'ana')}",
                   {"display_name": "Ana", "role": "official"})
    assert r.status_code == 302
    assert ana.get("/api/v1/me").status_code == 401
    assert api.call(token, "GET", "/api/v1/me").status_code == 401
    assert ana.login("ana").status_code == 401
    assert ("user.disable", "user:ana", "admin") in audit_actions(app)


def test_a_locked_account_is_unlocked_by_a_new_password(app, admin):
    for _ in range(5):
        StaffBrowser(app).login("beto", "wrong-password")
    locked = StaffBrowser(app).login("beto")
    assert locked.status_code == 429
    user_page = admin.get(f"/admin/users/{_user_id(app, 'beto')}")
    assert "Intentos fallidos de acceso" in user_page.text and "127.0.0.1" in user_page.text
    r = admin.post(f"/admin/users/{_user_id(app, 'beto')}/password",
                   {"password": "beto-new-2026", "password2": "beto-new-2026"})
    assert r.status_code == 302
    assert StaffBrowser(app).login("beto").status_code == 401  # the old password is gone
    assert StaffBrowser(app).login("beto", "beto-new-2026").status_code == 302
    assert ("user.password_reset", "user:beto", "admin") in audit_actions(app)


def test_an_unlock_keeps_the_password_and_a_reset_ends_open_sessions(app, admin):
    carla = StaffBrowser(app, "carla")
    for _ in range(5):
        StaffBrowser(app).login("beto", "wrong-password")
    assert admin.post(f"/admin/users/{_user_id(app, 'beto')}/unlock").status_code == 302
    assert StaffBrowser(app).login("beto").status_code == 302
    admin.post(f"/admin/users/{_user_id(app, 'carla')}/password",
               {"password": "carla-new-2026", "password2": "carla-new-2026"})
    assert carla.get("/api/v1/me").status_code == 401


def test_the_last_administrator_cannot_be_demoted_or_disabled(app, admin):
    admin_id = _user_id(app, "admin")
    r = admin.post(f"/admin/users/{admin_id}", {"display_name": "Admin", "role": "supervisor",
                                               "active": "1"})
    assert r.status_code == 409
    assert page_error(r) == "Debe quedar al menos un administrador activo."
    r = admin.post(f"/admin/users/{admin_id}", {"display_name": "Admin", "role": "admin"})
    assert r.status_code == 409
    assert admin.get("/admin/users").status_code == 200


def test_supervisors_do_not_see_the_accounts(app, supervisor):
    assert supervisor.get("/admin/users").status_code == 403
    assert supervisor.post("/admin/users", NEW).status_code == 403
