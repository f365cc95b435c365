"""The kiosk page and the kiosk's settings: who sees it, in which language, with which idle time."""

from __future__ import annotations

import json

import pytest

from tests.conftest import login


def _data(page: str) -> dict:
    """Return the JSON the page hands to its script."""
    return json.loads(page.split('<script type="application/json" id="kiosk-data">')[1].split("</script>")[0])


def test_a_paired_kiosk_opens_in_spanish_with_the_question_and_big_pictograms(kiosk_browser, kiosk):
    r = kiosk_browser.get("/kiosk/")
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and '<html lang="es">' in page
    assert "¿Está usted en alguno de estos casos?" in page and "Fuera de servicio" in page
    assert "¿Necesita más tiempo?" in page
    assert "Alcaldía de Villa Esperanza" in page and "English" in page
    assert "<script>" not in page and 'style="' not in page
    data = _data(page)
    assert data["site"] == "cam-centro" and data["device"] == kiosk.id and not data["preview"]
    assert data["idle_seconds"] == 30
    assert data["strings"]["failed"].startswith("La impresora no funcionó")
    start = kiosk_browser.get("/kiosk/api/start").get_json()
    pictures = [f"services/{s['pictogram']}" for s in start["services"]]
    pictures += [c["pictogram"] for c in start["categories"]]
    for name in pictures:
        svg = kiosk_browser.get(f"/kiosk/static/pictograms/{name}.svg")
        assert svg.status_code == 200 and b"<svg" in svg.data


def test_each_service_has_a_pictogram_its_own_or_one_chosen_from_its_words(kiosk_browser):
    start = kiosk_browser.get("/kiosk/api/start").get_json()
    pictures = {s["code"]: s["pictogram"] for s in start["services"]}
    # A: set in the layout; the others chosen from their name and group.
    assert pictures == {"A": "pagos", "B": "comercio", "C": "familia", "D": "mayores", "E": "documentos",
                        "F": "planeacion"}
    labels = {c["code"]: c["label"] for c in start["categories"]}
    assert labels["adulto_mayor"] == "Adulto mayor (60 años o más)"
    assert labels["gestante"] == "Mujer gestante"
    assert "vulnerabilidad" not in labels       # judged by an official, never offered at the kiosk
    english = kiosk_browser.get("/kiosk/api/start?lang=en").get_json()
    labels = {c["code"]: c["label"] for c in english["categories"]}
    assert labels["adulto_mayor"] == "Older adult (60 years or older)"


def test_the_age_of_a_category_comes_from_its_configuration(app, kiosk_browser):
    from shared import layout
    from shared.db import get_db

    with app.app_context():
        db = get_db()
        layout.apply(db, layout.parse(
            '[[priority_categories]]\ncode = "adulto_mayor"\nlabel = "Adulto mayor"\nmin_age = 62\n'),
            app.extensions["turnos.clock"])
        assert "min_age = 62" in layout.export(db)
    labels = {c["code"]: c["label"] for c in kiosk_browser.get("/kiosk/api/start").get_json()["categories"]}
    assert labels["adulto_mayor"] == "Adulto mayor (62 años o más)"


def test_the_english_switch_shows_the_kiosk_in_english(kiosk_browser):
    page = kiosk_browser.get("/kiosk/?lang=en").get_data(as_text=True)
    assert '<html lang="en">' in page and "Español" in page
    assert _data(page)["lang"] == "en"


def test_a_browser_that_is_not_paired_is_told_how_to_pair(client):
    r = client.get("/kiosk/")
    assert r.status_code == 401
    assert "no está vinculado como kiosco" in r.get_data(as_text=True)


def test_an_administrator_previews_a_sites_kiosk_and_an_official_cannot(app):
    admin = login(app, "admin")
    page = admin.get("/kiosk/?site=cam-norte").get_data(as_text=True)
    assert "Vista previa del kiosco" in page and _data(page)["preview"] is True
    assert _data(page)["site"] == "cam-norte"
    assert admin.get("/kiosk/").status_code == 400
    assert admin.get("/kiosk/?site=nowhere").status_code == 404
    assert login(app, "ana").get("/kiosk/").status_code == 403


def test_a_display_screen_is_not_a_kiosk(app, api):
    browser = app.test_client()
    browser.set_cookie("turnos_device", api.device("display", name="Sala"))
    assert browser.get("/kiosk/").status_code == 403


def test_the_administrator_sets_the_kiosk_printer_and_idle_time(kiosk, api, kiosk_browser):
    settings = kiosk.configure(printer="tcp:10.0.0.9:9100", paper="58mm", profile="TM-T88V",
                               codepage="CP858", idle_seconds=45, footer="Horario: 7 a 4")
    assert settings == {"printer": "tcp:10.0.0.9:9100", "paper": "58mm", "profile": "TM-T88V",
                        "codepage": "CP858", "native_qr": True, "idle_seconds": 45, "language": "es",
                        "footer": "Horario: 7 a 4"}
    assert _data(kiosk_browser.get("/kiosk/").get_data(as_text=True))["idle_seconds"] == 45
    seen = api.call("supervisor", "GET", f"/api/v1/kiosks/{kiosk.id}").get_json()
    assert seen["settings"]["paper"] == "58mm" and seen["printer_status"] is None


@pytest.mark.parametrize("body, error", [
    ({"printer": "lpt1"}, "invalid_printer"),
    ({"paper": "110mm"}, "invalid_paper"),
    ({"profile": "Impresora-X"}, "invalid_profile"),
    ({"codepage": "KLINGON"}, "invalid_codepage"),
    ({"idle_seconds": 2}, "invalid_idle_seconds"),
    ({"language": "fr"}, "invalid_language"),
    ({"footer": "x" * 201}, "too_long"),
    ({"colour": "red"}, "unknown_field"),
], ids=["printer", "paper", "profile", "codepage", "idle", "language", "footer", "unknown"])
def test_bad_kiosk_settings_are_refused_and_nothing_changes(kiosk, api, body, error):
    before = api.call("admin", "GET", f"/api/v1/kiosks/{kiosk.id}").get_json()
    r = api.call("admin", "PATCH", f"/api/v1/kiosks/{kiosk.id}", body)
    assert r.status_code == 400 and r.get_json()["error"] == error
    assert api.call("admin", "GET", f"/api/v1/kiosks/{kiosk.id}").get_json() == before


def test_only_administrators_change_kiosk_settings(kiosk, api):
    assert api.call("supervisor", "PATCH", f"/api/v1/kiosks/{kiosk.id}", {"paper": "58mm"}).status_code == 403
    display = api.device("display", name="Sala")
    display_id = api.call(display, "GET", "/api/v1/me").get_json()["device"]
    assert api.call("admin", "GET", f"/api/v1/kiosks/{display_id}").status_code == 404


def test_the_api_document_describes_the_kiosk_and_printing_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "patch"} <= set(paths["/kiosks/{device_id}"])
    assert "post" in paths["/tickets/{ticket_id}/reprint"] and "get" in paths["/print-jobs"]
