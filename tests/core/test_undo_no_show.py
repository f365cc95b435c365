"""A no-show marked by mistake is taken back within seconds; the log keeps both, nothing is erased."""

import pytest

from shared import store
from shared.errors import Conflict, IllegalTransition
from shared.queue import UNDO_NO_SHOW_SECONDS, Actor

OFFICIAL = Actor(user_id=3)


def _called(engine, service="A", desk_code="1"):
    """Issue a ticket and call it to a desk; return (ticket, desk)."""
    site = engine.site("cam-centro")
    ticket = engine.issue(site, service)
    desk = engine.desk(desk_code, site)
    called = engine.call_next(desk, OFFICIAL)
    assert called["id"] == ticket["id"]
    return called, desk


def test_an_official_takes_back_a_no_show_and_the_citizen_is_still_called(engine, clock):
    ticket, desk = _called(engine)
    engine.no_show(ticket["id"], OFFICIAL)
    clock.advance(UNDO_NO_SHOW_SECONDS - 1)
    back = engine.undo_no_show(ticket["id"], OFFICIAL)
    assert back["status"] == "called" and back["desk_id"] == desk["id"] and back["closed_at"] is None
    events = store.ticket_events(engine.db, ticket["id"])
    assert [e["kind"] for e in events] == ["issued", "called", "no_show", "no_show_undone"]
    assert events[-1]["user_id"] == OFFICIAL.user_id
    assert ("ticket_no_show_undone", "staff:1") in [(e, r) for e, _p, r in engine.announce.sent]
    # The citizen then comes and is served as usual.
    engine.start(ticket["id"], OFFICIAL)
    assert engine.finish(ticket["id"], OFFICIAL)["status"] == "finished"


def test_too_late_to_take_it_back(engine, clock):
    ticket, _desk = _called(engine)
    engine.no_show(ticket["id"], OFFICIAL)
    clock.advance(UNDO_NO_SHOW_SECONDS + 1)
    with pytest.raises(IllegalTransition) as refused:
        engine.undo_no_show(ticket["id"], OFFICIAL)
    assert refused.value.code == "undo_too_late"
    assert store.ticket_by_id(engine.db, ticket["id"])["status"] == "no_show"


def test_not_once_the_desk_called_someone_else_and_never_for_a_ticket_not_marked_absent(engine, clock):
    ticket, desk = _called(engine)
    engine.no_show(ticket["id"], OFFICIAL)
    engine.issue("cam-centro", "A")
    engine.call_next(desk, OFFICIAL)
    with pytest.raises(Conflict) as busy:
        engine.undo_no_show(ticket["id"], OFFICIAL)
    assert busy.value.code == "desk_busy"
    waiting = engine.issue("cam-centro", "B")
    with pytest.raises(IllegalTransition):
        engine.undo_no_show(waiting["id"], OFFICIAL)
    assert [e["kind"] for e in store.ticket_events(engine.db, ticket["id"])][-1] == "no_show"


def test_the_officials_day_does_not_count_a_no_show_taken_back(app, api):
    api.issue("C")
    api.take_desk("ana", "cam-centro:3")
    called = api.next("ana", "cam-centro:3").get_json()
    assert api.call("ana", "POST", f"/api/v1/tickets/{called['id']}/no-show").status_code == 200
    assert api.call("ana", "GET", "/api/v1/me/today").get_json()["no_show"] == 1
    r = api.call("ana", "POST", f"/api/v1/tickets/{called['id']}/undo-no-show")
    assert r.status_code == 200 and r.get_json()["status"] == "called"
    assert api.call("ana", "GET", "/api/v1/me/today").get_json()["no_show"] == 0
    # Someone else's ticket: refused, and the second undo finds nothing to undo.
    assert api.call("beto", "POST", f"/api/v1/tickets/{called['id']}/undo-no-show").status_code == 403
    again = api.call("ana", "POST", f"/api/v1/tickets/{called['id']}/undo-no-show")
    assert again.status_code == 409 and again.get_json()["error"] == "undo_too_late"


@pytest.mark.engines("sqlite")  # the rebuild is SQLite's way to widen a check
def test_the_rebuilt_log_keeps_every_event_and_stays_append_only(engine):
    from shared.migrations import m0013a_no_show_undone

    ticket, _desk = _called(engine)
    before = store.ticket_events(engine.db, ticket["id"])
    with engine.db.conn:
        m0013a_no_show_undone(engine.db)
    assert store.ticket_events(engine.db, ticket["id"]) == before
    with pytest.raises(Exception, match="append-only"):
        engine.db.execute("UPDATE ticket_events SET kind = 'finished' WHERE ticket_id = ?", [ticket["id"]])


def test_each_official_turns_the_desk_shortcuts_off_for_themselves(api):
    assert api.call("ana", "GET", "/api/v1/me/preferences").get_json() == {"desk_shortcuts": True}
    r = api.call("ana", "PUT", "/api/v1/me/preferences", {"desk_shortcuts": False})
    assert r.status_code == 200 and r.get_json() == {"desk_shortcuts": False}
    assert api.call("beto", "GET", "/api/v1/me/preferences").get_json() == {"desk_shortcuts": True}
    bad = api.call("ana", "PUT", "/api/v1/me/preferences", {"desk_shortcuts": "no"})
    assert bad.status_code == 400 and bad.get_json()["message"]
    unknown = api.call("ana", "PUT", "/api/v1/me/preferences", {"theme": "dark"})
    assert unknown.status_code == 400
    assert api.call("ana", "GET", "/api/v1/me/preferences").get_json() == {"desk_shortcuts": False}
