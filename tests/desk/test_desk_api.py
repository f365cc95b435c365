"""The desk's API, as officials and supervisors use it through the day.

Demo CAM Centro: desks 1 and 2 serve A and B, desk 3 serves C and D, desk 5
serves E, F and A. Staff: ana, beto, carla (officials), supervisor, admin.
"""

import json

import pytest

D1 = "cam-centro:1"
D2 = "cam-centro:2"


def refused(r, status: int, error: str) -> None:
    """Assert a clear refusal: the status, the error code and a Spanish message."""
    assert r.status_code == status, r.get_json()
    body = r.get_json()
    assert body["error"] == error, body
    assert body["message"]


def ticket(api, ticket_id: int) -> dict:
    """Read a ticket as the supervisor."""
    return api.call("supervisor", "GET", f"/api/v1/tickets/{ticket_id}").get_json()


def desk(api, ident: str = D1) -> dict:
    """Read a desk's state as the supervisor."""
    return api.call("supervisor", "GET", f"/api/v1/desks/{ident}").get_json()


def line(api, who: str = "ana", ident: str = D1, **query) -> dict:
    """Read a desk's line."""
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    r = api.call(who, "GET", f"/api/v1/desks/{ident}/queue" + (f"?{qs}" if qs else ""))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


# --- taking and leaving a desk ------------------------------------------------------------

def test_one_official_holds_one_desk_and_a_desk_one_official(api):
    api.take_desk("ana", D1)
    refused(api.call("beto", "POST", f"/api/v1/desks/{D1}/session"), 409, "desk_taken")
    refused(api.call("ana", "POST", f"/api/v1/desks/{D2}/session"), 409, "user_has_desk")
    assert desk(api, D1)["holder"] == "ana"
    assert desk(api, D2)["holder"] is None


def test_the_desk_picker_lists_the_desks_and_remembers_the_last_one(api):
    before = api.call("ana", "GET", "/api/v1/me/desks").get_json()
    assert before["current"] is None and before["last"] is None
    centro = next(s for s in before["sites"] if s["code"] == "cam-centro")
    assert [d["code"] for d in centro["desks"]] == ["1", "2", "3", "4", "5", "6"]
    api.take_desk("beto", D2)
    api.take_desk("ana", "cam-centro:5")
    held = api.call("ana", "GET", "/api/v1/me/desks").get_json()
    assert held["current"]["code"] == "5" and held["current"]["holder"] == "ana"
    centro = next(s for s in held["sites"] if s["code"] == "cam-centro")
    by_code = {d["code"]: d for d in centro["desks"]}
    assert by_code["2"]["holder"] == "beto" and not by_code["2"]["mine"]
    assert by_code["5"]["mine"]
    assert api.call("ana", "DELETE", "/api/v1/desks/cam-centro:5/session").status_code == 204
    after = api.call("ana", "GET", "/api/v1/me/desks").get_json()
    assert after["current"] is None
    assert after["last"] == {"id": by_code["5"]["id"], "code": "5", "name": "Módulo 5",
                             "site": "cam-centro"}


def test_an_official_of_another_site_sees_only_the_desks_of_her_site(api, make_user):
    make_user("nora", "official", ["cam-norte"])
    sites = api.call("nora", "GET", "/api/v1/me/desks").get_json()["sites"]
    assert [s["code"] for s in sites] == ["cam-norte"]
    refused(api.call("nora", "POST", f"/api/v1/desks/{D1}/session"), 403, "wrong_site")
    refused(api.call("nora", "GET", f"/api/v1/desks/{D1}/queue"), 403, "wrong_site")


# --- calling and serving -------------------------------------------------------------------

def test_an_official_calls_recalls_starts_and_finishes_with_a_note(api, clock):
    issued = api.issue("A")
    api.take_desk("ana")
    clock.advance(60)
    called = api.next("ana").get_json()
    assert called["code"] == issued["code"] and called["status"] == "called"
    clock.advance(20)
    recalled = api.call("ana", "POST", f"/api/v1/tickets/{called['id']}/recall").get_json()
    assert recalled["recalls"] == 1
    started = api.call("ana", "POST", f"/api/v1/tickets/{called['id']}/start").get_json()
    assert started["status"] == "serving"
    clock.advance(300)
    r = api.call("ana", "POST", f"/api/v1/tickets/{called['id']}/finish",
                 {"outcome": "pending", "note": "Vuelve con el certificado"})
    assert r.status_code == 200
    assert r.get_json()["status"] == "finished" and r.get_json()["outcome"] == "pending"
    assert desk(api)["current"] is None


def test_each_ticket_action_is_refused_in_the_wrong_state_and_changes_nothing(api):
    t = api.issue("A")
    api.take_desk("ana")
    api.next("ana")
    path = f"/api/v1/tickets/{t['id']}"
    refused(api.call("ana", "POST", path + "/finish"), 409, "illegal_transition")
    api.call("ana", "POST", path + "/start")
    refused(api.call("ana", "POST", path + "/start"), 409, "illegal_transition")
    refused(api.call("ana", "POST", path + "/recall"), 409, "illegal_transition")
    refused(api.call("ana", "POST", path + "/no-show"), 409, "illegal_transition")
    refused(api.call("ana", "POST", path + "/finish", {"outcome": "happy"}), 400, "invalid_outcome")
    refused(api.call("ana", "POST", path + "/finish", {"note": "x" * 501}), 400, "too_long")
    refused(api.call("ana", "POST", path + "/transfer", {"service": "A"}), 400, "same_service")
    refused(api.call("ana", "POST", path + "/transfer", {"service": "Z"}), 404, "unknown_service")
    assert ticket(api, t["id"])["status"] == "serving"
    assert ticket(api, t["id"])["outcome"] is None


def test_an_official_cannot_call_while_holding_a_ticket(api):
    api.issue("A")
    second = api.issue("A")
    api.take_desk("ana")
    api.next("ana")
    refused(api.next("ana"), 409, "desk_busy")
    refused(api.call("ana", "POST", f"/api/v1/desks/{D1}/call", {"ticket": second["id"]}), 409,
            "desk_busy")
    assert ticket(api, second["id"])["status"] == "waiting"


def test_a_no_show_and_a_transfer_free_the_desk_and_the_transfer_keeps_its_note(api):
    first = api.issue("A")
    second = api.issue("B")
    api.take_desk("ana")
    api.next("ana")
    r = api.call("ana", "POST", f"/api/v1/tickets/{first['id']}/no-show")
    assert r.get_json()["status"] == "no_show"
    api.next("ana")
    r = api.call("ana", "POST", f"/api/v1/tickets/{second['id']}/transfer",
                 {"service": "E", "note": "Radicar el recurso"})
    assert r.status_code == 201
    segment = r.get_json()
    assert segment["code"] == second["code"] and segment["service"] == "E"
    assert desk(api)["current"] is None
    api.take_desk("beto", "cam-centro:6")
    seen = line(api, "beto", "cam-centro:6")["line"]
    assert [(t["code"], t["transferred"], t["note"]) for t in seen] == [
        (second["code"], True, "Radicar el recurso")]
    api.next("beto", "cam-centro:6")
    current = line(api, "beto", "cam-centro:6")["current"]
    assert current["note"] == "Radicar el recurso"
    assert current["from_service_name"] == "Industria y comercio"


# --- roles -----------------------------------------------------------------------------------

def test_an_official_cannot_operate_another_officials_desk(api):
    t = api.issue("A")
    api.take_desk("ana", D1)
    api.take_desk("beto", D2)
    refused(api.next("beto", D1), 403, "not_desk_holder")
    refused(api.call("beto", "POST", f"/api/v1/desks/{D1}/pause", {"reason": "break"}), 403,
            "not_desk_holder")
    refused(api.call("beto", "DELETE", f"/api/v1/desks/{D1}/session"), 403, "not_desk_holder")
    refused(api.call("beto", "POST", f"/api/v1/desks/{D1}/call", {"ticket": t["id"]}), 403,
            "not_desk_holder")
    api.next("ana", D1)
    for action in ("recall", "start", "no-show"):
        refused(api.call("beto", "POST", f"/api/v1/tickets/{t['id']}/{action}"), 403,
                "not_your_ticket")
    assert ticket(api, t["id"])["status"] == "called"
    assert desk(api, D1)["paused"] is False and desk(api, D1)["holder"] == "ana"


def test_a_supervisor_acts_for_any_desk_of_her_site(api, make_user):
    t = api.issue("A")
    api.take_desk("ana", D1)
    assert api.next("supervisor", D1).get_json()["desk"] == "1"
    api.call("supervisor", "POST", f"/api/v1/tickets/{t['id']}/start")
    api.call("supervisor", "POST", f"/api/v1/tickets/{t['id']}/finish", {"outcome": "resolved"})
    r = api.call("supervisor", "POST", f"/api/v1/desks/{D1}/pause", {"reason": "training"})
    assert r.status_code == 200 and r.get_json()["pause_reason"] == "training"
    assert api.call("supervisor", "POST", f"/api/v1/desks/{D1}/resume").get_json()["paused"] is False
    make_user("sonia", "supervisor", ["cam-norte"])
    refused(api.call("sonia", "POST", f"/api/v1/desks/{D1}/pause", {"reason": "break"}), 403,
            "not_desk_holder")
    assert desk(api, D1)["paused"] is False


def test_a_ticket_is_moved_only_by_its_desks_holder_or_a_manager_of_its_site(api, make_user):
    t = api.issue("A")
    api.take_desk("ana", D1)
    api.take_desk("beto", D2)
    api.next("ana", D1)
    make_user("sonia", "supervisor", ["cam-norte"])
    refused(api.next("sonia", D1), 403, "not_desk_holder")
    refused(api.next("beto", D1), 403, "not_desk_holder")
    for action in ("start", "no-show", "finish"):
        refused(api.call("sonia", "POST", f"/api/v1/tickets/{t['id']}/{action}"), 403, "wrong_site")
        refused(api.call("beto", "POST", f"/api/v1/tickets/{t['id']}/{action}"), 403,
                "not_your_ticket")
    assert ticket(api, t["id"])["status"] == "called"
    refused(api.call("ana", "POST", f"/api/v1/tickets/{t['id']}/finish"), 409, "illegal_transition")
    refused(api.call("beto", "POST", "/api/v1/tickets/999999/start"), 404, "unknown_ticket")
    assert api.call("ana", "POST", f"/api/v1/tickets/{t['id']}/start").get_json()["status"] == "serving"
    refused(api.call("ana", "POST", f"/api/v1/tickets/{t['id']}/no-show"), 409, "illegal_transition")
    api.call("ana", "DELETE", f"/api/v1/desks/{D1}/session")  # refused: a ticket in hand
    finished = api.call("supervisor", "POST", f"/api/v1/tickets/{t['id']}/finish",
                        {"outcome": "resolved"})
    assert finished.status_code == 200 and finished.get_json()["status"] == "finished"
    assert [e["kind"] for e in api.call("ana", "GET", f"/api/v1/tickets/{t['id']}/events")
            .get_json()["events"]][-3:] == ["called", "started", "finished"]


def test_devices_and_strangers_cannot_use_the_desk_endpoints(api):
    kiosk = api.device("kiosk")
    refused(api.call(kiosk, "GET", f"/api/v1/desks/{D1}/queue"), 403, "forbidden")
    refused(api.call(kiosk, "POST", f"/api/v1/desks/{D1}/pause", {"reason": "break"}), 403,
            "forbidden")
    refused(api.call(None, "GET", "/api/v1/me/today"), 401, "login_required")
    refused(api.call(None, "GET", "/api/v1/me/desks"), 401, "login_required")


# --- pauses ------------------------------------------------------------------------------------

def test_pause_and_resume_are_checked_against_the_desks_state(api):
    api.take_desk("ana")
    pause = f"/api/v1/desks/{D1}/pause"
    resume = f"/api/v1/desks/{D1}/resume"
    refused(api.call("ana", "POST", resume), 409, "not_paused")
    refused(api.call("ana", "POST", pause, {"reason": "siesta"}), 400, "invalid_reason")
    refused(api.call("ana", "POST", pause, {}), 400, "missing_field")
    refused(api.call("ana", "POST", pause, {"reason": "lunch", "minutes": 30}), 400, "unknown_field")
    assert desk(api)["paused"] is False
    r = api.call("ana", "POST", pause, {"reason": "lunch"})
    assert r.status_code == 200 and r.get_json()["paused"] and r.get_json()["pause_reason"] == "lunch"
    refused(api.call("ana", "POST", pause, {"reason": "break"}), 409, "already_paused")
    assert desk(api)["pause_reason"] == "lunch"
    assert api.call("ana", "POST", resume).get_json()["paused"] is False
    refused(api.call("supervisor", "POST", f"/api/v1/desks/{D2}/pause", {"reason": "break"}), 409,
            "no_session")


def test_an_official_cannot_pause_with_a_ticket_nor_call_while_paused(api):
    t = api.issue("A")
    other = api.issue("A", priority="gestante")
    api.take_desk("ana")
    called = api.next("ana").get_json()
    refused(api.call("ana", "POST", f"/api/v1/desks/{D1}/pause", {"reason": "break"}), 409,
            "desk_busy")
    refused(api.call("ana", "DELETE", f"/api/v1/desks/{D1}/session"), 409, "desk_busy")
    assert desk(api)["paused"] is False
    api.call("ana", "POST", f"/api/v1/tickets/{called['id']}/no-show")
    api.call("ana", "POST", f"/api/v1/desks/{D1}/pause", {"reason": "break"})
    refused(api.next("ana"), 409, "desk_paused")
    remaining = t if called["id"] == other["id"] else other
    refused(api.call("ana", "POST", f"/api/v1/desks/{D1}/call", {"ticket": remaining["id"]}), 409,
            "desk_paused")
    assert ticket(api, remaining["id"])["status"] == "waiting"


def test_sessions_and_pauses_are_recorded_with_their_times_and_reasons(api, db, clock):
    from shared import store

    start = clock.now_ms()
    api.take_desk("ana")
    clock.advance(hours=2)
    api.call("ana", "POST", f"/api/v1/desks/{D1}/pause", {"reason": "break"})
    clock.advance(minutes=15)
    api.call("ana", "POST", f"/api/v1/desks/{D1}/resume")
    clock.advance(hours=2)
    api.call("ana", "POST", f"/api/v1/desks/{D1}/pause", {"reason": "lunch"})
    clock.advance(hours=1)
    assert api.call("ana", "DELETE", f"/api/v1/desks/{D1}/session").status_code == 204
    sessions = db.execute("SELECT * FROM desk_sessions").fetchall()
    assert [(s["started_at"] - start, s["ended_at"] - start, s["end_reason"]) for s in sessions] == [
        (0, (5 * 60 + 15) * 60_000, "logout")]
    pauses = db.execute("SELECT * FROM desk_pauses ORDER BY id").fetchall()
    assert [(p["reason"], p["started_at"] - start, p["ended_at"] - start) for p in pauses] == [
        ("break", 2 * 3600_000, (2 * 60 + 15) * 60_000),
        ("lunch", (4 * 60 + 15) * 60_000, (5 * 60 + 15) * 60_000)]
    day = api.call("ana", "GET", "/api/v1/me/today").get_json()
    assert day["pause_seconds"] == 75 * 60
    assert day["pause_seconds_by_reason"] == {"break": 900, "lunch": 3600, "training": 0,
                                              "other": 0}
    assert day["session_seconds"] == (5 * 60 + 15) * 60
    assert store.open_session(db, store.find_desk(db, D1)["id"]) is None


# --- the day's time measures ---------------------------------------------------------------------

def test_wait_walk_and_service_times_come_from_the_events_to_the_millisecond(api, clock):
    api.take_desk("ana")
    first = api.issue("A")
    clock.advance(4 * 60 + 30.25)           # waits 4:30.25 before the first call
    api.next("ana")
    clock.advance(20)
    api.call("ana", "POST", f"/api/v1/tickets/{first['id']}/recall")
    clock.advance(25.5)                      # walks 45.5 s from the first call
    api.call("ana", "POST", f"/api/v1/tickets/{first['id']}/start")
    clock.advance(6 * 60 + 0.125)            # served 6:00.125
    api.call("ana", "POST", f"/api/v1/tickets/{first['id']}/finish", {"outcome": "resolved"})
    second = api.issue("B")
    clock.advance(90)
    api.next("ana")
    clock.advance(10)
    api.call("ana", "POST", f"/api/v1/tickets/{second['id']}/start")
    clock.advance(4 * 60)
    api.call("ana", "POST", f"/api/v1/tickets/{second['id']}/finish")
    third = api.issue("A")
    api.next("ana")
    clock.advance(120)
    api.call("ana", "POST", f"/api/v1/tickets/{third['id']}/no-show")

    day = api.call("ana", "GET", "/api/v1/me/today").get_json()
    assert (day["served"], day["no_show"], day["transferred"], day["called"]) == (2, 1, 0, 3)
    assert day["service_seconds_total"] == 360.125 + 240
    assert day["average_service_seconds"] == round((360.125 + 240) / 2, 3)
    by_code = {t["code"]: t for t in day["tickets"]}
    assert [t["code"] for t in day["tickets"]] == [third["code"], second["code"], first["code"]]
    assert (by_code[first["code"]]["wait_seconds"], by_code[first["code"]]["walk_seconds"],
            by_code[first["code"]]["service_seconds"]) == (270.25, 45.5, 360.125)
    assert by_code[first["code"]]["outcome"] == "resolved"
    assert (by_code[second["code"]]["wait_seconds"], by_code[second["code"]]["walk_seconds"],
            by_code[second["code"]]["service_seconds"]) == (90, 10, 240)
    assert by_code[third["code"]]["result"] == "no_show"
    assert by_code[third["code"]]["walk_seconds"] is None
    assert api.call("beto", "GET", "/api/v1/me/today").get_json()["served"] == 0


def test_the_day_counts_only_todays_work_at_the_asked_site(api, clock):
    api.take_desk("ana")
    t = api.issue("A")
    api.next("ana")
    api.call("ana", "POST", f"/api/v1/tickets/{t['id']}/start")
    api.call("ana", "POST", f"/api/v1/tickets/{t['id']}/finish")
    assert api.call("ana", "GET", "/api/v1/me/today?site=cam-centro").get_json()["served"] == 1
    assert api.call("ana", "GET", "/api/v1/me/today?site=cam-norte").get_json()["served"] == 0
    refused(api.call("ana", "GET", "/api/v1/me/today?site=nowhere"), 404, "unknown_site")
    api.call("ana", "POST", f"/api/v1/desks/{D1}/pause", {"reason": "other"})
    clock.set("2026-11-26T08:00:00-05:00")
    api.tokens.clear()                          # yesterday's tokens expired
    day = api.call("ana", "GET", "/api/v1/me/today").get_json()
    assert (day["day"], day["served"]) == ("2026-11-26", 0)
    assert day["pause_seconds"] == 8 * 3600     # the pause left open overnight counts from midnight


# --- the desk's line ------------------------------------------------------------------------------

def test_the_line_shows_the_desks_services_with_counts_and_longest_wait(api, clock):
    api.issue("A")
    clock.advance(60)
    api.issue("A", priority="adulto_mayor")
    api.issue("B")
    api.issue("C")                          # desk 1 does not serve C
    clock.advance(30)
    view = line(api)
    assert [(s["code"], s["waiting_preferential"], s["waiting_general"], s["longest_wait_seconds"])
            for s in view["services"]] == [("A", 1, 1, 90.0), ("B", 0, 1, 30.0)]
    assert view["waiting_total"] == 3
    assert [t["code"] for t in view["line"]] == ["PA-002", "A-001", "B-001"]
    assert [t["position"] for t in view["line"]] == [1, 2, 3]
    assert view["line"][1]["waiting_seconds"] == 90.0
    assert view["current"] is None
    assert len(line(api, limit=2)["line"]) == 2
    refused(api.call("ana", "GET", f"/api/v1/desks/{D1}/queue?limit=0"), 400, "invalid_limit")
    refused(api.call("ana", "GET", f"/api/v1/desks/{D1}/queue?limit=abc"), 400, "invalid_limit")
    refused(api.call("ana", "GET", "/api/v1/desks/cam-centro:99/queue"), 404, "unknown_desk")


@pytest.mark.parametrize("policy,params", [("strict", {}), ("ratio", {"n": 2}),
                                           ("aging", {"preferential_weight": 3, "grace_seconds": 60})])
def test_the_line_predicts_the_order_the_desk_will_call(api, db, clock, policy, params):
    from shared import store

    site = store.find_site(db, "cam-centro")
    db.execute("UPDATE sites SET policy = ?, policy_params = ? WHERE id = ?",
               [policy, json.dumps(params), site["id"]])
    mix = [("A", None), ("B", None), ("A", "gestante"), ("A", None), ("B", "discapacidad"),
           ("A", "adulto_mayor"), ("B", None), ("A", "infancia"), ("A", None)]
    for service, pri in mix:
        api.issue(service, priority=pri)
        clock.advance(40)
    api.take_desk("ana")
    predicted = [t["code"] for t in line(api, limit=50)["line"]]
    assert len(predicted) == len(mix)
    actual = []
    while (r := api.next("ana")).status_code == 200:
        t = r.get_json()
        actual.append(t["code"])
        api.call("ana", "POST", f"/api/v1/tickets/{t['id']}/no-show")
    assert actual == predicted


# --- calling a chosen ticket ----------------------------------------------------------------------

def test_an_official_may_call_a_preferential_ticket_out_of_order_and_it_is_audited(api, db):
    from shared import store

    api.issue("A")
    api.issue("A")
    late = api.issue("B", priority="gestante")
    api.take_desk("ana")
    view = line(api)
    assert [t["code"] for t in view["line"]] == [late["code"], "A-001", "A-002"]
    r = api.call("ana", "POST", f"/api/v1/desks/{D1}/call", {"ticket": late["id"]})
    assert r.status_code == 200 and r.get_json()["desk"] == "1"
    entry = store.audit_entries(db)[0]
    assert (entry["action"], entry["username"], entry["target"]) == (
        "ticket.call_chosen", "ana", f"ticket:{late['id']}")
    assert json.loads(entry["detail"])["passed_over"] == 0
    events = api.call("ana", "GET", f"/api/v1/tickets/{late['id']}/events").get_json()["events"]
    assert events[-1]["kind"] == "called" and events[-1]["data"]["rule"] == "chosen"


def test_an_official_may_not_pass_over_the_line_with_a_general_ticket(api, db):
    from shared import store

    first = api.issue("A")
    second = api.issue("A")
    api.take_desk("ana")
    view = line(api)
    assert [t["may_call"] for t in view["line"]] == [True, False]
    refused(api.call("ana", "POST", f"/api/v1/desks/{D1}/call", {"ticket": second["id"]}), 403,
            "chosen_call_not_allowed")
    assert ticket(api, second["id"])["status"] == "waiting"
    assert store.audit_entries(db) == []
    assert api.call("ana", "POST", f"/api/v1/desks/{D1}/call",
                    {"ticket": first["id"]}).status_code == 200


def test_a_supervisor_may_call_any_ticket_and_the_audit_says_how_many_it_passed(api, db):
    from shared import store

    api.issue("A")
    api.issue("A")
    third = api.issue("B")
    api.take_desk("ana")
    assert all(t["may_call"] for t in line(api, "supervisor")["line"])
    r = api.call("supervisor", "POST", f"/api/v1/desks/{D1}/call", {"ticket": third["id"]})
    assert r.status_code == 200
    detail = json.loads(store.audit_entries(db)[0]["detail"])
    assert (detail["passed_over"], detail["role"], detail["desk"]) == (2, "supervisor", "1")


def test_an_official_calls_only_tickets_of_the_services_her_desk_serves(api):
    other = api.issue("C", priority="gestante")
    api.take_desk("ana")
    refused(api.call("ana", "POST", f"/api/v1/desks/{D1}/call", {"ticket": other["id"]}), 403,
            "service_not_served")
    refused(api.call("ana", "POST", f"/api/v1/desks/{D1}/call", {"ticket": 9999}), 404,
            "unknown_ticket")
    refused(api.call("ana", "POST", f"/api/v1/desks/{D1}/call", {"ticket": "1"}), 400,
            "invalid_type")
    assert ticket(api, other["id"])["status"] == "waiting"


def test_an_admin_sets_which_tickets_officials_may_call_out_of_order(api, db):
    from shared import store

    api.issue("A")
    general = api.issue("A")
    pref = api.issue("B", priority="veterano")
    api.take_desk("ana")
    assert api.call("ana", "GET", "/api/v1/desk-settings").get_json()["chosen_call"] == "preferential"
    refused(api.call("supervisor", "PUT", "/api/v1/desk-settings", {"chosen_call": "any"}), 403,
            "forbidden")
    refused(api.call("admin", "PUT", "/api/v1/desk-settings", {"chosen_call": "all"}), 400,
            "invalid_rule")
    assert api.call("ana", "GET", "/api/v1/desk-settings").get_json()["chosen_call"] == "preferential"
    r = api.call("admin", "PUT", "/api/v1/desk-settings", {"chosen_call": "none"})
    assert r.get_json()["chosen_call"] == "none"
    assert store.audit_entries(db)[0]["action"] == "settings.desk_chosen_call"
    refused(api.call("ana", "POST", f"/api/v1/desks/{D1}/call", {"ticket": general["id"]}), 403,
            "chosen_call_not_allowed")
    api.call("admin", "PUT", "/api/v1/desk-settings", {"chosen_call": "any"})
    assert all(t["may_call"] for t in line(api)["line"])
    assert api.call("ana", "POST", f"/api/v1/desks/{D1}/call",
                    {"ticket": general["id"]}).status_code == 200
    assert ticket(api, pref["id"])["status"] == "waiting"


# --- marking a ticket preferential ----------------------------------------------------------------

def test_an_official_marks_a_general_ticket_preferential_and_it_moves_ahead(api, db):
    from shared import store

    api.issue("A")
    later = api.issue("A")
    api.take_desk("ana")
    r = api.call("ana", "POST", f"/api/v1/tickets/{later['id']}/priority",
                 {"priority": "gestante", "reason": "Lo pidió en la ventanilla"})
    assert r.status_code == 200
    body = r.get_json()
    assert (body["code"], body["priority"], body["priority_label"]) == (
        later["code"], "gestante", "Mujer gestante")
    assert [t["code"] for t in line(api)["line"]] == [later["code"], "A-001"]
    events = api.call("ana", "GET", f"/api/v1/tickets/{later['id']}/events").get_json()["events"]
    marked = events[-1]
    assert marked["kind"] == "marked_preferential"
    assert marked["user_id"] == store.find_user(db, "ana")["id"]
    assert marked["data"] == {"priority": "gestante", "reason": "Lo pidió en la ventanilla"}
    entry = store.audit_entries(db)[0]
    assert (entry["action"], entry["username"]) == ("ticket.mark_preferential", "ana")
    assert json.loads(entry["detail"])["reason"] == "Lo pidió en la ventanilla"
    assert api.next("ana").get_json()["code"] == later["code"]


def test_marking_preferential_refuses_bad_requests_and_changes_nothing(api, db):
    general = api.issue("A")
    pref = api.issue("A", priority="adulto_mayor")
    path = f"/api/v1/tickets/{general['id']}/priority"
    good = {"priority": "gestante", "reason": "Embarazo visible"}
    refused(api.call("ana", "POST", path, good), 403, "no_desk")
    api.take_desk("ana")
    refused(api.call("ana", "POST", path, {"priority": "gestante"}), 400, "missing_field")
    refused(api.call("ana", "POST", path, {"priority": "gestante", "reason": "  "}), 400,
            "invalid_reason")
    refused(api.call("ana", "POST", path, {"priority": "vip", "reason": "x"}), 404,
            "unknown_priority")
    refused(api.call("ana", "POST", f"/api/v1/tickets/{pref['id']}/priority", good), 409,
            "already_preferential")
    refused(api.call(api.device("kiosk"), "POST", path, good), 403, "forbidden")
    assert ticket(api, general["id"])["priority"] is None
    api.next("ana")        # the preferential ticket is called first
    api.next("supervisor", D2)
    refused(api.call("ana", "POST", path, good), 409, "illegal_transition")
    assert ticket(api, general["id"])["priority"] is None
    assert db.execute("SELECT count(*) FROM ticket_events WHERE kind = 'marked_preferential'"
                      ).fetchone()[0] == 0


def test_marking_preferential_announces_the_new_counts(engine):
    from shared.queue import Actor

    t = engine.issue("cam-centro", "A")
    engine.announce.sent.clear()
    engine.mark_preferential(t["id"], "discapacidad", Actor(user_id=None), "Silla de ruedas")
    names = [name for name, _, _ in engine.announce.sent]
    assert "queue_changed" in names and "ticket_status" in names
    counts = next(p for name, p, _ in engine.announce.sent if name == "queue_changed")["services"]
    a = next(s for s in counts if s["code"] == "A")
    assert (a["waiting_general"], a["waiting_preferential"]) == (0, 1)


# --- the page and the document ---------------------------------------------------------------------

def test_the_desk_page_asks_for_login_and_serves_staff(client, browser_login):
    r = client.get("/desk/")
    assert r.status_code == 302 and "/login?next=/desk/" in r.headers["Location"]
    session, csrf = browser_login("ana")
    page = session.get("/desk/").get_data(as_text=True)
    assert "Llamar siguiente" in page and "<kbd class=\"shortcut\">L</kbd>" in page
    assert "<script>" not in page and "style=" not in page
    r = session.post(f"/api/v1/desks/{D1}/session", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    r = session.post(f"/api/v1/desks/{D1}/pause", json={"reason": "break"})
    refused(r, 403, "csrf_failed")


def test_the_openapi_document_describes_the_desk_endpoints(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path, method in [("/desks/{desk}/queue", "get"), ("/desks/{desk}/pause", "post"),
                         ("/desks/{desk}/resume", "post"), ("/desks/{desk}/call", "post"),
                         ("/tickets/{ticket_id}/priority", "post"), ("/me/today", "get"),
                         ("/me/desks", "get"), ("/desk-settings", "put")]:
        assert method in paths[path], path


def test_a_second_tab_follows_the_desk_it_holds_and_no_one_elses(app, api):
    from shared.events import socketio

    held = api.take_desk("ana", D1)
    api.take_desk("beto", D2)
    tab = socketio.test_client(app, auth={"token": api.token("ana")})
    other = socketio.test_client(app, auth={"token": api.token("beto")})
    try:
        assert tab.emit("join_desk", {"desk": held["id"]}, callback=True) == {"ok": True}
        assert other.emit("join_desk", {"desk": held["id"]}, callback=True) == {"error": "forbidden"}
        assert tab.emit("join_desk", {"desk": "nowhere"}, callback=True) == {"error": "unknown_desk"}
        tab.get_received()
        api.issue("A")
        api.next("ana")
        calls = [m["args"][0] for m in tab.get_received() if m["name"] == "ticket_called"]
        assert calls and {c["desk"] for c in calls} == {"1"}
    finally:
        tab.disconnect()
        other.disconnect()
