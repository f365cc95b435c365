"""Stories of the JSON API: what callers send, what they get back, and what is refused."""

import re

import pytest

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$")


def count_tickets(app):
    """Return how many tickets exist."""
    from shared.db import connect

    db = connect(app.config["DATABASE"])
    try:
        return db.execute("SELECT count(*) FROM tickets").fetchone()[0]
    finally:
        db.conn.close()


# --- issuing ------------------------------------------------------------------

def test_a_kiosk_issues_a_ticket_with_everything_the_citizen_needs(api):
    kiosk = api.device("kiosk")
    r = api.call(kiosk, "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"})
    assert r.status_code == 201
    t = r.get_json()
    assert {"id", "code", "site", "service", "priority", "status", "issued_at", "ahead",
            "estimated_wait_seconds", "status_url"} <= set(t)
    assert (t["code"], t["site"], t["service"], t["priority"], t["status"]) == (
        "A-001", "cam-centro", "A", None, "waiting")
    assert ISO_MS.match(t["issued_at"]) and t["issued_at"].endswith("-05:00")
    assert t["ahead"] == 0
    assert t["status_url"].startswith("http://localhost/t/")


def test_people_ahead_and_estimated_wait_grow_with_the_queue(api):
    api.issue("A")
    api.issue("A")
    third = api.issue("A")
    assert third["ahead"] == 2
    # No one served yet: the service's default of 6 minutes, one desk assumed.
    assert third["estimated_wait_seconds"] == 2 * 360
    pref = api.issue("A", "adulto_mayor")
    assert pref["ahead"] == 0


def test_sites_services_and_desks_are_addressed_by_code_or_id(api):
    sites = api.call("admin", "GET", "/api/v1/sites").get_json()["sites"]
    centro = [s for s in sites if s["code"] == "cam-centro"][0]
    by_id = api.call("admin", "POST", "/api/v1/tickets", {"site": centro["id"], "service": "a"})
    assert by_id.status_code == 201 and by_id.get_json()["code"] == "A-001"
    services = api.call("admin", "GET", f"/api/v1/sites/{centro['id']}/services").get_json()
    service_a = [s for s in services["services"] if s["code"] == "A"][0]
    assert service_a["waiting_general"] == 1 and service_a["waiting_preferential"] == 0
    desks = api.call("admin", "GET", "/api/v1/sites/cam-centro/desks").get_json()["desks"]
    desk3 = [d for d in desks if d["code"] == "3"][0]
    assert desk3["services"] == ["C", "D"]
    assert api.call("ana", "POST", f"/api/v1/desks/{desk3['id']}/session").status_code == 201
    assert api.call("ana", "GET", "/api/v1/desks/3?site=cam-centro").get_json()["holder"] == "ana"


def test_the_services_list_shows_waiting_counts_by_group(api):
    api.issue("A")
    api.issue("A", "gestante")
    api.issue("A", "discapacidad")
    rows = api.call("admin", "GET", "/api/v1/sites/cam-centro/services").get_json()["services"]
    a = [s for s in rows if s["code"] == "A"][0]
    assert (a["waiting_general"], a["waiting_preferential"], a["waiting"]) == (1, 2, 3)


# --- calling ----------------------------------------------------------------------

def test_next_answers_204_when_nobody_waits(api):
    api.take_desk("ana")
    r = api.next("ana")
    assert r.status_code == 204 and r.data == b""


def test_an_official_works_through_a_ticket_over_the_api(api):
    t = api.issue("A")
    api.take_desk("ana")
    assert api.next("ana").get_json()["id"] == t["id"]
    for action in ("recall", "start", "finish"):
        r = api.call("ana", "POST", f"/api/v1/tickets/{t['id']}/{action}")
        assert r.status_code == 200, r.get_json()
    final = api.call("ana", "GET", f"/api/v1/tickets/{t['id']}").get_json()
    assert final["status"] == "finished" and final["recalls"] == 1
    assert all(ISO_MS.match(final[k]) for k in ("called_at", "started_at", "finished_at"))
    log = api.call("ana", "GET", f"/api/v1/tickets/{t['id']}/events").get_json()["events"]
    assert [e["kind"] for e in log] == ["issued", "called", "recalled", "started", "finished"]
    assert log[1]["data"]["rule"] == "strict" and log[1]["desk"] == "1"


def test_a_transfer_answers_the_new_segment(api):
    t = api.issue("A")
    api.take_desk("ana")
    api.next("ana")
    r = api.call("ana", "POST", f"/api/v1/tickets/{t['id']}/transfer", {"service": "C",
                                                                         "note": "Certificado"})
    assert r.status_code == 201
    segment = r.get_json()
    assert segment["service"] == "C" and segment["code"] == "A-001"
    assert segment["previous_id"] == t["id"] and segment["status_url"] == t["status_url"]


def test_one_official_holds_one_desk_and_a_desk_one_official(api):
    api.take_desk("ana", "cam-centro:1")
    taken = api.call("beto", "POST", "/api/v1/desks/cam-centro:1/session")
    assert taken.status_code == 409 and taken.get_json()["error"] == "desk_taken"
    assert "Ana" in taken.get_json()["message"]
    second = api.call("ana", "POST", "/api/v1/desks/cam-centro:2/session")
    assert second.status_code == 409 and second.get_json()["error"] == "user_has_desk"


def test_an_official_cannot_operate_another_officials_desk_or_ticket(api):
    t = api.issue("A")
    api.take_desk("ana", "cam-centro:1")
    api.take_desk("beto", "cam-centro:2")
    assert api.next("beto", "cam-centro:1").status_code == 403
    api.next("ana")
    r = api.call("beto", "POST", f"/api/v1/tickets/{t['id']}/start")
    assert r.status_code == 403 and r.get_json()["error"] == "not_your_ticket"
    assert api.call("ana", "GET", f"/api/v1/tickets/{t['id']}").get_json()["status"] == "called"


def test_an_admin_may_act_for_any_desk_without_holding_it(api):
    t = api.issue("A")
    r = api.next("admin", "cam-centro:1")
    assert r.status_code == 200 and r.get_json()["id"] == t["id"]
    assert api.call("admin", "POST", f"/api/v1/tickets/{t['id']}/no-show").status_code == 200


def test_leaving_a_desk_with_a_ticket_in_hand_is_refused(api):
    api.issue("A")
    api.take_desk("ana")
    api.next("ana")
    r = api.call("ana", "DELETE", "/api/v1/desks/cam-centro:1/session")
    assert r.status_code == 409 and r.get_json()["error"] == "desk_busy"


def test_an_illegal_transition_is_a_409_that_says_why(api):
    t = api.issue("A")
    r = api.call("admin", "POST", f"/api/v1/tickets/{t['id']}/finish")
    assert r.status_code == 409
    assert r.get_json() == {"error": "illegal_transition", "status_now": "waiting",
                            "message": "No se puede finalizar el turno A-001: está en espera."}


# --- bad input changes nothing ---------------------------------------------------

BAD_BODIES = [
    ("missing service", {"site": "cam-centro"}, 400, "missing_field"),
    ("service of the wrong type", {"site": "cam-centro", "service": ["A"]}, 400, "invalid_type"),
    ("priority of the wrong type", {"site": "cam-centro", "service": "A", "priority": 3}, 400,
     "invalid_type"),
    ("unknown field", {"site": "cam-centro", "service": "A", "name": "Pedro Pérez"}, 400,
     "unknown_field"),
    ("unknown site", {"site": "cam-sur", "service": "A"}, 404, "unknown_site"),
    ("unknown service", {"site": "cam-centro", "service": "Q"}, 404, "unknown_service"),
    ("unknown category", {"site": "cam-centro", "service": "A", "priority": "vip"}, 404,
     "unknown_priority"),
]


@pytest.mark.parametrize("story,payload,status,error", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_ticket_requests_get_a_clear_error_and_write_nothing(app, api, story, payload, status,
                                                                 error):
    r = api.call("admin", "POST", "/api/v1/tickets", payload)
    assert r.status_code == status
    body = r.get_json()
    assert body["error"] == error and body["message"]
    assert count_tickets(app) == 0


def test_a_body_that_is_not_json_is_refused(app, api):
    r = api.client.post("/api/v1/tickets", data="site=cam-centro&service=A",
                        headers={"Authorization": f"Bearer {api.token('admin')}",
                                 "Content-Type": "text/plain"})
    assert r.status_code == 415 and r.get_json()["error"] == "unsupported_media_type"
    r = api.client.post("/api/v1/tickets", data="{not json",
                        headers={"Authorization": f"Bearer {api.token('admin')}",
                                 "Content-Type": "application/json"})
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_json"
    r = api.call("admin", "POST", "/api/v1/tickets", ["cam-centro", "A"])
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_json"
    assert count_tickets(app) == 0


def test_an_oversized_body_is_refused_with_413(app, api):
    huge = {"site": "cam-centro", "service": "A", "priority": "x" * 100_000}
    r = api.call("admin", "POST", "/api/v1/tickets", huge)
    assert r.status_code == 413
    assert r.get_json()["error"] == "too_large"
    assert count_tickets(app) == 0


def test_unknown_ids_are_404_with_json(api):
    assert api.call("admin", "GET", "/api/v1/tickets/999").get_json()["error"] == "unknown_ticket"
    assert api.call("admin", "POST", "/api/v1/desks/999/next").status_code == 404
    assert api.call("admin", "GET", "/api/v1/sites/nowhere").status_code == 404
    r = api.call("admin", "GET", "/api/v1/no-such-route")
    assert r.status_code == 404 and r.get_json()["error"] == "not_found"


def test_a_wrong_method_is_405_with_json(api):
    r = api.call("admin", "DELETE", "/api/v1/tickets")
    assert r.status_code == 405 and r.get_json()["error"] == "method_not_allowed"


# --- authentication and roles ------------------------------------------------------

def test_a_token_is_given_for_good_credentials_only(api):
    ok = api.client.post("/api/v1/auth/token", json={"username": "ana", "password": "secret-pass-1"})
    assert ok.status_code == 201 and ok.get_json()["role"] == "official"
    assert ok.get_json()["token"].startswith("tst_")
    bad = api.client.post("/api/v1/auth/token", json={"username": "ana", "password": "nope-nope"})
    assert bad.status_code == 401 and bad.get_json()["error"] == "bad_credentials"
    nobody = api.client.post("/api/v1/auth/token", json={"username": "zoe", "password": "x" * 9})
    assert nobody.status_code == 401 and nobody.get_json() == bad.get_json()
    missing = api.client.post("/api/v1/auth/token", json={"username": "ana"})
    assert missing.status_code == 400


def test_requests_without_or_with_bad_credentials_are_401(api):
    assert api.client.get("/api/v1/sites").status_code == 401
    r = api.client.get("/api/v1/sites", headers={"Authorization": "Bearer tst_forged"})
    assert r.status_code == 401 and r.get_json()["error"] == "invalid_token"
    r = api.client.get("/api/v1/sites", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert r.status_code == 401 and r.get_json()["error"] == "bad_authorization"


def test_only_an_admin_registers_devices(api):
    r = api.call("supervisor", "POST", "/api/v1/devices",
                 {"site": "cam-centro", "kind": "kiosk", "name": "Kiosco 2"})
    assert r.status_code == 403
    r = api.call("admin", "POST", "/api/v1/devices",
                 {"site": "cam-centro", "kind": "toaster", "name": "Kiosco 2"})
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_kind"


def test_a_kiosk_issues_only_for_its_own_site_and_does_nothing_else(app, api):
    kiosk = api.device("kiosk", "cam-norte")
    other = api.call(kiosk, "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"})
    assert other.status_code == 403 and other.get_json()["error"] == "wrong_site"
    assert api.call(kiosk, "POST", "/api/v1/desks/cam-norte:1/next").status_code == 403
    assert api.call(kiosk, "GET", "/api/v1/sites/cam-norte/queue").status_code == 403
    assert count_tickets(app) == 0


def test_a_display_token_only_listens(app, api):
    display = api.device("display")
    assert api.call(display, "POST", "/api/v1/tickets",
                    {"site": "cam-centro", "service": "A"}).status_code == 403
    assert api.call(display, "GET", "/api/v1/sites/cam-centro/snapshot").status_code == 200
    assert count_tickets(app) == 0


def test_an_official_cannot_reach_admin_routes(api):
    assert api.call("ana", "POST", "/api/v1/sites/cam-centro/close-day").status_code == 403
    assert api.call("ana", "DELETE", "/api/v1/devices/1").status_code == 403


def test_a_revoked_device_token_stops_working_at_once(api):
    kiosk = api.device("kiosk")
    assert api.call(kiosk, "GET", "/api/v1/sites").status_code == 200
    device_id = api.call(kiosk, "GET", "/api/v1/me").get_json()["device"]
    assert api.call("admin", "DELETE", f"/api/v1/devices/{device_id}").status_code == 204
    assert api.call(kiosk, "GET", "/api/v1/sites").status_code == 401


def test_a_staff_token_is_refused_once_it_expires_even_right_after_a_request(app, api, clock):
    token = api.token("ana")
    assert api.call(token, "GET", "/api/v1/me").status_code == 200
    clock.advance(app.config["API_TOKEN_TTL_SECONDS"] - 1)
    assert api.call(token, "GET", "/api/v1/me").status_code == 200
    clock.advance(1)
    r = api.call(token, "GET", "/api/v1/me")
    assert r.status_code == 401 and r.get_json()["error"] == "invalid_token"


def test_whom_tokens_belong_to_is_kept_for_a_bounded_number_of_tokens(api, monkeypatch):
    # A process keeps the principals of the tokens it read lately; a national install's
    # thousands of tokens must not grow its memory without end.
    from shared import auth

    monkeypatch.setattr(auth, "KNOWN_LIMIT", 3)
    kiosks = [api.device("kiosk", name=f"Kiosco {n}") for n in range(5)]
    for kiosk in kiosks * 2:
        assert api.call(kiosk, "GET", "/api/v1/me").get_json()["device_name"].startswith("Kiosco")
        assert len(auth._known) <= 3


def test_a_kiosk_that_floods_the_queue_is_slowed_down(app, api):
    app.config["KIOSK_RATE_LIMIT"] = (3, 60)
    kiosk = api.device("kiosk")
    codes = [api.call(kiosk, "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"})
             .status_code for _ in range(4)]
    assert codes == [201, 201, 201, 429]
    assert count_tickets(app) == 3


def test_errors_speak_the_callers_language(api):
    t = api.issue("A")
    r = api.call("admin", "POST", f"/api/v1/tickets/{t['id']}/finish",
                 headers={"Accept-Language": "en"})
    assert r.get_json()["message"] == "Cannot finish ticket A-001: it is waiting."
    r = api.call("admin", "POST", "/api/v1/tickets", {"site": "cam-centro"},
                 headers={"Accept-Language": "en-US,en;q=0.9"})
    assert r.get_json()["message"] == "The required field “service” is missing."


# --- the document ------------------------------------------------------------------

def test_the_openapi_document_describes_exactly_the_routes_that_exist(app, client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule == "/api/v1/openapi.json":
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule[len("/api/v1"):])
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method))
    assert served == documented
