"""An administrator chooses a service's pictogram and a category's age; the kiosk shows both."""

import pytest

from shared.rules import SERVICE_PICTOGRAMS
from tests.admin.pages import page_error

SERVICE = {"code": "G", "prefix": "G", "name": "Certificados de residencia",
           "group_name": "Ventanilla única", "target_wait_minutes": "12",
           "default_service_minutes": "6", "daily_cap": "0", "sort_order": "7", "active": "1",
           "pictogram": "salud"}
OLDER_ADULT = {"label": "Adulto mayor", "pictogram": "adulto_mayor",
               "legal_note": "Ley 1251 de 2008", "kiosk_visible": "1", "active": "1",
               "sort_order": "4", "min_age": "65"}
AGE = "«Edad desde la que aplica (años)» debe ser un número entero entre 0 y 120."


def _start(admin) -> dict:
    """Return what the kiosk's start screen of CAM Centro offers (the administrator's preview)."""
    return admin.get("/kiosk/api/start?site=cam-centro").get_json()


def _pictograms(admin) -> dict:
    """Return each kiosk service's pictogram by code."""
    return {s["code"]: s["pictogram"] for s in _start(admin)["services"]}


def _labels(admin) -> dict:
    """Return each kiosk category's label by code."""
    return {c["code"]: c["label"] for c in _start(admin)["categories"]}


def test_a_services_pictogram_is_chosen_in_its_form_and_shown_by_the_kiosk(admin, api):
    page = admin.get("/admin/sites/cam-centro/services").text
    assert all(f'<option value="{name}">' in page for name in SERVICE_PICTOGRAMS)

    assert admin.post("/admin/sites/cam-centro/services", SERVICE).status_code == 302
    assert _pictograms(admin)["G"] == "salud"
    kiosk = api.device("kiosk")
    services = api.call(kiosk, "GET", "/api/v1/sites/cam-centro/services").get_json()["services"]
    service_id = next(s["id"] for s in services if s["code"] == "G")
    edit = admin.get(f"/admin/sites/cam-centro/services/{service_id}").text
    assert 'id="f-pictogram" value="salud"' in edit

    # Emptied, the kiosk chooses from the service's words again ("Certificados": documents).
    r = admin.post(f"/admin/sites/cam-centro/services/{service_id}", dict(SERVICE, pictogram=""))
    assert r.status_code == 302
    assert _pictograms(admin)["G"] == "documentos"

    before = _start(admin)
    r = admin.post(f"/admin/sites/cam-centro/services/{service_id}", dict(SERVICE, pictogram="<img>"))
    assert r.status_code == 400 and page_error(r).startswith("Pictograma no válido")
    assert _start(admin) == before


def test_the_age_of_a_category_is_set_in_its_form_and_read_on_the_kiosk(admin):
    assert admin.post("/admin/categories/adulto_mayor", OLDER_ADULT).status_code == 302
    assert _labels(admin)["adulto_mayor"] == "Adulto mayor (65 años o más)"
    page = admin.get("/admin/categories/adulto_mayor").text
    assert "Edad desde la que aplica (años)" in page and 'id="f-min_age" value="65"' in page
    row = admin.get("/admin/categories").text.split('data-code="adulto_mayor"')[1].split("</tr>")[0]
    assert "65 años o más" in row

    # Empty: the category names no age.
    assert admin.post("/admin/categories/adulto_mayor", dict(OLDER_ADULT, min_age="")).status_code == 302
    assert _labels(admin)["adulto_mayor"] == "Adulto mayor"


@pytest.mark.parametrize("age", ["200", "abc", "-1"])
def test_an_impossible_age_is_refused_and_nothing_changes(admin, age):
    before = _start(admin)
    r = admin.post("/admin/categories/adulto_mayor", dict(OLDER_ADULT, min_age=age))
    assert r.status_code == 400 and page_error(r) == AGE
    assert f'id="f-min_age" value="{age}"' in r.text  # what was typed stays, to be corrected
    r = admin.post("/admin/categories", dict(OLDER_ADULT, code="mayor80", min_age=age))
    assert r.status_code == 400 and page_error(r) == AGE
    assert _start(admin) == before
