"""Floods are cut short: the same limits and the same Spanish 429 on every face that has one."""

import pytest

from tests.admin.pages import StaffBrowser

FLOOD = "Demasiadas solicitudes seguidas. Espere un momento e intente de nuevo."


def test_a_flood_of_logins_from_one_address_gets_the_login_page_with_a_429(app, clock):
    codes = [StaffBrowser(app).login(f"nadie{i}", "x" * 9).status_code for i in range(21)]
    assert codes == [401] * 20 + [429]
    flooded = StaffBrowser(app).login("ana")
    assert flooded.status_code == 429 and FLOOD in flooded.text and 'name="password"' in flooded.text
    assert StaffBrowser(app).get("/login").status_code == 200  # the page itself is not limited
    clock.advance(seconds=61)
    assert StaffBrowser(app).login("ana").status_code == 302


def test_a_flood_of_token_requests_gets_a_json_429(api):
    codes = [api.client.post("/api/v1/auth/token", json={"username": f"u{i}", "password": "x"})
             .status_code for i in range(21)]
    assert codes == [401] * 20 + [429]
    r = api.client.post("/api/v1/auth/token", json={"username": "ana", "password": "secret-pass-1"})
    assert r.status_code == 429
    assert r.get_json() == {"error": "rate_limited", "message": FLOOD}
    assert 1 <= int(r.headers["Retry-After"]) <= 60  # when the client may try again


def test_the_kiosk_page_honours_its_configured_limit_and_repeats_cost_nothing(app, api, clock):
    app.config["KIOSK_RATE_LIMIT"] = (2, 60)
    kiosk = api.device("kiosk")
    headers = {"Authorization": f"Bearer {kiosk}"}

    def tap(request_id):
        return api.client.post("/kiosk/api/tickets", json={"service": "A", "request_id": request_id},
                               headers=headers)

    assert [tap(f"tap-000{i}").status_code for i in (1, 1, 1, 2)] == [201, 200, 200, 201]
    refused = tap("tap-0003")
    assert refused.status_code == 429 and refused.get_json()["error"] == "rate_limited"
    clock.advance(seconds=61)
    assert tap("tap-0004").status_code == 201


def test_staff_issuing_from_the_api_is_not_held_to_the_kiosk_limit(app, api):
    app.config["KIOSK_RATE_LIMIT"] = (1, 60)
    for _ in range(3):
        api.issue("A")


def test_a_flood_of_ratings_from_one_phone_is_cut(app, api):
    ticket = api.issue("A")
    visit = ticket["status_url"].rsplit("/", 1)[1]
    codes = [api.client.post(f"/t/{visit}/rating", json={"score": 9}).status_code for _ in range(31)]
    assert codes == [400] * 30 + [429]


def test_a_survey_screen_is_limited_per_device(app, api):
    token = api.device("survey")
    codes = [api.call(token, "POST", "/api/v1/ratings", {"ticket": 1, "score": 5}).status_code
             for _ in range(61)]
    assert set(codes[:60]) <= {403, 404} and codes[60] == 429


def test_the_counters_live_where_ratelimit_storage_uri_says(tmp_path, clock):
    from server import create_app
    from shared import ratelimit

    app = create_app({"TESTING": True, "SOCKETIO_ASYNC_MODE": "threading",
                      "RATELIMIT_STORAGE_URI": "memory://"}, instance=tmp_path / "i", clock=clock)
    assert app.config["RATELIMIT_STORAGE_URI"] == "memory://"
    assert type(ratelimit.counters(app).storage).__name__ == "MemoryStorage"
    with pytest.raises(Exception, match="nosuchstore"):
        create_app({"TESTING": True, "SOCKETIO_ASYNC_MODE": "threading",
                    "RATELIMIT_STORAGE_URI": "nosuchstore://x"}, instance=tmp_path / "j", clock=clock)
