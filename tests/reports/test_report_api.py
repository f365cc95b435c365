"""A supervisor asks the report API; wrong questions get a clear answer and change nothing."""

import pytest

from tests.reports.known_day import DAY

PASSWORD = "secret-pass-1"


def stored_partials(app) -> int:
    """Count the stored daily partials (the only thing a report ever writes)."""
    from shared.db import connect

    db = connect(app.config["DATABASE"])
    try:
        return db.execute("SELECT count(*) FROM report_partials").fetchone()[0]
    finally:
        db.conn.close()


@pytest.mark.parametrize("query, status, error", [
    ("from=2026-13-01&to=2026-13-02", 400, "invalid_date"),
    ("from=yesterday", 400, "invalid_date"),
    ("from=2026-11-25&to=2026-11-24", 400, "invalid_range"),
    ("from=2020-01-01&to=2026-11-25", 400, "invalid_range"),
    ("from=0001-01-01&to=0001-01-01", 400, "invalid_date"),
    ("from=9999-12-31&to=9999-12-31", 400, "invalid_date"),
    ("group_by=colour", 400, "invalid_group_by"),
    ("period=decade", 400, "invalid_period"),
    ("site=nowhere", 404, "unknown_site"),
])
def test_a_wrong_question_gets_a_clear_error_and_writes_nothing(known_day, api, app, query, status,
                                                                 error):
    before = stored_partials(app)
    r = api.call("supervisor", "GET", f"/api/v1/reports/summary?site=cam-centro&{query}"
                 if "site=" not in query else f"/api/v1/reports/summary?{query}")
    assert r.status_code == status
    body = r.get_json()
    assert body["error"] == error and body["message"]
    assert stored_partials(app) == before


@pytest.mark.parametrize("who, status, error", [
    ("ana", 403, "forbidden"), (None, 401, "login_required")])
def test_only_supervisors_and_administrators_read_reports(api, who, status, error):
    for path in ("/api/v1/reports/summary", "/api/v1/reports/charts", "/api/v1/reports/monitor"):
        r = api.call(who, "GET", path)
        assert (r.status_code, r.get_json()["error"]) == (status, error), path


def test_a_kiosk_cannot_read_reports(api):
    kiosk = api.device("kiosk")
    r = api.call(kiosk, "GET", "/api/v1/reports/summary")
    assert r.status_code == 403


def test_a_supervisor_of_one_site_sees_only_that_site(known_day, api, app, clock):
    from shared import auth, store
    from shared.db import get_db

    with app.app_context():
        db = get_db()
        auth.create_user(db, "norte", PASSWORD, "supervisor", clock,
                         site_ids=[store.find_site(db, "cam-norte")["id"]])
    r = api.call("norte", "GET", f"/api/v1/reports/summary?site=cam-centro&from={DAY}&to={DAY}")
    assert (r.status_code, r.get_json()["error"]) == (403, "wrong_site")
    r = api.call("norte", "GET", f"/api/v1/reports/summary?site=all&from={DAY}&to={DAY}")
    assert r.status_code == 200
    assert r.get_json()["sites"] == ["cam-norte"] and r.get_json()["totals"]["issued"] == 0


def test_period_presets_cover_the_day_week_month_and_quarter_of_today(api):
    # The clock stands at Wednesday 25 November 2026.
    expected = {"day": ("2026-11-25", "2026-11-25"), "week": ("2026-11-23", "2026-11-29"),
                "month": ("2026-11-01", "2026-11-30"), "quarter": ("2026-10-01", "2026-12-31")}
    for period, (first, last) in expected.items():
        body = api.call("admin", "GET", f"/api/v1/reports/summary?period={period}").get_json()
        assert (body["from"], body["to"]) == (first, last), period


def test_the_charts_give_hours_wait_bands_weekdays_and_services(known_day, api):
    r = api.call("supervisor", "GET", f"/api/v1/reports/charts?site=cam-centro&from={DAY}&to={DAY}")
    charts = r.get_json()
    assert [(h["hour"], h["issued"], h["served"]) for h in charts["hourly"]] == \
        [(8, 5, 3), (9, 2, 0), (23, 1, 1)]
    bands = {(b["from_minutes"], b["to_minutes"]): b["count"] for b in charts["distribution"]}
    # waits from arrival 4, 4, 10, 11, 18.5 and 20 minutes
    assert bands[(0, 5)] == 2 and bands[(5, 10)] == 0 and bands[(10, 15)] == 2
    assert bands[(15, 20)] == 1 and bands[(20, 30)] == 1 and sum(bands.values()) == 6
    wednesday = {c["hour"]: c for c in charts["heatmap"] if c["weekday"] == 2}
    assert wednesday[23]["wait_mean"] == 600.0 and wednesday[8]["issued"] == 5
    assert [s["key"] for s in charts["services"]][:2] == ["cam-centro:A", "cam-centro:B"]


def test_the_report_endpoints_are_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in ("/reports/summary", "/reports/charts", "/reports/monitor", "/ratings"):
        assert path in paths
    groups = next(p for p in paths["/reports/summary"]["get"]["parameters"] if p["name"] == "group_by")
    assert groups["schema"]["enum"] == ["service", "desk", "official", "priority", "hour", "day",
                                        "site"]
