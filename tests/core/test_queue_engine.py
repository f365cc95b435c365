"""Stories of the queue engine: ordering, numbering, days, transfers and refused transitions."""

import json

import pytest

from shared import store
from shared.errors import Closed, Conflict, IllegalTransition, Invalid, NotFound
from shared.queue import Actor

OFFICIAL = Actor(user_id=3)


def desk(engine, code="1", site="cam-centro"):
    """Return a demo desk."""
    return engine.desk(code, engine.site(site))


def events_of(engine, ticket_id):
    """Return the kinds of a ticket's events."""
    return [e["kind"] for e in store.ticket_events(engine.db, ticket_id)]


def set_policy(engine, policy, params):
    """Change a site's priority policy."""
    engine.db.execute("UPDATE sites SET policy = ?, policy_params = ? WHERE code = 'cam-centro'",
                      [policy, json.dumps(params)])


# --- ordering ------------------------------------------------------------------

def test_a_pregnant_womans_ticket_is_called_before_an_earlier_general_ticket(engine, clock):
    general = engine.issue("cam-centro", "A")
    clock.advance(60)
    pregnant = engine.issue("cam-centro", "A", "gestante")
    called = engine.call_next(desk(engine), OFFICIAL)
    assert called["id"] == pregnant["id"]
    assert pregnant["code"] == "PA-002" and general["code"] == "A-001"


def test_within_each_group_the_first_to_arrive_is_called_first(engine, clock):
    codes = []
    for priority in (None, "adulto_mayor", None, "discapacidad"):
        codes.append(engine.issue("cam-centro", "A", priority)["code"])
        clock.advance(30)
    order = []
    for _ in range(4):
        t = engine.call_next(desk(engine), OFFICIAL)
        order.append(t["code"])
        engine.no_show(t["id"], OFFICIAL)
    assert order == ["PA-002", "PA-004", "A-001", "A-003"]


def test_a_desk_serves_its_services_in_its_own_order(engine, clock):
    # Desk 5 serves E, then F, then A: an earlier A ticket waits behind a later E ticket.
    engine.issue("cam-centro", "A")
    clock.advance(60)
    later_e = engine.issue("cam-centro", "E")
    assert engine.call_next(desk(engine, "5"), OFFICIAL)["id"] == later_e["id"]


def test_a_desk_only_calls_the_services_it_serves(engine):
    engine.issue("cam-centro", "C")
    assert engine.call_next(desk(engine, "1"), OFFICIAL) is None
    assert engine.call_next(desk(engine, "3"), OFFICIAL)["service_id"] is not None


def test_under_the_ratio_rule_a_general_ticket_is_called_after_n_preferential_ones(engine, clock):
    set_policy(engine, "ratio", {"n": 2})
    engine.issue("cam-centro", "A")
    for _ in range(4):
        clock.advance(10)
        engine.issue("cam-centro", "A", "gestante")
    order = []
    for _ in range(5):
        t = engine.call_next(desk(engine), OFFICIAL)
        order.append("P" if t["priority"] else "G")
        engine.no_show(t["id"], OFFICIAL)
    assert order == ["P", "P", "G", "P", "P"]


def test_each_call_records_the_rule_and_its_state(engine, clock):
    set_policy(engine, "ratio", {"n": 2})
    engine.issue("cam-centro", "A", "gestante")
    t = engine.call_next(desk(engine), OFFICIAL)
    event = [e for e in store.ticket_events(engine.db, t["id"]) if e["kind"] == "called"][0]
    data = json.loads(event["data"])
    assert data["rule"] == "ratio"
    assert data["params"] == {"n": 2}
    assert data["state"] == {}
    assert data["chosen"] == "preferential"
    assert store.policy_state(engine.db, t["site_id"]) == {"preferential_streak": 1}


def test_under_the_aging_rule_a_long_wait_passes_a_new_preferential_ticket(engine, clock):
    set_policy(engine, "aging", {"preferential_weight": 3, "grace_seconds": 60})
    long_wait = engine.issue("cam-centro", "A")
    clock.advance(minutes=20)
    engine.issue("cam-centro", "A", "adulto_mayor")
    # General: 20 min + 60 s = 1260; preferential: 3 x (0 + 60) = 180.
    assert engine.call_next(desk(engine), OFFICIAL)["id"] == long_wait["id"]


def test_under_the_aging_rule_a_new_preferential_ticket_passes_a_short_wait(engine, clock):
    set_policy(engine, "aging", {"preferential_weight": 3, "grace_seconds": 60})
    engine.issue("cam-centro", "A")
    clock.advance(90)
    pref = engine.issue("cam-centro", "A", "adulto_mayor")
    # General: 90 + 60 = 150; preferential: 3 x 60 = 180.
    called = engine.call_next(desk(engine), OFFICIAL)
    assert called["id"] == pref["id"]
    event = [e for e in store.ticket_events(engine.db, called["id"]) if e["kind"] == "called"][0]
    assert json.loads(event["data"])["rule"] == "aging"


def test_an_unknown_policy_is_refused_with_a_clear_message():
    from shared import priority

    with pytest.raises(Invalid) as exc:
        priority.validate("lottery", {})
    assert "lottery" in str(exc.value)
    with pytest.raises(Invalid):
        priority.validate("ratio", {"n": 0})
    with pytest.raises(Invalid):
        priority.validate("ratio", {"weight": 2})


# --- numbering and days ---------------------------------------------------------

def test_numbering_restarts_on_a_new_local_day_without_a_restart(engine, clock):
    clock.set("2026-11-25T23:50:00-05:00")
    assert engine.issue("cam-centro", "A")["code"] == "A-001"
    assert engine.issue("cam-centro", "A")["code"] == "A-002"
    clock.set("2026-11-26T00:05:00-05:00")
    t = engine.issue("cam-centro", "A")
    assert t["code"] == "A-001"
    assert t["day"] == "2026-11-26"


def test_the_day_is_the_sites_local_day_not_utc(engine, clock):
    # 21:00 in Bogotá is 02:00 UTC the next day: still the same local day.
    clock.set("2026-11-25T08:00:00-05:00")
    engine.issue("cam-centro", "A")
    clock.set("2026-11-26T02:00:00+00:00")
    t = engine.issue("cam-centro", "A")
    assert t["day"] == "2026-11-25" and t["code"] == "A-002"
    assert t["issued_at"] == "2026-11-25T21:00:00.000-05:00"


def test_each_service_has_its_own_numbers(engine):
    assert engine.issue("cam-centro", "A")["code"] == "A-001"
    assert engine.issue("cam-centro", "B")["code"] == "B-001"
    assert engine.issue("cam-centro", "A", "gestante")["code"] == "PA-002"


def test_yesterdays_waiting_tickets_are_not_called_today_and_close_day_abandons_them(engine, clock):
    old = engine.issue("cam-centro", "A")
    clock.advance(days=1)
    assert engine.call_next(desk(engine), OFFICIAL) is None
    summary = engine.close_day(engine.site("cam-centro"), "2026-11-25")
    assert summary["abandoned"] == 1
    assert store.ticket_by_id(engine.db, old["id"])["status"] == "abandoned"
    assert events_of(engine, old["id"]) == ["issued", "abandoned"]


def test_close_day_closes_what_is_open_and_flags_it_automatic(engine, clock):
    waiting = engine.issue("cam-centro", "A")
    called = engine.issue("cam-centro", "B")
    serving = engine.issue("cam-centro", "C")
    engine.call_ticket(called["id"], desk(engine, "1"), OFFICIAL)
    engine.call_ticket(serving["id"], desk(engine, "3"), OFFICIAL)
    engine.start(serving["id"], OFFICIAL)
    summary = engine.close_day(engine.site("cam-centro"))
    assert (summary["abandoned"], summary["no_show"], summary["finished"]) == (1, 1, 1)
    statuses = {t: store.ticket_by_id(engine.db, t)["status"]
                for t in (waiting["id"], called["id"], serving["id"])}
    assert statuses == {waiting["id"]: "abandoned", called["id"]: "no_show",
                        serving["id"]: "finished"}
    last = store.ticket_events(engine.db, serving["id"])[-1]
    assert json.loads(last["data"])["automatic"] is True


def test_events_carry_millisecond_utc_timestamps_desk_and_user(engine, clock):
    clock.set("2026-11-25T08:00:00.123-05:00")
    t = engine.issue("cam-centro", "A")
    clock.advance(1.5)
    engine.call_next(desk(engine), OFFICIAL)
    issued, called = store.ticket_events(engine.db, t["id"])
    assert issued["at"] == 1795611600123  # 2026-11-25T13:00:00.123Z
    assert called["at"] == 1795611601623
    assert called["desk_id"] == desk(engine)["id"] and called["user_id"] == OFFICIAL.user_id


def test_the_event_log_is_append_only(engine):
    t = engine.issue("cam-centro", "A")
    from shared.db import IntegrityError

    with pytest.raises(IntegrityError, match="append-only"):
        engine.db.execute("UPDATE ticket_events SET at = 0 WHERE ticket_id = ?", [t["id"]])


# --- transitions ---------------------------------------------------------------

def test_a_full_visit_goes_through_every_step(engine, clock):
    t = engine.issue("cam-centro", "A")
    clock.advance(300)
    engine.call_next(desk(engine), OFFICIAL)
    clock.advance(10)
    engine.recall(t["id"], OFFICIAL)
    clock.advance(20)
    engine.start(t["id"], OFFICIAL)
    clock.advance(240)
    done = engine.finish(t["id"], OFFICIAL, "resolved", "Paz y salvo entregado")
    assert done["status"] == "finished" and done["outcome"] == "resolved"
    assert done["called_at"] - done["issued_at"] == 300_000
    assert done["started_at"] - done["called_at"] == 30_000
    assert done["finished_at"] - done["started_at"] == 240_000
    assert done["recalls"] == 1
    assert events_of(engine, t["id"]) == ["issued", "called", "recalled", "started", "finished"]


ILLEGAL = [
    ("finish a ticket never started", lambda e, t: e.finish(t["id"], OFFICIAL)),
    ("start a waiting ticket", lambda e, t: e.start(t["id"], OFFICIAL)),
    ("recall a waiting ticket", lambda e, t: e.recall(t["id"], OFFICIAL)),
    ("mark a waiting ticket as no-show", lambda e, t: e.no_show(t["id"], OFFICIAL)),
]


@pytest.mark.parametrize("story,action", ILLEGAL, ids=[s for s, _ in ILLEGAL])
def test_illegal_transitions_on_a_waiting_ticket_are_refused_and_change_nothing(engine, story, action):
    t = engine.issue("cam-centro", "A")
    before = store.ticket_by_id(engine.db, t["id"])
    with pytest.raises(IllegalTransition) as exc:
        action(engine, t)
    assert "A-001" in str(exc.value) and "en espera" in str(exc.value)
    assert store.ticket_by_id(engine.db, t["id"]) == before
    assert events_of(engine, t["id"]) == ["issued"]


def test_a_finished_ticket_cannot_be_called_recalled_transferred_or_cancelled(engine):
    t = engine.issue("cam-centro", "A")
    engine.call_next(desk(engine), OFFICIAL)
    engine.start(t["id"], OFFICIAL)
    engine.finish(t["id"], OFFICIAL)
    before = store.ticket_by_id(engine.db, t["id"])
    for action in (lambda: engine.call_ticket(t["id"], desk(engine, "2"), OFFICIAL),
                   lambda: engine.recall(t["id"], OFFICIAL),
                   lambda: engine.start(t["id"], OFFICIAL),
                   lambda: engine.no_show(t["id"], OFFICIAL),
                   lambda: engine.transfer(t["id"], "B", OFFICIAL),
                   lambda: engine.cancel(t["id"], OFFICIAL)):
        with pytest.raises(IllegalTransition, match="atendido"):
            action()
    assert store.ticket_by_id(engine.db, t["id"]) == before
    assert len(events_of(engine, t["id"])) == 4


def test_a_desk_holding_a_ticket_cannot_call_another(engine):
    first = engine.issue("cam-centro", "A")
    second = engine.issue("cam-centro", "A")
    engine.call_next(desk(engine), OFFICIAL)
    engine.start(first["id"], OFFICIAL)
    with pytest.raises(Conflict) as exc:
        engine.call_next(desk(engine), OFFICIAL)
    assert exc.value.code == "desk_busy" and "A-001" in str(exc.value)
    with pytest.raises(Conflict):
        engine.call_ticket(second["id"], desk(engine), OFFICIAL)
    assert store.ticket_by_id(engine.db, second["id"])["status"] == "waiting"


def test_a_paused_desk_calls_nobody_whoever_asks_the_engine(engine):
    from shared import desks

    waiting = engine.issue("cam-centro", "A")
    d = desk(engine)
    desks.open_session(engine, d, OFFICIAL.user_id)
    desks.pause(engine, d, "lunch")
    with pytest.raises(Conflict) as exc:
        engine.call_next(d, OFFICIAL)
    assert exc.value.code == "desk_paused" and "pausa" in str(exc.value)
    assert store.ticket_by_id(engine.db, waiting["id"])["status"] == "waiting"
    desks.resume(engine, d)
    assert engine.call_next(d, OFFICIAL)["id"] == waiting["id"]


def test_unknown_tickets_services_sites_and_categories_are_named_in_the_error(engine):
    with pytest.raises(NotFound, match="9999"):
        engine.ticket(9999)
    with pytest.raises(NotFound, match="cam-sur"):
        engine.issue("cam-sur", "A")
    with pytest.raises(NotFound, match="Z"):
        engine.issue("cam-centro", "Z")
    with pytest.raises(NotFound, match="diagnostico"):
        engine.issue("cam-centro", "A", "diagnostico")
    assert engine.db.execute("SELECT count(*) FROM tickets").fetchone()[0] == 0


def test_an_inactive_service_issues_nothing(engine):
    engine.db.execute("UPDATE services SET active = ? WHERE code = 'F'", [False])
    with pytest.raises(Closed):
        engine.issue("cam-centro", "F")
    assert engine.db.execute("SELECT count(*) FROM tickets").fetchone()[0] == 0


def test_a_service_outside_its_hours_says_so(engine, clock):
    engine.db.execute("""UPDATE services SET opening_hours = '{"wed": [["07:00", "12:00"]]}'
                         WHERE code = 'F'""")
    assert engine.issue("cam-centro", "F")["code"] == "F-001"  # Wednesday 08:00
    clock.set("2026-11-25T12:30:00-05:00")
    with pytest.raises(Closed, match="no está disponible"):
        engine.issue("cam-centro", "F")


def test_a_daily_cap_stops_issuing_and_does_not_burn_numbers(engine):
    engine.db.execute("UPDATE services SET daily_cap = 2 WHERE code = 'B'")
    engine.issue("cam-centro", "B")
    engine.issue("cam-centro", "B")
    with pytest.raises(Closed) as exc:
        engine.issue("cam-centro", "B")
    assert exc.value.code == "daily_cap_reached"
    assert engine.db.execute("SELECT last_number FROM day_counters").fetchone()[0] == 2


# --- transfers -------------------------------------------------------------------

def test_a_transfer_closes_the_segment_and_opens_a_linked_one_that_keeps_its_place(engine, clock):
    served = engine.issue("cam-centro", "A")
    clock.advance(60)
    engine.issue("cam-centro", "C")               # arrived after the citizen
    engine.call_next(desk(engine), OFFICIAL)
    engine.start(served["id"], OFFICIAL)
    clock.advance(120)
    segment = engine.transfer(served["id"], "C", OFFICIAL, "Requiere certificado SISBÉN")
    first = store.ticket_by_id(engine.db, served["id"])
    assert first["status"] == "transferred" and first["finished_at"] == first["closed_at"]
    assert segment["previous_id"] == served["id"] and segment["origin_id"] == served["id"]
    assert segment["code"] == "A-001" and segment["status"] == "waiting"
    assert segment["visit_id"] == first["visit_id"]
    assert segment["issued_at"] == first["closed_at"]
    # Keeps its place: called before the C ticket that arrived later.
    assert engine.call_next(desk(engine, "3"), OFFICIAL)["id"] == segment["id"]
    data = json.loads(store.ticket_events(engine.db, served["id"])[-1]["data"])
    assert data == {"to_ticket": segment["id"], "to_service": "C",
                    "note": "Requiere certificado SISBÉN"}


def test_a_transfer_to_the_same_service_is_refused(engine):
    t = engine.issue("cam-centro", "A")
    with pytest.raises(Invalid, match="ya está"):
        engine.transfer(t["id"], "A", OFFICIAL)
    assert store.ticket_by_id(engine.db, t["id"])["status"] == "waiting"


def test_every_change_is_announced_after_its_commit(engine):
    t = engine.issue("cam-centro", "A")
    engine.call_next(desk(engine), OFFICIAL)
    sent = [(event, room) for event, _payload, room in engine.announce.sent]
    site_id = t and engine.site("cam-centro")["id"]
    assert ("ticket_issued", f"staff:{site_id}") in sent
    assert ("ticket_called", f"site:{site_id}") in sent
    assert ("queue_changed", f"site:{site_id}") in sent
    called = [p for e, p, r in engine.announce.sent if e == "ticket_called"][0]
    assert set(called) >= {"id", "code", "service", "preferential", "desk", "desk_name", "called_at",
                           "recall"}
    assert "priority" not in called and "priority_label" not in called
    assert called["desk_name"] == "Módulo 1" and called["recall"] is False


def test_waiting_counts_kept_by_triggers_match_a_full_count_through_every_change(engine, clock):
    site = engine.site("cam-centro")
    tickets = [engine.issue("cam-centro", s, p) for s, p in
               (("A", None), ("A", "gestante"), ("B", None), ("C", None), ("E", "veterano"))]
    engine.call_next(desk(engine), OFFICIAL)
    engine.transfer(tickets[2]["id"], "C", OFFICIAL)
    engine.cancel(tickets[3]["id"], OFFICIAL)
    day = engine.today(site)
    kept = {k: {"general": v["general"], "preferential": v["preferential"]}
            for k, v in store.waiting_counts(engine.db, site["id"], day).items()}
    assert kept == store.count_waiting_slowly(engine.db, site["id"], day)
    by_code = {r["code"]: r for r in engine.waiting_summary(site)}
    assert (by_code["A"]["waiting_general"], by_code["A"]["waiting_preferential"]) == (1, 0)
    assert (by_code["C"]["waiting"], by_code["E"]["waiting_preferential"]) == (1, 1)
    engine.close_day(site)
    assert store.waiting_counts(engine.db, site["id"], day) == {}


@pytest.fixture
def replays(app, engine, clock, monkeypatch):
    """Cache estimates as production does, open desk 1, and record every replay of the room.

    Each replay is recorded as the number the ticket being issued will get in its service.
    """
    from shared import estimate

    app.config["ESTIMATE_CACHE_SECONDS"] = 60
    engine.db.execute("INSERT INTO desk_sessions (desk_id, user_id, started_at) VALUES (?, 3, ?)",
                      [desk(engine)["id"], clock.now_ms()])
    seen = []
    real = estimate.simulate

    def counting(*args, **kwargs):
        seen.append(store.count_waiting_slowly(engine.db, 1, "2026-11-25")
                    .get(args[3], {}).get("general", 0) + 1)
        return real(*args, **kwargs)

    monkeypatch.setattr(estimate, "simulate", counting)
    return seen


def test_in_a_rush_one_replay_of_the_room_serves_the_whole_line_until_a_desk_acts(engine, clock,
                                                                                   replays):
    first = engine.issue("cam-centro", "A")
    second = engine.issue("cam-centro", "A")
    third = engine.issue("cam-centro", "A")
    assert replays == [1]  # the burst shares one replay
    # Each later ticket waits one more person (6 minutes at the one open desk).
    assert second["estimated_wait_seconds"] - first["estimated_wait_seconds"] == 360
    assert third["estimated_wait_seconds"] - second["estimated_wait_seconds"] == 360
    engine.call_next(desk(engine), OFFICIAL)     # a desk acted: the room is replayed
    engine.issue("cam-centro", "A")
    assert replays == [1, 4 - 1]  # A-004, with A-001 called
    clock.advance(61)                             # and a replay is never older than a minute
    engine.issue("cam-centro", "A")
    assert replays == [1, 3, 4]


def test_a_citizen_sitting_down_at_the_desk_keeps_the_replay_finishing_does_not(engine, replays):
    # Starting service changes nothing an estimate reads (the desk holds the same ticket, called
    # at the same moment): the line's replay still serves. Finishing frees the desk: replayed.
    engine.issue("cam-centro", "A")
    engine.issue("cam-centro", "A")
    called = engine.call_next(desk(engine), OFFICIAL)
    before = engine.issue("cam-centro", "A")
    assert len(replays) == 2  # the call replayed the room once
    engine.start(called["id"], OFFICIAL)
    after_start = engine.issue("cam-centro", "A")
    assert len(replays) == 2
    assert after_start["ahead"] == before["ahead"] + 1
    engine.finish(called["id"], OFFICIAL)
    engine.issue("cam-centro", "A")
    assert len(replays) == 3
