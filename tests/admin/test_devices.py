"""Devices are paired with a one-time code, configured per kind, and revoked at once."""

import json
import re
from pathlib import Path

import pytest

from shared.events import socketio
from tests.admin.pages import StaffBrowser, audit_actions, heard, page_error


def _pair_code(response) -> str:
    """Return the one-time code a pairing page shows."""
    return re.search(r'id="pair-code"[^>]*>([A-Z0-9]+)<', response.text).group(1)


def _device(app, device_id):
    """Read a device straight from the database."""
    from shared import store
    from shared.db import get_db

    with app.app_context():
        return store.device_by_id(get_db(), device_id)


def _create(admin, kind="kiosk", name="Kiosco entrada"):
    """Register a device through the page; return (device id, pairing page)."""
    page = admin.post("/admin/devices", {"site": "1", "kind": kind, "name": name})
    assert page.status_code == 200, page_error(page)
    device_id = int(re.search(r"/admin/devices/(\d+)\"", page.text).group(1))
    return device_id, page


def _pair(app, code):
    """Open the pairing link in a fresh browser and press «Vincular»; return that browser."""
    screen = StaffBrowser(app)
    page = screen.get(f"/pair/{code}")
    assert page.status_code == 200
    screen.csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = screen.post(f"/pair/{code}")
    assert r.status_code == 302
    return screen, r


def test_a_kiosk_is_paired_with_the_code_and_qr_shown_once(app, admin):
    device_id, page = _create(admin)
    code = _pair_code(page)
    assert len(code) == 8
    assert f"http://localhost/pair/{code}" in page.text
    assert 'src="data:image/svg+xml;base64,' in page.text
    assert page.headers["Cache-Control"] == "no-store"
    kiosk, r = _pair(app, code)
    assert r.headers["Location"].endswith("/kiosk/")
    me = kiosk.get("/api/v1/me").get_json()
    assert me["role"] == "kiosk" and me["device"] == device_id
    assert StaffBrowser(app).get(f"/pair/{code}").status_code == 404  # used once
    listing = admin.get("/admin/devices").text
    assert "Vinculado" in listing and "2026-11-25 08:00" in listing  # its first contact
    actions = [a[0] for a in audit_actions(app)]
    assert "device.create" in actions


def test_a_revoked_kiosk_stops_working_at_once_for_pages_api_and_sockets(app, admin, api):
    device_id, page = _create(admin)
    kiosk, _ = _pair(app, _pair_code(page))
    token = api.device("kiosk", name="Kiosco con token")
    token_device = api.call(token, "GET", "/api/v1/me").get_json()["device"]
    socket = socketio.test_client(app, auth={"token": token})
    assert socket.is_connected()

    assert admin.post(f"/admin/devices/{device_id}/revoke").status_code == 302
    assert admin.post(f"/admin/devices/{token_device}/revoke").status_code == 302

    assert kiosk.get("/api/v1/me").status_code == 401
    assert api.call(token, "POST", "/api/v1/tickets",
                    {"site": "cam-centro", "service": "A"}).status_code == 401
    assert not socket.is_connected()
    assert not socketio.test_client(app, auth={"token": token}).is_connected()
    assert "Revocado" in admin.get(f"/admin/devices/{device_id}").text
    assert ("device.revoke", f"device:{device_id}", "admin") in audit_actions(app)


def test_a_new_code_moves_a_device_to_new_hardware(app, admin):
    device_id, page = _create(admin, "display", "Pantalla sala")
    old_screen, _ = _pair(app, _pair_code(page))
    again = admin.post(f"/admin/devices/{device_id}/pair")
    new_screen, _ = _pair(app, _pair_code(again))
    assert new_screen.get("/api/v1/me").get_json()["device"] == device_id
    assert old_screen.get("/api/v1/me").status_code == 401


def test_a_renamed_device_is_known_by_its_new_name_from_its_next_request(app, admin, api):
    token = api.device("display", name="Pantalla sala")
    me = api.call(token, "GET", "/api/v1/me").get_json()
    assert me["device_name"] == "Pantalla sala"
    form = {"name": "Pantalla Hacienda", "history_length": "6", "voice": "chime"}
    assert admin.post(f"/admin/devices/{me['device']}", form).status_code == 302
    assert api.call(token, "GET", "/api/v1/me").get_json()["device_name"] == "Pantalla Hacienda"


def test_a_display_zone_is_configured_and_bad_values_change_nothing(app, admin, listener):
    device_id, _ = _create(admin, "display", "Pantalla sala")
    listener.get_received()
    form = {"name": "Pantalla Hacienda", "services": ["A", "B"], "desks": ["1", "2"],
            "history_length": "6", "voice": "chime"}
    assert admin.post(f"/admin/devices/{device_id}", form).status_code == 302
    device = _device(app, device_id)
    assert device["name"] == "Pantalla Hacienda"
    assert json.loads(device["config"]) == {"services": ["A", "B"], "desks": ["1", "2"],
                                            "history_length": 6, "voice": "chime"}
    assert heard(listener, "config_changed") == [{"site": "cam-centro", "what": "devices"}]
    for bad, message in ((dict(form, services=["Z"]), "Servicio desconocido en la zona."),
                         (dict(form, desks=["99"]), "Módulo desconocido en la zona."),
                         (dict(form, history_length="500"), "entre 1 y 50"),
                         (dict(form, voice="loud"), "Elija un valor válido para «Voz»."),
                         (dict(form, name=""), "«Nombre» es obligatorio.")):
        r = admin.post(f"/admin/devices/{device_id}", bad)
        assert r.status_code == 400 and message in page_error(r)
    assert _device(app, device_id) == device


@pytest.mark.parametrize("printer, message", [
    ("virtual:/etc", "La impresora virtual se escribe «virtual:» (sin carpeta)"),
    ("file:/home/admin/.bashrc", "Una impresora de archivo debe ser un dispositivo bajo /dev/."),
    ("ftp:printer", "Impresora no válida."),
    ("tcp:10.0.0.5:99999", "Impresora no válida."),
])
def test_a_kiosk_printer_that_could_write_elsewhere_or_is_malformed_is_refused(
        app, admin, printer, message):
    device_id, _ = _create(admin)
    before = _device(app, device_id)
    r = admin.post(f"/admin/devices/{device_id}", {"name": "Kiosco", "printer": printer,
                                                   "paper": "80mm", "profile": "TM-T20II"})
    assert r.status_code == 400
    assert message in page_error(r)
    assert _device(app, device_id) == before


def test_the_print_test_button_prints_on_the_virtual_printer(app, admin):
    device_id, _ = _create(admin)
    form = {"name": "Kiosco", "printer": "virtual:", "paper": "58mm", "profile": "POS-5890",
            "idle_seconds": "30", "native_qr": "1"}
    assert admin.post(f"/admin/devices/{device_id}", form).status_code == 302
    config = json.loads(_device(app, device_id)["config"])
    assert config["printer"] == "virtual:" and config["paper"] == "58mm"
    assert config["idle_seconds"] == 30
    r = admin.post(f"/admin/devices/{device_id}/print-test")
    assert r.status_code == 302
    page = admin.get(r.headers["Location"]).text
    assert "Página de prueba: Turno enviado a la impresora." in page
    tickets = Path(app.config["INSTANCE"]) / "tickets"
    assert [p.suffix for p in sorted(tickets.glob(f"test-page-{device_id}-*"))] == [".bin", ".png"]
    assert ("device.print_test", f"device:{device_id}", "admin") in audit_actions(app)


def test_a_print_test_on_an_unreachable_printer_says_so(app, admin):
    device_id, _ = _create(admin)
    admin.post(f"/admin/devices/{device_id}", {"name": "Kiosco", "printer": "tcp:127.0.0.1:9",
                                               "paper": "80mm", "profile": "TM-T20II"})
    r = admin.post(f"/admin/devices/{device_id}/print-test")
    page = admin.get(r.headers["Location"]).text
    assert "No se pudo conectar con la impresora." in page


def test_a_supervisor_sees_devices_but_cannot_pair_or_revoke(app, admin, supervisor):
    device_id, _ = _create(admin)
    assert supervisor.get("/admin/devices").status_code == 200
    page = supervisor.get(f"/admin/devices/{device_id}").text
    assert 'id="pair"' not in page and 'id="revoke"' not in page
    assert supervisor.post(f"/admin/devices/{device_id}/pair").status_code == 403
    assert supervisor.post(f"/admin/devices/{device_id}/revoke").status_code == 403
    assert _device(app, device_id)["revoked_at"] is None


def test_a_device_revoked_through_the_api_loses_its_socket_too(app, api):
    token = api.device("display")
    device_id = api.call(token, "GET", "/api/v1/me").get_json()["device"]
    socket = socketio.test_client(app, auth={"token": token})
    assert socket.is_connected()
    assert api.call("admin", "DELETE", f"/api/v1/devices/{device_id}").status_code == 204
    assert not socket.is_connected()


def test_a_survey_screen_is_tied_to_one_desk(app, admin):
    device_id, _ = _create(admin, "survey", "Encuesta módulo 3")
    assert admin.post(f"/admin/devices/{device_id}", {"name": "Encuesta 3", "desk": "3"}).status_code == 302
    assert json.loads(_device(app, device_id)["config"]) == {"desk": 3}
    r = admin.post(f"/admin/devices/{device_id}", {"name": "Encuesta 3", "desk": "42"})
    assert r.status_code == 400 and page_error(r) == "Módulo desconocido."
    assert json.loads(_device(app, device_id)["config"]) == {"desk": 3}
