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
