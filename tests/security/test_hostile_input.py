"""Hostile input gets a clear 4xx and changes nothing: what a fuzzer found answering 500."""

import json

import pytest

from tests.admin.pages import StaffBrowser

HUGE = 2**63  # one past the largest id either database engine stores
DEEP = "[" * 1000 + "]" * 1000


def count_tickets(app) -> int:
    """Return how many tickets exist."""
    from shared.db import connect

    db = connect(app.config["DATABASE"])
    try:
        return db.execute("SELECT count(*) FROM tickets").fetchone()[0]
    finally:
        db.conn.close()


def raw_post(api, who, path, text, content_type="application/json"):
    """Post a body exactly as written (a JSON library would refuse to write some of them)."""
    headers = {"Authorization": f"Bearer {api.token(who)}"} if who else {}
    return api.client.post(path, data=text.encode("utf-8", "surrogatepass"), headers=headers,
                           content_type=content_type)


# --- integers -----------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    f"/api/v1/tickets/{HUGE}", f"/api/v1/tickets/{HUGE * 10**6}", f"/api/v1/tickets/{HUGE}/events",
    f"/api/v1/kiosks/{HUGE}", f"/api/v1/sites/{HUGE}", f"/api/v1/sites/{HUGE}/services",
    f"/api/v1/desks/{HUGE}", "/api/v1/tickets/-1"])
def test_an_integer_beyond_any_id_in_a_path_names_nothing(api, path):
    r = api.call("admin", "GET", path)
    assert r.status_code == 404, r.get_data(as_text=True)
    assert r.get_json()["error"] == "not_found" or r.get_json()["error"].startswith("unknown_")


def test_deleting_a_device_beyond_any_id_is_a_404(api):
    assert api.call("admin", "DELETE", f"/api/v1/devices/{HUGE}").status_code == 404


def test_an_admin_page_with_a_huge_id_is_a_404(app):
    admin = StaffBrowser(app, "admin")
    assert admin.get(f"/admin/users/{HUGE}").status_code == 404
    assert admin.get(f"/admin/sites/cam-centro/desks/{HUGE * 7}").status_code == 404


@pytest.mark.parametrize("payload, status, error", [
    ({"site": HUGE, "service": "A"}, 400, "out_of_range"),
    ({"site": -1, "service": "A"}, 400, "out_of_range"),
    ({"site": "cam-centro", "service": HUGE}, 400, "out_of_range"),
    ({"site": str(HUGE), "service": "A"}, 404, "unknown_site"),
    ({"site": "cam-centro", "service": str(HUGE * 3)}, 404, "unknown_service"),
    ({"site": 2**63 - 1, "service": "A"}, 404, "unknown_site"),
])
def test_huge_and_negative_integers_in_a_body_are_refused(app, api, payload, status, error):
    r = api.call("admin", "POST", "/api/v1/tickets", payload)
    assert (r.status_code, r.get_json()["error"]) == (status, error)
    assert count_tickets(app) == 0


def test_a_chosen_call_of_a_huge_ticket_is_refused(api):
    api.take_desk("ana")
    r = api.call("ana", "POST", "/api/v1/desks/cam-centro:1/call", {"ticket": HUGE})
    assert (r.status_code, r.get_json()["error"]) == (400, "out_of_range")
    r = api.call("ana", "POST", "/api/v1/tickets/1/call", {"desk": HUGE})
    assert r.status_code == 400


# --- digits that are not ASCII ---------------------------------------------------------------

@pytest.mark.parametrize("path", ["/api/v1/sites/%C2%B3", "/api/v1/sites/%C2%B3/desks",
                                  "/api/v1/desks/%C2%B3", "/api/v1/tickets/%D9%A3",
                                  "/api/v1/desks/cam-centro:1/queue?limit=%C2%B3",
                                  "/api/v1/print-jobs?limit=%C2%B3"])
def test_superscript_and_arabic_digits_are_not_numbers(api, path):
    api.issue("A")  # ticket 1..3 exist: ٣ must not reach ticket 3
    api.issue("A")
    api.issue("A")
    r = api.call("admin", "GET", path)
    assert r.status_code in (400, 404), r.get_data(as_text=True)
    assert r.get_json()["error"]


def test_a_superscript_site_in_a_body_is_an_unknown_site(app, api):
    r = api.call("admin", "POST", "/api/v1/tickets", {"site": "³", "service": "A"})
    assert (r.status_code, r.get_json()["error"]) == (404, "unknown_site")
    assert count_tickets(app) == 0


def test_a_superscript_score_on_the_rating_form_is_refused(app, api):
    ticket = api.issue("A")
    visit = ticket["status_url"].rsplit("/", 1)[1]
    citizen = StaffBrowser(app)
    citizen.refresh_csrf(f"/t/{visit}")
    r = citizen.post(f"/t/{visit}/rating", {"score": "³"})
    assert 400 <= r.status_code < 500


# --- nesting and text that is not text --------------------------------------------------------

@pytest.mark.parametrize("who, path", [(None, "/api/v1/auth/token"), ("admin", "/api/v1/tickets"),
                                       ("admin", "/api/v1/devices")])
def test_json_nested_a_thousand_levels_is_refused(app, api, who, path):
    r = raw_post(api, who, path, '{"site": ' + DEEP + "}")
    assert (r.status_code, r.get_json()["error"]) == (400, "invalid_json")
    r = raw_post(api, who, path, DEEP)
    assert (r.status_code, r.get_json()["error"]) == (400, "invalid_json")
    assert count_tickets(app) == 0


@pytest.mark.parametrize("who, path, body", [
    (None, "/api/v1/auth/token", '{"username": "\\ud800", "password": "x"}'),
    (None, "/api/v1/auth/token", '{"username": "ana", "password": "\\udfff"}'),
    ("admin", "/api/v1/tickets", '{"site": "cam-centro", "service": "A", "priority": "\\ud83d"}'),
    ("admin", "/api/v1/devices", '{"site": "cam-centro", "kind": "kiosk", "name": "K\\ud800"}'),
    ("admin", "/api/v1/tickets", '{"site": "cam-centro", "service": "A", "\\ud800": 1}'),
])
def test_a_lone_surrogate_in_any_string_is_refused(app, api, who, path, body):
    r = raw_post(api, who, path, body)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.get_json()["error"] in ("invalid_characters", "unknown_field")
    assert count_tickets(app) == 0


@pytest.mark.parametrize("name", ["Kiosco\x00", "Kiosco\x07", "Kiosco\u202e1 ocsoiK",
                                  "Pantalla\u2066x", "Dos\nlíneas"])
def test_control_and_bidi_characters_in_a_device_name_are_refused_by_the_api(api, name):
    r = api.call("admin", "POST", "/api/v1/devices", {"site": "cam-centro", "kind": "kiosk",
                                                      "name": name})
    assert r.status_code == 400
    assert r.get_json()["error"] == "invalid_characters" and r.get_json()["field"] == "name"


@pytest.mark.parametrize("name", ["Kiosco\x07", "Kiosco\u202e1 ocsoiK", "Pantalla\u2066x"])
def test_the_device_form_refuses_the_same_names(app, name):
    from tests.admin.pages import page_error

    admin = StaffBrowser(app, "admin")
    r = admin.post("/admin/devices", {"site": "1", "kind": "kiosk", "name": name})
    assert r.status_code == 400
    assert page_error(r) == "«Nombre» contiene caracteres no permitidos."


def test_a_name_with_accents_and_symbols_is_welcome(api):
    r = api.call("admin", "POST", "/api/v1/devices", {"site": "cam-centro", "kind": "kiosk",
                                                      "name": "Kiosco «Peñón» ¿norte? — 2"})
    assert r.status_code == 201 and r.get_json()["name"] == "Kiosco «Peñón» ¿norte? — 2"


# --- content types, sizes, methods ------------------------------------------------------------

def test_a_body_of_another_type_at_the_token_endpoint_is_refused_as_the_wrong_type(api):
    r = api.client.post("/api/v1/auth/token", data="username=ana&password=x",
                        content_type="text/plain")
    assert (r.status_code, r.get_json()["error"]) == (415, "unsupported_media_type")


def test_an_oversized_body_at_the_kiosk_is_a_json_413(app, api):
    kiosk = api.device("kiosk")
    r = api.client.post("/kiosk/api/tickets", json={"service": "A", "priority": "x" * 70_000},
                        headers={"Authorization": f"Bearer {kiosk}", "Accept": "*/*"})
    assert r.status_code == 413
    assert r.get_json()["error"] == "too_large"
    assert count_tickets(app) == 0


def test_an_oversized_json_body_anywhere_is_a_json_413(app):
    admin = StaffBrowser(app, "admin")
    r = admin.client.post("/admin/sites", data=json.dumps({"x": "y" * 70_000}),
                          content_type="application/json", headers={"X-CSRF-Token": admin.csrf})
    assert r.status_code == 413 and r.get_json()["error"] == "too_large"


@pytest.mark.parametrize("method, path, allowed", [
    ("DELETE", "/api/v1/tickets", {"POST"}),
    ("PUT", "/api/v1/sites", {"GET", "HEAD", "OPTIONS"}),
    ("PATCH", "/api/v1/devices/1", {"DELETE"}),
])
def test_a_wrong_method_says_which_ones_are_allowed(api, method, path, allowed):
    r = api.call("admin", method, path)
    assert r.status_code == 405 and r.get_json()["error"] == "method_not_allowed"
    assert allowed <= {m.strip() for m in r.headers["Allow"].split(",")}


def test_a_page_answers_a_wrong_method_with_allow_too(app):
    r = app.test_client().delete("/login")
    assert r.status_code == 405 and "POST" in r.headers["Allow"]
