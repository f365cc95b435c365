"""Helpers for the status page and survey stories."""

import pytest


@pytest.fixture
def db(app):
    """A direct connection to the test database (no app context held open)."""
    from shared.db import connect

    conn = connect(app.config["DATABASE"])
    yield conn
    conn.conn.close()


@pytest.fixture
def visit_of(db):
    """Return the visit id (the status page's key) of a ticket given by its API shape."""
    from shared import store

    def visit(ticket: dict) -> str:
        return store.ticket_by_id(db, ticket["id"])["visit_id"]

    return visit


@pytest.fixture
def serve(api):
    """Call, start and finish a ticket at a desk as an official."""
    def run(who: str, desk: str, finish: bool = True) -> dict:
        called = api.next(who, desk).get_json()
        api.call(who, "POST", f"/api/v1/tickets/{called['id']}/start")
        if finish:
            api.call(who, "POST", f"/api/v1/tickets/{called['id']}/finish")
        return called

    return run


@pytest.fixture
def survey_device(api, db):
    """Register a survey screen paired with a desk; return its token."""
    from shared import store

    def make(desk: str | None = "1", site: str = "cam-centro") -> str:
        token = api.device("survey", site=site, name=f"encuesta {desk}")
        device_id = api.call(token, "GET", "/api/v1/me").get_json()["device"]
        if desk is not None:
            desk_row = store.find_desk(db, desk, store.find_site(db, site)["id"])
            store.set_device_config(db, device_id, {"desk": desk_row["id"]})
        return token

    return make
