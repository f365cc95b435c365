"""Public wait times of a city, no login: each service point and service with the people waiting,
the live estimate, whether it is open and the typical wait by weekday and hour; embeddable, and
built once for a crowd."""

from datetime import date, timedelta

from shared import publicwaits
from tests.channels.conftest import at, open_desk

CITY = "/api/v1/public/cities/villa-esperanza/waits"


def past_wednesdays(room, clock, weeks: int = 3):
    """Play three past Wednesdays at 09:00: three A tickets each, called after 10, 20, 30 minutes."""
    desk, actor = open_desk(room, "1", "ana")
    for week in range(1, weeks + 1):
        day = (date(2026, 11, 25) - timedelta(weeks=week)).isoformat()
        tickets = []
        for minute in ("09:00:00", "09:01:00", "09:02:00"):
            at(clock, minute, day)
            tickets.append(room.issue("cam-centro", "A"))
        for n, ticket in enumerate(tickets, start=1):
            at(clock, f"09:{n * 10 + n - 1:02d}:00", day)
            room.call_ticket(ticket["id"], desk, actor)
            room.no_show(ticket["id"], actor)
    at(clock, "08:00:00")


def test_a_citizen_reads_where_and_when_to_go_without_logging_in(app, room, clock, client):
    past_wednesdays(room, clock)
    room.issue("cam-centro", "A")
    publicwaits.forget()
    answer = client.get(CITY)
    assert answer.status_code == 200 and answer.headers["Access-Control-Allow-Origin"] == "*"
    city = answer.get_json()
    assert city["city_name"] == "Villa Esperanza"
    centro, = city["sites"]                                   # CAM Norte lists no city
    assert centro["name"] == "CAM Centro" and centro["open"] and centro["address"]
    a = next(s for s in centro["services"] if s["code"] == "A")
    assert a["waiting"] == 1 and a["open"] and a["appointments"] and a["remote"]
    assert a["estimated_wait_minutes"] is not None
    # Wednesday (2) at 09:00: waits of 10, 20 and 30 minutes, three of them a day.
    cell, = [c for c in a["typical"] if (c["weekday"], c["hour"]) == (2, 9)]
    assert cell["wait_minutes"] == 20.0 and cell["per_day"] == 3.0
    assert client.get("/api/v1/public/cities/nowhere/waits").status_code == 404
    page = client.get("/espera/villa-esperanza")
    assert page.status_code == 200 and "CAM Centro" in page.get_data(as_text=True)


def test_only_the_wait_page_may_be_framed_by_the_municipality_s_site(app, client):
    app.config["PUBLIC_FRAME_ANCESTORS"] = "https://www.villaesperanza.gov.co"
    page = client.get("/espera/villa-esperanza")
    assert "frame-ancestors https://www.villaesperanza.gov.co" in page.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in page.headers
    booking = client.get("/citas/cam-centro")
    assert "frame-ancestors 'none'" in booking.headers["Content-Security-Policy"]
    assert booking.headers["X-Frame-Options"] == "DENY"


def test_a_crowd_gets_one_build_until_it_expires_and_unchanged_copies_cost_nothing(
        app, room, clock, client, monkeypatch):
    app.config["PUBLIC_CACHE_SECONDS"] = 10
    publicwaits.forget()
    builds = []
    real = publicwaits.build
    monkeypatch.setattr(publicwaits, "build", lambda *a: builds.append(1) or real(*a))
    first = client.get(CITY)
    room.issue("cam-centro", "A")                            # the line moves ...
    for _ in range(20):
        again = client.get(CITY)
        assert again.get_data() == first.get_data()          # ... the crowd reads one copy
    assert len(builds) == 1
    assert first.headers["Cache-Control"] == "public, max-age=10"
    assert client.get(CITY, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    clock.advance(seconds=10)
    fresh = client.get(CITY).get_json()
    assert len(builds) == 2
    assert next(s for s in fresh["sites"][0]["services"] if s["code"] == "A")["waiting"] == 1
