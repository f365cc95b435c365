"""An administrator adds a service and a desk; kiosks and desks see them at once."""

import pytest

from tests.admin.pages import audit_actions, heard, page_error

SERVICE = {"code": "G", "prefix": "G", "name": "Certificados de residencia",
           "group_name": "Ventanilla única", "description": "Certificado de residencia.",
           "requirements": "Documento de identidad.", "target_wait_minutes": "12",
           "default_service_minutes": "6", "daily_cap": "40", "sort_order": "7", "active": "1"}


def _service_id(api, code):
    """Return the id of a service of CAM Centro from the kiosk's list."""
    kiosk = api.device("kiosk")
    rows = api.call(kiosk, "GET", "/api/v1/sites/cam-centro/services").get_json()["services"]
    return {r["code"]: r["id"] for r in rows}.get(code)


def test_a_new_service_reaches_the_kiosk_list_and_is_announced(app, admin, api, listener):
    r = admin.post("/admin/sites/cam-centro/services", SERVICE)
    assert r.status_code == 302
    kiosk = api.device("kiosk")
    services = api.call(kiosk, "GET", "/api/v1/sites/cam-centro/services").get_json()["services"]
    new = [s for s in services if s["code"] == "G"]
    assert new and new[0]["name"] == "Certificados de residencia"
    assert new[0]["requirements"] == "Documento de identidad."
    assert heard(listener, "config_changed") == [{"site": "cam-centro", "what": "services"}]
    assert ("service.create", "site:cam-centro/service:G", "admin") in audit_actions(app)
    ticket = api.issue("G", who=kiosk)
    assert ticket["code"] == "G-001"


@pytest.mark.parametrize("changes, status, message", [
    ({"code": "A"}, 409, "Ya existe un servicio con el código «A» en esta sede."),
    ({"prefix": "B"}, 409, "El prefijo «B» ya lo usa el servicio «Industria y comercio»."),
    ({"prefix": "PA"}, 409, "se confundiría con los turnos preferenciales"),
    ({"prefix": "G1"}, 400, "El prefijo debe tener de 1 a 3 letras (A-Z)."),
    ({"name": "  "}, 400, "«Nombre» es obligatorio."),
    ({"target_wait_minutes": "0"}, 400,
     "«Espera objetivo (minutos)» debe ser un número entero entre 1 y 600."),
    ({"daily_cap": "muchos"}, 400, "«Cupo diario» debe ser un número entero"),
    ({"hours_sat": "08:00-25:00"}, 400, "Horario de Sábado no válido"),
    ({"description": "x" * 501}, 400, "«Descripción» admite máximo 500 caracteres."),
])
def test_a_bad_service_is_refused_and_the_kiosk_list_stays_the_same(
        app, admin, api, changes, status, message):
    kiosk = api.device("kiosk")
    before = api.call(kiosk, "GET", "/api/v1/sites/cam-centro/services").get_json()
    r = admin.post("/admin/sites/cam-centro/services", dict(SERVICE, **changes))
    assert r.status_code == status
    assert message in page_error(r)
    assert api.call(kiosk, "GET", "/api/v1/sites/cam-centro/services").get_json() == before
    kept = "description" if "name" in changes else "name"
    assert SERVICE[kept] in r.text  # what was typed stays in the form, to be corrected


def test_a_deactivated_service_leaves_the_kiosk_at_once(app, admin, api):
    service_id = _service_id(api, "F")
    form = dict(SERVICE, code="F", prefix="F", name="Licencias y planeación")
    form.pop("active")
    r = admin.post(f"/admin/sites/cam-centro/services/{service_id}", form)
    assert r.status_code == 302
    assert _service_id(api, "F") is None


def test_a_new_desk_serves_its_services_in_the_order_given(app, admin, api, listener):
    admin.post("/admin/sites/cam-centro/services", SERVICE)
    listener.get_received()
    ids = {s["code"]: s["id"] for s in
           api.call("admin", "GET", "/api/v1/sites/cam-centro/services").get_json()["services"]}
    r = admin.post("/admin/sites/cam-centro/desks", {
        "code": "7", "name": "Módulo 7", "active": "1",
        f"order_{ids['G']}": "1", f"order_{ids['A']}": "2"})
    assert r.status_code == 302
    desks = api.call("ana", "GET", "/api/v1/sites/cam-centro/desks").get_json()["desks"]
    assert [d["services"] for d in desks if d["code"] == "7"] == [["G", "A"]]
    assert heard(listener, "config_changed") == [{"site": "cam-centro", "what": "desks"}]
    api.issue("A")
    api.issue("G")
    api.take_desk("ana", "cam-centro:7")
    assert api.next("ana", "cam-centro:7").get_json()["code"] == "G-001"


def test_a_desk_without_services_or_with_a_taken_number_is_refused(app, admin, api):
    before = api.call("ana", "GET", "/api/v1/sites/cam-centro/desks").get_json()
    r = admin.post("/admin/sites/cam-centro/desks", {"code": "8", "name": "Módulo 8", "active": "1"})
    assert r.status_code == 400
    assert page_error(r).startswith("Elija al menos un servicio para el módulo")
    r = admin.post("/admin/sites/cam-centro/desks", {"code": "1", "name": "Otro 1", "order_1": "1"})
    assert r.status_code == 409
    assert page_error(r) == "Ya existe el módulo «1» en esta sede."
    r = admin.post("/admin/sites/cam-centro/desks", {"code": "9", "name": "Módulo 9", "order_1": "x"})
    assert r.status_code == 400
    assert api.call("ana", "GET", "/api/v1/sites/cam-centro/desks").get_json() == before


def test_changing_a_desks_services_is_audited_with_before_and_after(app, admin, api):
    desk = [d for d in api.call("admin", "GET", "/api/v1/sites/cam-centro/desks").get_json()["desks"]
            if d["code"] == "1"][0]
    ids = {s["code"]: s["id"] for s in
           api.call("admin", "GET", "/api/v1/sites/cam-centro/services").get_json()["services"]}
    r = admin.post(f"/admin/sites/cam-centro/desks/{desk['id']}",
                   {"name": "Módulo 1", "active": "1", f"order_{ids['B']}": "1",
                    f"order_{ids['A']}": "2", f"order_{ids['E']}": "3"})
    assert r.status_code == 302
    from shared import store
    from shared.db import get_db

    with app.app_context():
        entry = store.audit_entries(get_db())[0]
    assert entry["action"] == "desk.update"
    assert '"services": [["A", "B"], ["B", "A", "E"]]' in entry["detail"]


def test_a_service_or_desk_of_another_site_cannot_be_reached_through_this_one(app, admin, api):
    norte = api.call("admin", "GET", "/api/v1/sites/cam-norte/services").get_json()["services"][0]
    assert admin.get(f"/admin/sites/cam-centro/services/{norte['id']}").status_code == 404
    r = admin.post(f"/admin/sites/cam-centro/services/{norte['id']}", SERVICE)
    assert r.status_code == 404


def test_two_admins_giving_one_prefix_at_the_same_moment_get_a_clear_refusal(app, admin, api,
                                                                             monkeypatch):
    from shared import store

    # The other admin's service "B" is saved between this form's check and its write.
    monkeypatch.setattr(store, "service_with_prefix", lambda db, site_id, prefix: None)
    kiosk = api.device("kiosk")
    before = api.call(kiosk, "GET", "/api/v1/sites/cam-centro/services").get_json()
    r = admin.post("/admin/sites/cam-centro/services", dict(SERVICE, prefix="B"))
    assert r.status_code == 409
    assert "Otro cambio hecho al mismo tiempo choca con este" in page_error(r)
    assert api.call(kiosk, "GET", "/api/v1/sites/cam-centro/services").get_json() == before
