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
    with pytest.raises(RuntimeError):
        with immediate(engine.db):
            engine.issue("cam-centro", "A")
            raise RuntimeError("the print job could not be recorded")
    assert engine.announce.sent == []
    assert engine.db.execute("SELECT count(*) FROM tickets").fetchone()[0] == 0


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
