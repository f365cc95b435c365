"""Fifty desks calling at once never get the same ticket, and no ticket is lost."""

import multiprocessing
import threading

import pytest

from shared import store
from shared.clock import FrozenClock
from shared.db import connect
from shared.queue import Actor, QueueEngine

TICKETS = 500
DESKS = 50


def prepare(app, clock, tickets=TICKETS, desks=DESKS) -> tuple[str, list[int], set[int]]:
    """Create ``desks`` desks serving A and B and ``tickets`` waiting tickets; return ids."""
    db = connect(app.config["DATABASE"])
    engine = QueueEngine(db, clock)
    site = engine.site("cam-centro")
    services = [engine.service(site, "A")["id"], engine.service(site, "B")["id"]]
    desk_ids = []
    for n in range(desks):
        desk_id = store.upsert_desk(db, site["id"], {"code": f"c{n}", "name": f"Módulo c{n}"})
        store.set_desk_services(db, desk_id, services if n % 2 else services[::-1])
        desk_ids.append(desk_id)
    ids = set()
    for n in range(tickets):
        priority = "gestante" if n % 7 == 0 else None
        ids.add(engine.issue("cam-centro", "A" if n % 3 else "B", priority)["id"])
    db.conn.close()
    return app.config["DATABASE"], desk_ids, ids


def drain(path: str, desk_ids: list[int], now_ms: int, start: threading.Barrier | None = None):
    """Call next at each desk in turn until nobody waits; return the ids called."""
    db = connect(path)
    engine = QueueEngine(db, FrozenClock(now_ms))
    desks = [store.desk_by_id(db, d) for d in desk_ids]
    called = []
    if start is not None:
        start.wait()
    idle = 0
    while idle < len(desks):
        idle = 0
        for desk in desks:
            ticket = engine.call_next(desk, Actor(user_id=None))
            if ticket is None:
                idle += 1
                continue
            called.append(ticket["id"])
            engine.no_show(ticket["id"], Actor())  # frees the desk for its next call
    db.conn.close()
    return called


def assert_each_ticket_called_once(app, called: list[int], issued: set[int]) -> None:
    """Check there are no duplicates, nothing is lost and the database agrees."""
    assert len(called) == len(set(called)), "a ticket was called twice"
    assert set(called) == issued, "a ticket was lost"
    db = connect(app.config["DATABASE"])
    calls = db.execute("SELECT count(*), count(DISTINCT ticket_id) FROM ticket_events "
                       "WHERE kind = 'called'").fetchone()
    waiting = db.execute("SELECT count(*) FROM tickets WHERE status = 'waiting'").fetchone()[0]
    kept = db.execute("SELECT coalesce(sum(waiting), 0) FROM waiting_counts").fetchone()[0]
    db.conn.close()
    assert kept == 0, "the trigger-kept waiting counts drifted"
    assert tuple(calls) == (len(issued), len(issued))
    assert waiting == 0


def test_fifty_desks_calling_at_once_in_threads_never_share_a_ticket(app, clock):
    path, desk_ids, issued = prepare(app, clock)
    start = threading.Barrier(DESKS)
    results: list[list[int]] = [[] for _ in range(DESKS)]
    errors = []

    def work(i):
        try:
            results[i] = drain(path, [desk_ids[i]], clock.now_ms(), start)
        except Exception as exc:  # reported below: a thread must not fail silently
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(DESKS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    called = [tid for r in results for tid in r]
    assert_each_ticket_called_once(app, called, issued)
    assert sum(1 for r in results if r) >= 5, "the desks did not really call at the same time"


def _process_worker(args):
    """Drain the queue from a separate process (module level so it can be spawned)."""
    path, desk_ids, now_ms, start = args
    return drain(path, desk_ids, now_ms, start)


@pytest.mark.slow
def test_several_processes_on_one_database_file_never_share_a_ticket(app, clock):
    path, desk_ids, issued = prepare(app, clock)
    processes = 4
    chunks = [desk_ids[i::processes] for i in range(processes)]
    ctx = multiprocessing.get_context("spawn")
    # All start calling together: on a loaded machine a process that starts late would
    # otherwise find the queue drained by the others.
    with ctx.Manager() as manager, ctx.Pool(processes) as pool:
        start = manager.Barrier(processes, timeout=120)
        results = pool.map(_process_worker, [(path, chunk, clock.now_ms(), start) for chunk in chunks],
                           chunksize=1)
    called = [tid for r in results for tid in r]
    assert_each_ticket_called_once(app, called, issued)
    assert all(results), "every process should have called some tickets"
