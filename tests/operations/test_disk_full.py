"""The embedded database's disk fills up while the CAM serves.

A municipal PC's disk can fill (old backups, logs). SQLite then refuses every
write; a kiosk must hear that nothing was changed and to tell the administrator,
as for any database that cannot answer, not "an unexpected error". SQLite's own
page limit (``max_page_count``) makes the database full without filling the
test machine's disk: the error SQLite raises is the same.
"""

import pytest

pytestmark = pytest.mark.engines("sqlite")


def fill(pool) -> None:
    """Let the database grow no further (the pool's last connection, the one requests take next)."""
    db = pool.acquire()
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    pool.release(db)


def test_a_full_disk_refuses_a_ticket_saying_nothing_was_changed(app, api):
    issued = api.issue()
    pool = app.extensions["turnos.pool"]
    fill(pool)  # the next page the database needs is refused

    answers = []
    while not answers or answers[-1].status_code == 201:
        assert len(answers) < 500, "the database never filled"
        answers.append(api.call("admin", "POST", "/api/v1/tickets",
                                {"site": "cam-centro", "service": "A"}))
    refused = answers[-1]
    assert refused.status_code == 503, refused.get_json()
    assert refused.get_json()["error"] == "database_unavailable"
    assert "no se cambió nada" in refused.get_json()["message"]
    # Every ticket answered 201 is there, numbered one after another; the refused one took nothing.
    db = pool.acquire()
    try:
        codes = [r[0] for r in db.execute("SELECT code FROM tickets ORDER BY id")]
    finally:
        pool.release(db)
    assert codes == [issued["code"]] + [a.get_json()["code"] for a in answers[:-1]]


def test_health_says_the_database_refuses_writes_until_there_is_room_again(app, api):
    pool = app.extensions["turnos.pool"]
    assert api.client.get("/healthz").status_code == 200
    fill(pool)
    while (answer := api.call("admin", "POST", "/api/v1/tickets",
                              {"site": "cam-centro", "service": "A"})).status_code == 201:
        pass
    assert answer.status_code == 503
    # Reading still works, so a health check that only reads would say all is well.
    assert api.call("admin", "GET", "/api/v1/sites/cam-centro/queue").status_code == 200
    health = api.client.get("/healthz")
    assert health.status_code == 503
    assert health.get_json() == {"ok": False, "database": "refuses_writes", "queue": "off"}
    assert api.client.get("/healthz").status_code == 503  # asked again: still the truth

    db = pool.acquire()
    db.execute("PRAGMA max_page_count = 1073741823")  # the administrator made room
    pool.release(db)
    health = api.client.get("/healthz")  # no ticket was issued meanwhile: health looked by itself
    assert health.status_code == 200 and health.get_json()["database"] == "ok"
    assert api.call("admin", "POST", "/api/v1/tickets",
                    {"site": "cam-centro", "service": "A"}).status_code == 201
