"""An administrator configures a site from the browser; bad input is refused and changes nothing."""

import json

import pytest

from tests.admin.pages import audit_actions, heard, page_error, site_row

GOOD = {
    "name": "CAM Centro Histórico", "timezone": "America/Bogota",
    "entity_name": "Alcaldía de Villa Esperanza",
    "display_message": "Bienvenido.\r\nTenga a mano su documento.",
    "policy": "ratio", "ratio_n": "2",
    "hours_mon": "07:00-12:00, 13:00-17:00", "hours_fri": "7:00-12:00",
    "holidays": "2026-12-08\n2026-12-25", "active": "1", "retention_days": "365",
}


def test_an_administrator_changes_a_site_and_its_screens_hear_it(app, admin, listener):
    r = admin.post("/admin/sites/cam-centro", GOOD)
    assert r.status_code == 302
    site = site_row(app)
    assert site["name"] == "CAM Centro Histórico"
    assert site["policy"] == "ratio" and json.loads(site["policy_params"]) == {"n": 2}
    assert json.loads(site["opening_hours"]) == {"mon": [["07:00", "12:00"], ["13:00", "17:00"]],
                                                 "fri": [["07:00", "12:00"]]}
    assert json.loads(site["holidays"]) == ["2026-12-08", "2026-12-25"]
    assert site["display_message"] == "Bienvenido.\nTenga a mano su documento."
    assert site["retention_days"] == 365
    assert heard(listener, "config_changed") == [{"site": "cam-centro", "what": "site"}]
    assert ("site.update", "site:cam-centro", "admin") in audit_actions(app)
    page = admin.get(r.headers["Location"]).text
    assert "Cambios guardados." in page and "13:00-17:00" in page


@pytest.mark.parametrize("field, value, message", [
    ("name", "", "«Nombre» es obligatorio."),
    ("timezone", "America/Gotham", "Zona horaria desconocida «America/Gotham»"),
    ("hours_mon", "7 a 12", "Horario de Lunes no válido"),
    ("hours_tue", "12:00-07:00", "Horario de Martes no válido"),
    ("hours_wed", "07:00-12:00, 11:00-15:00", "Las franjas de Miércoles se cruzan."),
    ("holidays", "25/12/2026", "Festivo no válido «25/12/2026»"),
    ("policy", "lottery", "Elija un valor válido para «Política de prioridad»."),
    ("ratio_n", "0", "«Llamados preferenciales seguidos» debe ser un número entero entre 1 y 50."),
    ("display_message", "1\n2\n3\n4\n5\n6", "máximo 5 líneas"),
    ("retention_days", "-3", "«Conservar los datos (días)» debe ser un número entero"),
    ("id_capture", "1", "escriba el aviso de privacidad"),
])
def test_a_bad_site_value_is_refused_with_a_clear_message_and_nothing_changes(
        app, admin, listener, field, value, message):
    before = site_row(app)
    r = admin.post("/admin/sites/cam-centro", dict(GOOD, **{field: value}))
    assert r.status_code == 400
    assert message in page_error(r)
    assert f'id="f-{field}"' in r.text and 'aria-invalid="true"' in r.text
    assert site_row(app) == before
    assert heard(listener, "config_changed") == []
    assert not [a for a in audit_actions(app) if a[0] == "site.update"]


def test_the_aging_rule_takes_its_parameters_and_the_others_are_ignored(app, admin):
    r = admin.post("/admin/sites/cam-centro", dict(GOOD, policy="aging", ratio_n="abc",
                                                   aging_preferential_weight="2,5",
                                                   aging_grace_seconds="90"))
    assert r.status_code == 302
    assert json.loads(site_row(app)["policy_params"]) == {"preferential_weight": 2.5,
                                                          "grace_seconds": 90}


def test_a_new_site_is_created_once_and_a_second_with_its_code_is_refused(app, admin):
    form = dict(GOOD, code="cam-sur", name="CAM Sur", policy="strict")
    r = admin.post("/admin/sites", form)
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/sites/cam-sur")
    assert site_row(app, "cam-sur")["name"] == "CAM Sur"
    again = admin.post("/admin/sites", dict(form, name="Otra"))
    assert again.status_code == 409
    assert page_error(again) == "Ya existe una sede con el código «cam-sur»."
    assert site_row(app, "cam-sur")["name"] == "CAM Sur"
    assert admin.post("/admin/sites", dict(form, code="cam sur")).status_code == 400


def test_a_site_that_asks_for_ids_needs_its_privacy_notice(app, admin):
    notice = "Sus datos se tratan según la Ley 1581 de 2012."
    r = admin.post("/admin/sites/cam-centro", dict(GOOD, id_capture="1", privacy_notice=notice))
    assert r.status_code == 302
    site = site_row(app)
    assert site["id_capture"] == 1 and site["privacy_notice"] == notice


def test_the_ticket_logo_is_uploaded_checked_and_served(app, admin, tmp_path):
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (200, 80), 0).save(buffer, format="PNG")
    r = admin.post("/admin/sites/cam-centro/logo",
                   {"logo": (io.BytesIO(buffer.getvalue()), "logo.png")},
                   content_type="multipart/form-data")
    assert r.status_code == 302
    # Kept in the database, so every server process prints and shows it.
    assert site_row(app)["logo_path"].startswith("media:logo/cam-centro/")
    served = admin.get("/admin/sites/cam-centro/logo")
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert Image.open(io.BytesIO(served.data)).size == (200, 80)
    bad = admin.post("/admin/sites/cam-centro/logo",
                     {"logo": (io.BytesIO(b"<svg onload=alert(1)>"), "logo.png")},
                     content_type="multipart/form-data")
    assert bad.status_code == 400
    assert page_error(bad) == "El archivo no es una imagen PNG, JPEG o GIF válida."
    assert admin.post("/admin/sites/cam-centro/logo/delete").status_code == 302
    assert site_row(app)["logo_path"] is None
    assert admin.get("/admin/sites/cam-centro/logo").status_code == 404


def test_a_supervisor_reads_the_site_but_cannot_change_it(app, supervisor):
    page = supervisor.get("/admin/sites/cam-centro")
    assert page.status_code == 200
    assert "Vista de solo lectura" in page.text and "<fieldset class=\"plain\" disabled>" in page.text
    before = site_row(app)
    r = supervisor.post("/admin/sites/cam-centro", GOOD)
    assert r.status_code == 403
    assert site_row(app) == before
