"""The survey screen beside a desk asks each citizen, as the official finishes, how it went."""

from shared.events import socketio


def test_the_survey_screen_hears_its_desk_finish_and_records_one_rating(api, app, survey_device,
                                                                         serve, db):
    token = survey_device("1")
    screen = socketio.test_client(app, auth={"token": token})
    assert screen.is_connected()
    ticket = api.issue("A")
    api.take_desk("ana", "cam-centro:1")
    serve("ana", "cam-centro:1")
    finished = [e["args"][0] for e in screen.get_received() if e["name"] == "ticket_finished"]
    assert [f["code"] for f in finished] == ["A-001"]
    r = api.call(token, "POST", "/api/v1/ratings", {"ticket": ticket["id"], "score": 5,
                                                      "comment": "Excelente"})
    assert r.status_code == 201 and r.get_json()["rated"] is True
    r = api.call(token, "POST", "/api/v1/ratings", {"ticket": ticket["id"], "score": 2})
    assert (r.status_code, r.get_json()["error"]) == (409, "already_rated")
    rows = db.execute("SELECT score, channel, desk_id FROM ratings").fetchall()
    assert [(r[0], r[1]) for r in rows] == [(5, "survey")]


def test_the_survey_screen_of_another_desk_hears_nothing_and_cannot_rate(api, app, survey_device,
                                                                        serve):
    other = survey_device("2")
    screen = socketio.test_client(app, auth={"token": other})
    screen.get_received()
    ticket = api.issue("A")
    api.take_desk("ana", "cam-centro:1")
    serve("ana", "cam-centro:1")
    assert [e for e in screen.get_received() if e["name"] == "ticket_finished"] == []
    r = api.call(other, "POST", "/api/v1/ratings", {"ticket": ticket["id"], "score": 5})
    assert (r.status_code, r.get_json()["error"]) == (403, "not_your_desk")


def test_a_rating_before_the_service_ends_is_refused(api, survey_device, serve):
    token = survey_device("1")
    ticket = api.issue("A")
    api.take_desk("ana", "cam-centro:1")
    serve("ana", "cam-centro:1", finish=False)
    r = api.call(token, "POST", "/api/v1/ratings", {"ticket": ticket["id"], "score": 5})
    assert (r.status_code, r.get_json()["error"]) == (409, "not_finished")


def test_only_a_survey_screen_records_ratings(api, serve):
    ticket = api.issue("A")
    api.take_desk("ana", "cam-centro:1")
    serve("ana", "cam-centro:1")
    for who in ("ana", "supervisor", api.device("kiosk")):
        r = api.call(who, "POST", "/api/v1/ratings", {"ticket": ticket["id"], "score": 5})
        assert r.status_code == 403
    assert api.call(None, "POST", "/api/v1/ratings", {"ticket": 1, "score": 5}).status_code == 401


def test_the_survey_page_names_its_desk_or_asks_to_be_configured(api, survey_device):
    page = api.call(survey_device("3"), "GET", "/survey/").get_data(as_text=True)
    assert "<h1>Módulo 3</h1>" in page and "survey.js" in page
    page = api.call(survey_device(None), "GET", "/survey/").get_data(as_text=True)
    assert "Pantalla de encuesta sin módulo asignado" in page
    assert api.call("ana", "GET", "/survey/").status_code == 403


def _option_value(page: str, label: str) -> str:
    """Return the value of the <option> a select shows with this label."""
    import re

    return re.search(r'<option value="([^"]*)"[^>]*>' + re.escape(label) + "<", page).group(1)


def test_a_survey_screen_at_a_site_whose_desk_ids_differ_from_codes_works(app, api, db):
    from shared import store
    from tests.admin.pages import StaffBrowser

    norte = store.find_site(db, "cam-norte")
    desk = store.find_desk(db, "1", norte["id"])
    assert str(desk["id"]) != desk["code"]  # Ventanilla 1 of CAM Norte is desk 7, code "1"
    token = api.device("survey", site="cam-norte", name="Encuesta ventanilla 1")
    device_id = api.call(token, "GET", "/api/v1/me").get_json()["device"]
    admin = StaffBrowser(app, "admin")
    page = admin.get(f"/admin/devices/{device_id}").text
    r = admin.post(f"/admin/devices/{device_id}", {
        "name": "Encuesta ventanilla 1", "desk": _option_value(page, "Ventanilla 1")})
    assert r.status_code == 302
    assert 'selected>Ventanilla 1<' in admin.get(f"/admin/devices/{device_id}").text

    screen_page = api.call(token, "GET", "/survey/").get_data(as_text=True)
    assert "sin módulo asignado" not in screen_page and "Ventanilla 1" in screen_page
    screen = socketio.test_client(app, auth={"token": token})
    screen.get_received()
    ticket = api.issue("A", site="cam-norte")
    api.take_desk("ana", "cam-norte:1")
    api.next("ana", "cam-norte:1")
    for action in ("start", "finish"):
        assert api.call("ana", "POST", f"/api/v1/tickets/{ticket['id']}/{action}").status_code == 200
    finished = [e["args"][0] for e in screen.get_received() if e["name"] == "ticket_finished"]
    assert [f["code"] for f in finished] == [ticket["code"]]
    r = api.call(token, "POST", "/api/v1/ratings", {"ticket": ticket["id"], "score": 4})
    assert r.status_code == 201, r.get_json()


def test_a_survey_configuration_that_held_a_desk_code_is_read_and_migrated(app, api, db):
    import json

    from shared import store
    from shared.migrations import m0014b_survey_desk_ids

    token = api.device("survey", site="cam-norte", name="Encuesta antigua")
    device_id = api.call(token, "GET", "/api/v1/me").get_json()["device"]
    store.set_device_config(db, device_id, {"desk": "2"})  # as the old device form stored it
    assert "Ventanilla 2" in api.call(token, "GET", "/survey/").get_data(as_text=True)
    m0014b_survey_desk_ids(db)
    desk = store.find_desk(db, "2", store.find_site(db, "cam-norte")["id"])
    assert json.loads(store.device_by_id(db, device_id)["config"]) == {"desk": desk["id"]}
    assert "Ventanilla 2" in api.call(token, "GET", "/survey/").get_data(as_text=True)
