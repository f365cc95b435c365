"""The kiosk's own endpoint: one tap, one ticket; bad taps get a clear answer and change nothing."""

from __future__ import annotations

import io
import threading

import pytest
from PIL import Image

from shared import store
from shared.db import get_db
from shared.printing.dispatch import wait_idle


def _count_tickets(app) -> int:
    with app.app_context():
        return get_db().execute("SELECT count(*) FROM tickets").fetchone()[0]


def test_a_double_tap_gives_one_ticket_and_one_print(kiosk, app):
    first = kiosk.tap("A", request_id="tap-0001-abcd")
    second = kiosk.tap("A", request_id="tap-0001-abcd")
    assert first.status_code == 201 and second.status_code == 200
    assert second.get_json()["id"] == first.get_json()["id"] and second.get_json()["repeated"]
    assert second.get_json()["print"]["id"] == first.get_json()["print"]["id"]
    assert wait_idle(10)
    assert _count_tickets(app) == 1
    with app.app_context():
        assert len(store.list_print_jobs(get_db())) == 1


def test_two_taps_at_the_same_instant_still_give_one_ticket(kiosk, app):
    answers = []
    start = threading.Barrier(2)

    def tap():
        start.wait()
        answers.append(kiosk.tap("B", request_id="same-instant-1").status_code)

    threads = [threading.Thread(target=tap) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(answers) == [200, 201]
    assert wait_idle(10)
    assert _count_tickets(app) == 1


def test_the_next_citizen_gets_the_next_number(kiosk):
    assert kiosk.tap("A", request_id="citizen-one-1").get_json()["code"] == "A-001"
    assert kiosk.tap("A", request_id="citizen-two-2").get_json()["code"] == "A-002"
    assert kiosk.tap("A").get_json()["code"] == "A-003"
    assert wait_idle(10)


def test_the_ticket_answer_has_what_the_screen_shows(kiosk):
    kiosk.issue("A")
    ticket = kiosk.issue("A", priority="gestante")
    assert ticket["code"] == "PA-002" and ticket["priority_label"] == "Mujer gestante"
    assert ticket["ahead"] == 0 and ticket["estimated_wait_seconds"] == 0
    assert ticket["status_url"].startswith("http://localhost/t/")
    assert ticket["qr_url"] == f"/kiosk/qr/{ticket['status_url'].rsplit('/', 1)[1]}.png"
    general = kiosk.issue("A")
    assert general["ahead"] == 2 and general["estimated_wait_seconds"] > 0
    assert wait_idle(10)


def test_the_qr_on_screen_opens_the_ticket_status_page(kiosk, kiosk_browser):
    import zxingcpp

    ticket = kiosk.issue("C")
    r = kiosk_browser.get(ticket["qr_url"])
    assert r.status_code == 200 and r.mimetype == "image/png"
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(r.data)))
    assert code.text == ticket["status_url"]
    assert kiosk_browser.get("/kiosk/qr/unknown-visit.png").status_code == 404
    assert wait_idle(10)


@pytest.mark.parametrize("body, status, error", [
    ({"service": "A", "request_id": "short"}, 400, "invalid_request_id"),
    ({"service": "A", "request_id": "bad id with spaces"}, 400, "invalid_request_id"),
    ({"service": "Z"}, 404, "unknown_service"),
    ({"service": "A", "priority": "vulnerabilidad"}, 400, "invalid_priority"),
    ({"service": "A", "priority": "rey"}, 400, "invalid_priority"),
    ({"service": "A", "name": "Juan Pérez"}, 400, "unknown_field"),
    ({}, 400, "missing_field"),
    ({"service": ["A"]}, 400, "invalid_type"),
], ids=["short-request-id", "request-id-with-spaces", "unknown-service", "official-only-category",
        "unknown-category", "personal-data", "no-service", "service-not-text"])
def test_a_bad_tap_is_refused_plainly_and_issues_nothing(kiosk, app, body, status, error):
    r = kiosk.api.call(kiosk.token, "POST", "/kiosk/api/tickets", body)
    assert r.status_code == status and r.get_json()["error"] == error
    assert r.get_json()["message"]
    assert _count_tickets(app) == 0


def test_a_closed_service_says_so_instead_of_issuing(kiosk, app):
    with app.app_context():
        db = get_db()
        db.execute("UPDATE services SET opening_hours = ? WHERE code = 'F'",
                   ['{"sat": [["08:00", "12:00"]]}'])
    services = kiosk.api.call(kiosk.token, "GET", "/api/v1/sites/cam-centro/services").get_json()
    assert {s["code"]: s["open"] for s in services["services"]}["F"] is False
    r = kiosk.tap("F")
    assert r.status_code == 409 and r.get_json()["error"] == "service_closed"
    assert "no está disponible" in r.get_json()["message"]
    assert _count_tickets(app) == 0


def test_only_kiosks_and_their_supervisors_issue_here(api, app):
    display = api.device("display", name="Pantalla")
    assert api.call(display, "POST", "/kiosk/api/tickets", {"service": "A"}).status_code == 403
    assert api.call("ana", "POST", "/kiosk/api/tickets", {"service": "A"}).status_code == 403
    assert api.call(None, "POST", "/kiosk/api/tickets", {"service": "A"}).status_code == 401
    preview = api.call("admin", "POST", "/kiosk/api/tickets", {"service": "A"})
    assert preview.status_code == 400 and preview.get_json()["error"] == "missing_site"
    assert _count_tickets(app) == 0
    previewed = api.call("admin", "POST", "/kiosk/api/tickets", {"service": "A", "site": "cam-centro"})
    assert previewed.status_code == 201 and previewed.get_json()["print"]["printer"] == "virtual"
    assert wait_idle(10)


def test_a_kiosk_issues_only_at_its_own_site(api, app):
    from tests.printing.helpers import Kiosk

    other = Kiosk(api, name="Kiosco norte", site="cam-norte")
    r = api.call(other.token, "POST", "/kiosk/api/tickets", {"service": "A", "site": "cam-centro"})
    assert r.status_code == 201 and r.get_json()["site"] == "cam-norte"
    assert wait_idle(10)


def test_the_browser_kiosk_needs_its_csrf_token(kiosk_browser, app):
    r = kiosk_browser.post("/kiosk/api/tickets", json={"service": "A"})
    assert r.status_code == 403 and r.get_json()["error"] == "csrf_failed"
    page = kiosk_browser.get("/kiosk/").get_data(as_text=True)
    csrf = page.split('name="csrf-token" content="')[1].split('"')[0]
    r = kiosk_browser.post("/kiosk/api/tickets", json={"service": "A"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    assert wait_idle(10)


def test_a_kiosk_does_not_read_another_kiosks_print_jobs(api, kiosk):
    from tests.printing.helpers import Kiosk

    ticket = kiosk.issue("A")
    other = Kiosk(api, name="Kiosco 2")
    r = api.call(other.token, "GET", f"/kiosk/api/jobs/{ticket['print']['id']}")
    assert r.status_code == 404
    assert api.call(kiosk.token, "GET", "/kiosk/api/jobs/999").status_code == 404
    assert wait_idle(10)
