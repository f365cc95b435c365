"""A known day at CAM Centro, built through the queue engine with the frozen clock.

The day (Wednesday 25 November 2026, Bogotá) and what an evaluator computes
by hand from it (seconds):

==========  =======  ======  =========  =======  ======  ======  ===================================
ticket      service  issued  1st call   start    finish  desk    what happens
==========  =======  ======  =========  =======  ======  ======  ===================================
A-001       A        08:00   08:11:00   08:11:10 08:20:10  1     wait 660, walk 10, service 540
PA-002      A pref.  08:01   08:05:00   08:05:30 08:10:30  1     wait 240, walk 30, service 300
C-001       C        08:02   08:06:00   08:07:00 08:15:00  3     recalled 08:06:20; transferred to A
C-001 (A)   A        08:15   08:20:30   —        —         1     wait 330; recalled; no-show 08:22:30
A-003       A        08:03   08:23:00   08:23:20 08:30:20  1     wait 1200 (target 900), service 420
D-001       D        09:00   —          —        —         —     never called: abandoned at close-day
B-001       B        09:05   —          —        —         —     cancelled 09:10
E-001       E        23:40   23:50:00   23:55:00 00:10:00  5     wait 600 (= target), crosses midnight
==========  =======  ======  =========  =======  ======  ======  ===================================

Desks: ana holds desk 1 and beto desk 3 from 08:00 to 17:00 (beto pauses
08:30–08:45); carla holds desk 5 from 23:30 until close-day at 00:20.
Ratings: PA-002 5, A-001 4, E-001 3. A-003 is left unrated.
"""

import functools

import pytest

from tests.conftest import login
from tests.reports.known_day import DAY, NEXT, at


@pytest.fixture
def room(app, clock):
    """A queue engine on its own connection (no app context is held open during requests)."""
    from shared.db import connect
    from shared.events import RecordingAnnouncer
    from shared.queue import QueueEngine

    db = connect(app.config["DATABASE"])
    engine = QueueEngine(db, clock, RecordingAnnouncer())
    yield engine
    db.conn.close()


def user_id(engine, username: str) -> int:
    """Return a staff user's id."""
    from shared import store

    return store.find_user(engine.db, username)["id"]


@pytest.fixture
def known_day(room, clock):
    """Play the known day through the engine and return its tickets by name."""
    from shared import desks, store
    from shared.queue import Actor
    from status import ratings

    e = room
    site = e.site("cam-centro")
    desk1, desk3, desk5 = (e.desk(code, site) for code in ("1", "3", "5"))
    ana, beto, carla = (Actor(user_id=user_id(e, n)) for n in ("ana", "beto", "carla"))
    supervisor = Actor(user_id=user_id(e, "supervisor"))
    t = {}

    at(clock, "08:00:00")
    desks.open_session(e, desk1, ana.user_id)
    desks.open_session(e, desk3, beto.user_id)
    t["A1"] = e.issue("cam-centro", "A")
    at(clock, "08:01:00")
    t["PA2"] = e.issue("cam-centro", "A", "adulto_mayor")
    at(clock, "08:02:00")
    t["C1"] = e.issue("cam-centro", "C")
    at(clock, "08:03:00")
    t["A3"] = e.issue("cam-centro", "A")

    at(clock, "08:05:00")
    assert e.call_next(desk1, ana)["id"] == t["PA2"]["id"]
    at(clock, "08:05:30")
    e.start(t["PA2"]["id"], ana)
    at(clock, "08:06:00")
    assert e.call_next(desk3, beto)["id"] == t["C1"]["id"]
    at(clock, "08:06:20")
    e.recall(t["C1"]["id"], beto)
    at(clock, "08:07:00")
    e.start(t["C1"]["id"], beto)
    at(clock, "08:10:30")
    e.finish(t["PA2"]["id"], ana)
    at(clock, "08:11:00")
    assert e.call_next(desk1, ana)["id"] == t["A1"]["id"]
    at(clock, "08:11:10")
    e.start(t["A1"]["id"], ana)
    at(clock, "08:12:00")
    ratings.rate(e.db, store.ticket_by_id(e.db, t["PA2"]["id"]), 5, "Muy amable", "status", None,
                 clock.now_ms())
    at(clock, "08:15:00")
    t["C1b"] = e.transfer(t["C1"]["id"], "A", beto)
    at(clock, "08:16:00")
    assert e.call_next(desk3, beto) is None
    at(clock, "08:20:10")
    e.finish(t["A1"]["id"], ana)
    at(clock, "08:20:30")
    assert e.call_next(desk1, ana)["id"] == t["C1b"]["id"]
    at(clock, "08:21:00")
    ratings.rate(e.db, store.ticket_by_id(e.db, t["A1"]["id"]), 4, "", "survey", None, clock.now_ms())
    at(clock, "08:21:30")
    e.recall(t["C1b"]["id"], ana)
    at(clock, "08:22:30")
    e.no_show(t["C1b"]["id"], ana)
    at(clock, "08:23:00")
    assert e.call_next(desk1, ana)["id"] == t["A3"]["id"]
    at(clock, "08:23:20")
    e.start(t["A3"]["id"], ana)
    at(clock, "08:30:00")
    desks.pause(e, desk3, "break")
    at(clock, "08:30:20")
    e.finish(t["A3"]["id"], ana)
    at(clock, "08:45:00")
    desks.resume(e, desk3)

    at(clock, "09:00:00")
    t["D1"] = e.issue("cam-centro", "D")
    at(clock, "09:05:00")
    t["B1"] = e.issue("cam-centro", "B")
    at(clock, "09:10:00")
    e.cancel(t["B1"]["id"], supervisor, "duplicado")
    at(clock, "17:00:00")
    desks.close_session(e, desk1, ana.user_id)
    desks.close_session(e, desk3, beto.user_id)

    at(clock, "23:30:00")
    desks.open_session(e, desk5, carla.user_id)
    at(clock, "23:40:00")
    t["E1"] = e.issue("cam-centro", "E")
    at(clock, "23:50:00")
    assert e.call_next(desk5, carla)["id"] == t["E1"]["id"]
    at(clock, "23:55:00")
    e.start(t["E1"]["id"], carla)
    at(clock, "00:10:00", NEXT)
    e.finish(t["E1"]["id"], carla)
    at(clock, "00:12:00", NEXT)
    ratings.rate(e.db, store.ticket_by_id(e.db, t["E1"]["id"]), 3, "", "status", None, clock.now_ms())
    at(clock, "00:20:00", NEXT)
    summary = e.close_day(site, DAY)
    assert summary["abandoned"] == 1
    at(clock, "00:30:00", NEXT)
    return t


@pytest.fixture
def report(api):
    """Ask the summary API as the supervisor; return the JSON (asserting a 200)."""
    def ask(**params):
        query = "&".join(f"{k}={v}" for k, v in params.items())
        r = api.call("supervisor", "GET", f"/api/v1/reports/summary?{query}")
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    return ask


@pytest.fixture
def browser_login(app):
    """Log a test client in through the login form; return the client."""
    return functools.partial(login, app)
