"""A citizen follows a ticket from a phone (the QR on the ticket), then rates the service."""

import re

import pytest

from shared.events import socketio


def status(client, visit: str) -> dict:
    """Read a visit's public status as JSON."""
    r = client.get(f"/t/{visit}.json")
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    return r.get_json()


def test_the_page_shows_the_code_service_people_ahead_and_estimated_wait(api, client, visit_of):
    api.issue("A")
    api.issue("A")
    third = api.issue("A")
    assert third["status_url"].endswith(f"/t/{visit_of(third)}")
    page = client.get(f"/t/{visit_of(third)}").get_data(as_text=True)
    assert 'id="code">A-003<' in page and "Impuesto predial" in page
    assert 'id="ahead">2<' in page
    # No desk open yet: two people ahead at the service's 6 minutes, one desk assumed; shown as
    # a range (before any history: 0.55 to 1.6 times the estimate plus five minutes, less five).
    assert 'id="estimate">4–23<' in page
    state = status(client, visit_of(third))
    assert (state["ahead"], state["estimated_wait_seconds"]) == (2, 720.0)
    assert state["estimated_wait_range_seconds"] == [261.0, 1332.0]


def test_nobody_else_reads_a_ticket_from_its_address(api, client, visit_of):
    first, second = api.issue("A"), api.issue("A")
    a, b = visit_of(first), visit_of(second)
    assert len(a) >= 16 and len(b) >= 16 and a[:6] != b[:6]
    state = status(client, a)
    assert "id" not in state and "visit_id" not in state and "priority" not in state
    for wrong in (b[:-1] + ("x" if b[-1] != "x" else "y"), "1", "abc%24%25", str(first["id"])):
        r = client.get(f"/t/{wrong}")
        assert r.status_code == 404 and "Este turno no existe" in r.get_data(as_text=True)
        r = client.get(f"/t/{wrong}.json")
        assert (r.status_code, r.get_json()["error"]) == (404, "unknown_ticket")


def test_the_page_hears_the_call_and_says_where_to_go(api, app, client, visit_of):
    ticket = api.issue("A")
    phone = socketio.test_client(app, auth={"ticket": visit_of(ticket)})
    assert phone.is_connected()
    api.take_desk("ana", "cam-centro:1")
    api.next("ana")
    assert [e["args"][0]["status"] for e in phone.get_received() if e["name"] == "ticket_status"] \
        == ["called"]
    state = status(client, visit_of(ticket))
    assert state["status"] == "called" and state["message"] == "Diríjase al Módulo 1"
    assert state["desk_name"] == "Módulo 1" and state["ahead"] is None
    page = client.get(f"/t/{visit_of(ticket)}").get_data(as_text=True)
    assert re.search(r'id="called-desk">Diríjase al Módulo 1<', page)
    assert "Ana" not in page, "the official's name is never on the citizen's page"
    api.call("ana", "POST", f"/api/v1/tickets/{ticket['id']}/recall")
    assert [e["args"][0]["status"] for e in phone.get_received() if e["name"] == "ticket_status"] \
        == ["called"]


def test_the_page_hears_when_the_people_ahead_move(api, app, visit_of):
    api.issue("A")
    mine = api.issue("A")
    phone = socketio.test_client(app, auth={"ticket": visit_of(mine)})
    phone.get_received()
    api.take_desk("ana", "cam-centro:1")
    api.next("ana")
    counts = [e["args"][0] for e in phone.get_received() if e["name"] == "queue_changed"]
    assert counts and [s["waiting"] for s in counts[-1]["services"] if s["code"] == "A"] == [1]
    assert all("status_url" not in str(e) for e in counts), "only counts, never another ticket"


def test_an_unknown_ticket_cannot_open_a_live_connection(app):
    phone = socketio.test_client(app, auth={"ticket": "no-such-visit-id"})
    assert not phone.is_connected()


def test_a_transferred_ticket_keeps_its_address_and_says_where_it_went(api, client, visit_of):
    ticket = api.issue("C")
    api.take_desk("beto", "cam-centro:3")
    api.next("beto", "cam-centro:3")
    api.call("beto", "POST", f"/api/v1/tickets/{ticket['id']}/transfer", {"service": "A"})
    state = status(client, visit_of(ticket))
    assert state["status"] == "waiting" and state["service_name"] == "Impuesto predial"
    assert state["transferred_from"] == "SISBÉN" and state["code"] == "C-001"


def test_after_the_service_the_citizen_rates_it_once(api, client, visit_of, serve, db):
    ticket = api.issue("A")
    visit = visit_of(ticket)
    r = client.post(f"/t/{visit}/rating", json={"score": 5})
    assert (r.status_code, r.get_json()["error"]) == (409, "not_finished")
    api.take_desk("ana", "cam-centro:1")
    serve("ana", "cam-centro:1")
    state = status(client, visit)
    assert state["status"] == "finished" and state["can_rate"] is True
    page = client.get(f"/t/{visit}").get_data(as_text=True)
    assert '<section class="panel rating "' in page and "¿Cómo lo atendimos?" in page
    r = client.post(f"/t/{visit}/rating", json={"score": 4, "comment": "  Muy amable  "})
    assert r.status_code == 201
    r = client.post(f"/t/{visit}/rating", json={"score": 1})
    assert (r.status_code, r.get_json()["error"]) == (409, "already_rated")
    assert status(client, visit)["rated"] is True and status(client, visit)["can_rate"] is False
    row = db.execute("SELECT score, comment, channel FROM ratings").fetchall()
    assert [tuple(r) for r in row] == [(4, "Muy amable", "status")]


@pytest.mark.parametrize("payload, error", [
    ({"score": 0}, "invalid_score"), ({"score": 6}, "invalid_score"),
    ({"score": "5"}, "invalid_type"), ({"score": True}, "invalid_type"), ({}, "missing_field"),
    ({"score": 3, "comment": "x" * 501}, "too_long"), ({"score": 3, "name": "Ana"}, "unknown_field")])
def test_a_wrong_rating_is_refused_and_nothing_is_stored(api, client, visit_of, serve, db, payload,
                                                         error):
    ticket = api.issue("A")
    api.take_desk("ana", "cam-centro:1")
    serve("ana", "cam-centro:1")
    r = client.post(f"/t/{visit_of(ticket)}/rating", json=payload)
    assert r.status_code == 400 and r.get_json()["error"] == error
    assert db.execute("SELECT count(*) FROM ratings").fetchone()[0] == 0


def test_the_page_works_without_script_the_rating_form_posts_back(api, app, visit_of, serve, db):
    ticket = api.issue("A")
    api.take_desk("ana", "cam-centro:1")
    serve("ana", "cam-centro:1")
    phone = app.test_client()
    page = phone.get(f"/t/{visit_of(ticket)}").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = phone.post(f"/t/{visit_of(ticket)}/rating", data={"score": "5", "comment": "",
                                                         "csrf_token": csrf})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/t/{visit_of(ticket)}")
    assert db.execute("SELECT score FROM ratings").fetchone()[0] == 5
