"""Who may open the waiting-room page, and what the page carries before any script runs."""

import json
import re

import pytest

from shared import devices
from shared.db import get_db


def page_data(html: str) -> dict:
    """Return the JSON the page hands to its script."""
    found = re.search(r'<script type="application/json" id="display-data">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


def test_a_tv_paired_with_a_one_time_code_opens_its_screen_in_spanish(app, api, display_device):
    device = display_device("cam-norte")
    with app.app_context():
        code = devices.new_pairing_code(get_db(), device["id"], app.extensions["turnos.clock"])
    tv = app.test_client()
    form = tv.get(f"/pair/{code}", headers={"Accept-Language": "en-US"}).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
    r = tv.post(f"/pair/{code}", data={"csrf_token": csrf})
    assert r.status_code == 302 and r.headers["Location"].endswith("/display/")

    r = tv.get("/display/", headers={"Accept-Language": "en-US,en"})
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert '<html lang="es">' in html
    assert "CAM Norte" in html and "Diríjase a" in html and "sin conexión" in html
    assert "Toque para activar el sonido" in html
    data = page_data(html)
    assert data["auth"] == {}  # the socket authenticates with the same cookie
    assert data["texts"]["preferential"] == "Preferencial"
    # The one-time code is spent: a second TV cannot use it.
    assert app.test_client().get(f"/pair/{code}").status_code == 404


def test_the_screen_page_follows_the_kiosk_rules_of_the_house(app, api, display_device):
    tv = app.test_client()
    tv.set_cookie("turnos_device", display_device()["token"])
    r = tv.get("/display/")
    html = r.get_data(as_text=True)
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    assert "style=" not in html
    assert re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", html) == []
    for asset in re.findall(r'(?:src|href)="(/[^"]+\.(?:js|css))"', html):
        assert tv.get(asset).status_code == 200, asset


def test_a_browser_that_is_not_paired_is_told_how_to_pair(client):
    r = client.get("/display/")
    assert r.status_code == 401
    assert "no está vinculada" in r.get_data(as_text=True)


@pytest.mark.parametrize("who", ["kiosk", "official", "supervisor"])
def test_other_devices_and_staff_cannot_open_the_screen(app, api, who):
    tv = app.test_client()
    if who == "kiosk":
        tv.set_cookie("turnos_device", api.device("kiosk"))
        r = tv.get("/display/")
    else:
        r = tv.get("/display/?site=cam-centro",
                   headers={"Authorization": f"Bearer {api.token('ana' if who == 'official' else who)}"})
    assert r.status_code == 403


def test_an_admin_chooses_a_screen_to_preview(app, api, display_device):
    display_device("cam-norte", name="Pantalla pasillo norte")
    admin = {"Authorization": f"Bearer {api.token('admin')}"}
    listing = api.client.get("/display/", headers=admin).get_data(as_text=True)
    assert "/display/?site=cam-centro" in listing and "/display/?site=cam-norte" in listing
    assert "Pantalla pasillo norte" in listing

    r = api.client.get("/display/?site=cam-norte", headers=admin)
    assert r.status_code == 200
    assert page_data(r.get_data(as_text=True))["auth"] == {"display": True, "site": "cam-norte"}
    assert "site=cam-norte" in page_data(r.get_data(as_text=True))["call_url"]


@pytest.mark.parametrize("query, status, error", [
    ("?site=cam-sur", 404, "unknown_site"),
    ("?device=999", 404, "unknown_device"),
    ("?device=abc", 404, "unknown_device"),
    ("?device=%C2%B3", 404, "unknown_device"),
])
def test_an_admin_previewing_a_screen_that_does_not_exist_is_told_so(api, query, status, error):
    r = api.call("admin", "GET", "/display/" + query, headers={"Accept": "application/json"})
    assert r.status_code == status
    assert r.get_json()["error"] == error
