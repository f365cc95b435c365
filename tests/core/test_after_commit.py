"""What a unit of work announces leaves once it commits, and never when it rolls back."""

import pytest

from shared.db import immediate, on_commit


def test_a_ticket_issued_inside_a_larger_unit_is_announced_when_the_whole_unit_commits(engine):
    sent = engine.announce.sent
    with immediate(engine.db):
        ticket = engine.issue("cam-centro", "A")
        assert sent == [], "announced before the unit committed"
        engine.db.execute("UPDATE tickets SET note = 'printed' WHERE id = ?", [ticket["id"]])
    assert [event for event, _, _ in sent if event == "ticket_issued"] == ["ticket_issued"]


def test_a_ticket_of_a_unit_that_rolls_back_is_never_announced_nor_kept(engine):
    with pytest.raises(RuntimeError), immediate(engine.db):
        engine.issue("cam-centro", "A")
        raise RuntimeError("the print job could not be recorded")
    assert engine.announce.sent == []
    assert engine.db.execute("SELECT count(*) FROM tickets").fetchone()[0] == 0


def test_a_step_sent_without_waiting_that_fails_undoes_the_whole_unit_and_is_heard(engine):
    # On PostgreSQL the event log is sent without waiting for its answer (one round trip less
    # while the site is locked); an event the database refuses must still undo the call.
    from shared import store
    from shared.db import IntegrityError

    ticket = engine.issue("cam-centro", "A")
    with pytest.raises(IntegrityError), immediate(engine.db):
        engine.db.execute("UPDATE tickets SET note = 'changed' WHERE id = ?", [ticket["id"]])
        row = store.ticket_by_id(engine.db, ticket["id"])
        store.insert_event(engine.db, dict(row, id=row["id"] + 1000), "called", 0)  # no such ticket
        on_commit(engine.db, lambda: pytest.fail("announced a change that was rolled back"))
    assert engine.db.execute("SELECT note FROM tickets WHERE id = ?", [ticket["id"]]).fetchone()[0] == ""
    # The connection works on: the next unit commits.
    with immediate(engine.db):
        engine.db.execute("UPDATE tickets SET note = 'kept' WHERE id = ?", [ticket["id"]])
    assert engine.db.execute("SELECT note FROM tickets WHERE id = ?", [ticket["id"]]).fetchone()[0] == "kept"


def test_a_refused_statement_read_inside_a_unit_undoes_what_came_before_it(engine):
    # A statement whose answer is read inside the transaction (here the refusal itself) must not
    # end it: on PostgreSQL the answers are flushed, not synced, so the change before it goes too.
    from shared import store
    from shared.db import IntegrityError

    ticket = engine.issue("cam-centro", "A")
    with pytest.raises(IntegrityError), immediate(engine.db):
        engine.db.execute("UPDATE tickets SET note = 'changed' WHERE id = ?", [ticket["id"]])
        row = store.ticket_by_id(engine.db, ticket["id"])  # read inside the unit
        assert row["note"] == "changed"
        engine.db.execute(f"INSERT INTO ticket_events ({store.EVENT_COLUMNS}) "
                          "VALUES (?, ?, ?, 'called', 0, NULL, NULL, NULL, '{}')",
                          [row["id"] + 1000, row["site_id"], row["service_id"]])
        pytest.fail("the database accepted an event of no ticket")
    assert engine.db.execute("SELECT note FROM tickets WHERE id = ?", [ticket["id"]]).fetchone()[0] == ""
    with immediate(engine.db):
        engine.db.execute("UPDATE tickets SET note = 'kept' WHERE id = ?", [ticket["id"]])
    assert engine.db.execute("SELECT note FROM tickets WHERE id = ?", [ticket["id"]]).fetchone()[0] == "kept"


def test_a_unit_of_one_step_commits_it_with_its_event_or_nothing(engine):
    # A desk's step is one statement sent without waiting (on PostgreSQL it travels alone, as
    # its own transaction): done with its event, refused as a whole, or dropped unsent.
    from shared import store
    from shared.db import IntegrityError

    ticket = engine.issue("cam-centro", "A")
    events_of = lambda: [e["kind"] for e in store.ticket_events(engine.db, ticket["id"])]  # noqa: E731
    with pytest.raises(RuntimeError), immediate(engine.db):
        store.transition_logged(engine.db, ticket["id"], ("waiting",), {"status": "cancelled"},
                                kind="cancelled", at=engine.clock.now_ms(), user_id=None, device_id=None)
        raise RuntimeError("the unit failed before its commit")
    assert store.ticket_by_id(engine.db, ticket["id"])["status"] == "waiting"
    assert events_of() == ["issued"]

    row = store.ticket_by_id(engine.db, ticket["id"])
    with pytest.raises(IntegrityError), immediate(engine.db):
        store.insert_event(engine.db, dict(row, id=row["id"] + 1000), "called", 0)  # no such ticket
        on_commit(engine.db, lambda: pytest.fail("announced a step the database refused"))

    with immediate(engine.db):
        change = store.transition_logged(engine.db, ticket["id"], ("waiting",), {"status": "cancelled"},
                                         kind="cancelled", at=engine.clock.now_ms(), user_id=None,
                                         device_id=None)
    assert change.row()["status"] == "cancelled"
    assert events_of() == ["issued", "cancelled"]


def test_a_step_read_back_inside_its_unit_sees_itself_and_what_follows_it(engine):
    from shared import store

    ticket = engine.issue("cam-centro", "A")
    with immediate(engine.db):
        change = store.transition_logged(engine.db, ticket["id"], ("waiting",), {"status": "cancelled"},
                                         kind="cancelled", at=1, user_id=None, device_id=None)
        assert change.row()["status"] == "cancelled"  # its answer, read before the commit
        engine.db.execute("UPDATE tickets SET note = 'after' WHERE id = ?", [ticket["id"]])
        assert store.ticket_by_id(engine.db, ticket["id"])["note"] == "after"
    row = store.ticket_by_id(engine.db, ticket["id"])
    assert (row["status"], row["note"]) == ("cancelled", "after")


def test_work_after_commit_runs_once_in_order_after_the_outermost_commit(engine):
    done = []
    with immediate(engine.db):
        on_commit(engine.db, lambda: done.append("first"))
        with immediate(engine.db):
            on_commit(engine.db, lambda: done.append("nested"))
        assert done == []
    assert done == ["first", "nested"]
    on_commit(engine.db, lambda: done.append("no transaction: at once"))
    assert done[-1] == "no transaction: at once"


# --- everything else that announces goes through the same queue -----------------------------

@pytest.fixture
def heard(app, monkeypatch):
    """What the app's announcer sends, in order: (event, payload, room)."""
    from shared.events import ANNOUNCER, RecordingAnnouncer

    recorder = RecordingAnnouncer()
    monkeypatch.setitem(app.extensions, ANNOUNCER, recorder)
    return recorder.sent


def _kiosk_job(engine) -> tuple[dict, dict]:
    """Return a kiosk and a pending print job of a ticket it issued."""
    from shared import store
    from shared.printing import jobs
    from shared.printing.settings import printer_settings

    db, now = engine.db, engine.clock.now_ms()
    site = engine.site("cam-centro")
    with immediate(db):
        device = store.device_by_id(db, store.insert_device(db, site["id"], "kiosk", "Kiosco entrada",
                                                            None, {}, now))
    issued = engine.issue(site, "A")
    ticket = store.ticket_by_id(db, issued["id"])
    with immediate(db):
        job = jobs.create_job(db, ticket=ticket, device_id=device["id"], settings=printer_settings({}),
                              content={"code": ticket["code"]}, now_ms=now)
    return device, job


def test_a_print_outcome_is_told_once_its_unit_commits_and_never_when_it_rolls_back(app, engine, heard):
    from shared import store
    from shared.printing import jobs

    _device, job = _kiosk_job(engine)
    paper_out = jobs.failure("paper_out", "Sin papel", status="paper_out")
    with pytest.raises(RuntimeError), immediate(engine.db):
        jobs.record_outcome(app, engine.db, job, paper_out)
        assert heard == [], "told before the unit committed"
        raise RuntimeError("the unit failed after recording the outcome")
    assert heard == []
    assert store.print_job_by_id(engine.db, job["id"])["status"] == "pending"
    assert store.printer_state(engine.db, job["device_id"]) is None

    with immediate(engine.db):
        jobs.record_outcome(app, engine.db, job, paper_out)
        assert heard == []
    # The kiosk and the staff hear the result; one alert says why; the printer's new state follows.
    assert [(event, room.split(":")[0]) for event, _payload, room in heard] == [
        ("print_result", "device"), ("print_result", "staff"), ("alert", "staff"),
        ("printer_status", "staff")]


def test_a_printer_state_is_told_once_committed_with_its_one_alert(app, engine, heard):
    from shared import store
    from shared.printing import status

    device, _job = _kiosk_job(engine)
    with pytest.raises(RuntimeError), immediate(engine.db):
        status.note_reported(app, engine.db, device, "cover_open")
        assert heard == []
        raise RuntimeError("rolled back")
    assert heard == [] and store.printer_state(engine.db, device["id"]) is None
    status.note_reported(app, engine.db, device, "cover_open")
    status.note_reported(app, engine.db, device, "cover_open")  # no change: nothing more
    assert [(event, payload.get("kind")) for event, payload, _room in heard] == [
        ("printer_status", None), ("alert", "printer_problem")]


def test_a_revocation_that_rolls_back_leaves_the_kiosk_connected(app, api):
    from shared import devices
    from shared.db import get_db
    from shared.events import socketio

    token = api.device("kiosk")
    device_id = api.call(token, "GET", "/api/v1/me").get_json()["device"]
    kiosk = socketio.test_client(app, auth={"token": token})
    assert kiosk.is_connected()
    with app.app_context():
        db = get_db()
        with pytest.raises(RuntimeError), immediate(db):
            devices.revoke(db, device_id, app.extensions["turnos.clock"], None)
            raise RuntimeError("rolled back")
        assert kiosk.is_connected()
        devices.revoke(db, device_id, app.extensions["turnos.clock"], None)
    assert not kiosk.is_connected()


def test_rows_read_as_dicts_name_every_column_the_same_on_both_engines(engine):
    # Rows become dicts by zipping names and values on PostgreSQL; a name a query repeats
    # (a join's two ids) keeps its first column, as sqlite3.Row and the row's own lookup do.
    from shared import store

    ticket = engine.issue("cam-centro", "A")
    service_id = store.ticket_by_id(engine.db, ticket["id"])["service_id"]
    while ticket["id"] == service_id:  # the two ids must differ to tell which one was kept
        ticket = engine.issue("cam-centro", "A")
    row = store._one(engine.db, "SELECT t.*, s.code AS service_code FROM tickets t "
                                "JOIN services s ON s.id = t.service_id WHERE t.id = ?", [ticket["id"]])
    assert row["id"] == ticket["id"] and row["service_code"] == "A" and row["code"] == ticket["code"]
    both = store._one(engine.db, "SELECT t.id, s.id, s.code FROM tickets t "
                                 "JOIN services s ON s.id = t.service_id WHERE t.id = ?", [ticket["id"]])
    assert both == {"id": ticket["id"], "code": "A"}
