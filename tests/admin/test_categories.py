"""Priority categories are edited by administrators and offered by kiosks at once."""

from tests.admin.pages import audit_actions, heard, page_error

NEW = {"code": "lactante", "label": "Madre lactante", "pictogram": "infancia",
       "legal_note": "Ley 1437 de 2011 art. 5 num. 6", "kiosk_visible": "1", "active": "1",
       "sort_order": "7"}


def _kiosk_categories(api):
    """Return the category codes a kiosk is offered."""
    kiosk = api.device("kiosk")
    rows = api.call(kiosk, "GET", "/api/v1/sites/cam-centro/categories").get_json()["categories"]
    return [c["code"] for c in rows]


def test_a_new_category_is_offered_by_the_kiosks_of_every_site(app, admin, api, listener):
    r = admin.post("/admin/categories", NEW)
    assert r.status_code == 302
    assert "lactante" in _kiosk_categories(api)
    assert {"site": "cam-centro", "what": "categories"} in heard(listener, "config_changed")
    assert ("category.create", "category:lactante", "admin") in audit_actions(app)


def test_a_deactivated_category_can_no_longer_be_chosen(app, admin, api):
    form = dict(NEW, code="veterano", label="Veterano de la Fuerza Pública", pictogram="veterano")
    form.pop("active")
    assert admin.post("/admin/categories/veterano", form).status_code == 302
    assert "veterano" not in _kiosk_categories(api)
    r = api.call("admin", "POST", "/api/v1/tickets",
                 {"site": "cam-centro", "service": "A", "priority": "veterano"})
    assert r.status_code == 404


def test_bad_categories_are_refused_and_nothing_changes(app, admin, api):
    before = _kiosk_categories(api)
    r = admin.post("/admin/categories", dict(NEW, code="gestante"))
    assert r.status_code == 409 and page_error(r) == "Ya existe la categoría «gestante»."
    r = admin.post("/admin/categories", dict(NEW, pictogram="<img>"))
    assert r.status_code == 400 and page_error(r).startswith("Pictograma no válido")
    r = admin.post("/admin/categories", dict(NEW, label=""))
    assert r.status_code == 400 and page_error(r) == "«Nombre» es obligatorio."
    assert _kiosk_categories(api) == before
