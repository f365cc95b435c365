"""Desk sessions: who holds a desk, and their pauses, recorded for occupancy."""

import json

from flask_babel import lazy_gettext as _l

from . import estimate, kpi, priority, store
from .auth import MANAGERS
from .db import IntegrityError, immediate
from .errors import Conflict, Forbidden, Invalid
from .present import ticket_json
from .timefmt import day_bounds_ms, iso, local_day

PAUSE_REASONS = ("break", "lunch", "training", "other")


def _payload(engine, desk: dict, state: str, **extra) -> dict:
    """Return the ``desk_changed`` payload."""
    site = engine.lookup.site(desk["site_id"])
    body = {"desk": desk["code"], "desk_id": desk["id"], "desk_name": desk["name"], "state": state,
            "at": iso(engine.clock.now_ms(), site["timezone"])}
    body.update(extra)
    return body


def open_session(engine, desk: dict, user_id: int) -> dict:
    """Make a user the holder of a desk; refuse if the desk or the user is taken."""
    db = engine.db
    if not desk["active"]:
        raise Conflict(_l("%(desk)s está inactivo.", desk=desk["name"]), code="desk_inactive")
    now = engine.clock.now_ms()
    with immediate(db):
        current = store.open_session(db, desk["id"])
        if current is not None and current["user_id"] == user_id:
            return current
        if current is not None:
            raise Conflict(_l("%(desk)s ya lo ocupa %(who)s.", desk=desk["name"],
                              who=current["display_name"] or current["username"]),
                           code="desk_taken")
        mine = store.session_of_user(db, user_id)
        if mine is not None:
            other = store.desk_by_id(db, mine["desk_id"])
            raise Conflict(_l("Usted ya ocupa %(desk)s: ciérrelo antes de tomar otro.",
                              desk=other["name"]), code="user_has_desk", desk=other["code"])
        try:
            session_row = store.start_session(db, desk["id"], user_id, now)
        except IntegrityError as exc:  # a concurrent request won the race
            raise Conflict(_l("El módulo acaba de ser ocupado por otra persona."),
                           code="desk_taken") from exc
    user = store.user_by_id(db, user_id)
    estimate.invalidate(desk["site_id"])
    engine.announce.desk_changed(desk["site_id"], desk["id"], _payload(
        engine, desk, "open", holder=user["username"], holder_name=user["display_name"]))
    return session_row


def desk_state(engine, desk: dict) -> dict:
    """Return a desk with its holder, pause and current ticket."""
    db = engine.db
    session_row = store.open_session(db, desk["id"])
    pause = store.open_pause(db, session_row["id"]) if session_row else None
    current = store.desk_open_ticket(db, desk["id"])
    site = engine.lookup.site(desk["site_id"])
    services = [engine.lookup.service(i)["code"] for i in store.desk_service_ids(db, desk["id"])]
    return {
        "id": desk["id"], "code": desk["code"], "name": desk["name"], "site": site["code"],
        "services": services,
        "holder": session_row["username"] if session_row else None,
        "holder_name": session_row["display_name"] if session_row else None,
        "session_started_at": iso(session_row["started_at"], site["timezone"]) if session_row else None,
        "paused": pause is not None, "pause_reason": pause["reason"] if pause else None,
        "paused_since": iso(pause["started_at"], site["timezone"]) if pause else None,
        "current": ticket_json(current, engine.lookup) if current else None,
    }


def _session_or_refuse(db, desk: dict) -> dict:
    """Return a desk's open session, or refuse: nobody holds the desk."""
    current = store.open_session(db, desk["id"])
    if current is None:
        raise Conflict(_l("%(desk)s no tiene una sesión abierta.", desk=desk["name"]),
                       code="no_session")
    return current


def close_session(engine, desk: dict, user_id: int | None, reason: str = "logout") -> None:
    """End the session of a desk; refuse while it still holds a ticket."""
    db = engine.db
    now = engine.clock.now_ms()
    with immediate(db):
        current = _session_or_refuse(db, desk)
        held = store.desk_open_ticket(db, desk["id"])
        if held is not None:
            raise Conflict(_l("El módulo tiene el turno %(code)s en curso: finalícelo o transfiéralo "
                              "antes de cerrar la sesión.", code=held["code"]), code="desk_busy")
        store.end_session(db, current["id"], now, reason)
    estimate.invalidate(desk["site_id"])
    engine.announce.desk_changed(desk["site_id"], desk["id"], _payload(engine, desk, "closed"))


def pause(engine, desk: dict, reason: str) -> dict:
    """Pause a desk (break, lunch, training, other); refuse while it holds a ticket."""
    if reason not in PAUSE_REASONS:
        raise Invalid(_l("Motivo de pausa no válido: use break, lunch, training u other."),
                      code="invalid_reason")
    db = engine.db
    now = engine.clock.now_ms()
    with immediate(db):
        current = _session_or_refuse(db, desk)
        if store.open_pause(db, current["id"]) is not None:
            raise Conflict(_l("El módulo ya está en pausa."), code="already_paused")
        held = store.desk_open_ticket(db, desk["id"])
        if held is not None:
            raise Conflict(_l("El módulo tiene el turno %(code)s en curso: finalícelo antes de la pausa.",
                              code=held["code"]), code="desk_busy")
        row = store.start_pause(db, current["id"], reason, now)
    estimate.invalidate(desk["site_id"])
    engine.announce.desk_changed(desk["site_id"], desk["id"],
                                 _payload(engine, desk, "paused", reason=reason))
    return row


def resume(engine, desk: dict) -> dict:
    """End a desk's pause."""
    db = engine.db
    now = engine.clock.now_ms()
    with immediate(db):
        current = store.open_session(db, desk["id"])
        ended = store.end_pause(db, current["id"], now) if current else None
        if ended is None:
            raise Conflict(_l("El módulo no está en pausa."), code="not_paused")
    estimate.invalidate(desk["site_id"])
    engine.announce.desk_changed(desk["site_id"], desk["id"], _payload(engine, desk, "open"))
    return ended


# --- the desk's line, chosen calls, the official's day ------------------------------

CHOSEN_CALL_SETTING = "desk_chosen_call"
CHOSEN_CALL_RULES = ("any", "preferential", "none")
DEFAULT_CHOSEN_CALL = "preferential"


def last_desk(db, user_id: int) -> dict | None:
    """Return the desk a user held most recently (to offer it again), or None."""
    row = store.latest_session_of_user(db, user_id)
    return store.desk_by_id(db, row["desk_id"]) if row else None


def predicted_line(engine, desk: dict, limit: int = 10) -> list[dict]:
    """Return the waiting tickets a desk could call, in the order its site's policy would call them.

    The policy's state moves with every call (``ratio`` counts preferential
    calls in a row), so the order is simulated call by call from today's state.
    It is a prediction: other desks call from the same services meanwhile, and
    under ``aging`` the scores are taken at this moment.
    """
    db = engine.db
    site = engine.lookup.site(desk["site_id"])
    now = engine.clock.now_ms()
    day = local_day(now, site["timezone"])
    params = json.loads(site["policy_params"] or "{}")
    state = store.policy_state(db, site["id"])
    orders: dict[str, list[dict]] = {}
    line: list[dict] = []
    taken: set[int] = set()
    for _ in range(limit):
        appointments = site.get("appointment_class") or "slot"
        plan = priority.plan(site["policy"], params, state, now, site.get("max_wait_seconds"),
                             appointments)
        if plan.order_by not in orders:
            # A list cut at ``limit`` always holds the next untaken ticket of its order.
            orders[plan.order_by] = store.desk_line(
                db, site_id=site["id"], desk_id=desk["id"], day=day, order_by=plan.order_by,
                order_params=plan.params, limit=limit)
        ticket = next((t for t in orders[plan.order_by] if t["id"] not in taken), None)
        if ticket is None:
            break
        taken.add(ticket["id"])
        line.append(ticket)
        state = priority.next_state(
            site["policy"], state,
            "p" if priority.preferential_call(appointments, ticket, now) else None)
    return line


def line_size(engine, desk: dict) -> int:
    """Count the waiting tickets a desk could call."""
    site = engine.lookup.site(desk["site_id"])
    return store.count_desk_line(engine.db, site_id=site["id"], desk_id=desk["id"],
                                 day=engine.today(site))


def chosen_call_rule(db) -> str:
    """Return which waiting tickets an official may call out of order (instance setting)."""
    value = store.get_setting(db, CHOSEN_CALL_SETTING)
    return value if value in CHOSEN_CALL_RULES else DEFAULT_CHOSEN_CALL


def set_chosen_call_rule(engine, rule: str, user_id: int | None) -> None:
    """Change which waiting tickets an official may call out of order, and audit it."""
    if rule not in CHOSEN_CALL_RULES:
        raise Invalid(_l("Regla no válida: use any, preferential o none."), code="invalid_rule")
    with immediate(engine.db):
        before = chosen_call_rule(engine.db)
        store.set_setting(engine.db, CHOSEN_CALL_SETTING, rule)
        store.audit(engine.db, engine.clock.now_ms(), user_id, "settings.desk_chosen_call",
                    CHOSEN_CALL_SETTING, {"from": before, "to": rule})


def may_call_chosen(rule: str, role: str, ticket: dict, head_id: int | None) -> bool:
    """Tell whether a role may call this waiting ticket out of the policy's order.

    Supervisors and administrators always may. An official may always call the
    ticket the policy would call next anyway; otherwise it depends on the rule:
    ``any`` ticket of the desk's services, only ``preferential`` ones (default:
    the law backs serving them first), or ``none``.
    """
    if role in MANAGERS or ticket["id"] == head_id or rule == "any":
        return True
    return rule == "preferential" and ticket["priority"] is not None


def call_chosen(engine, desk: dict, ticket_id, actor, role: str) -> dict:
    """Call a chosen waiting ticket to a desk if the caller's role and the rule allow; audit it."""
    engine.check_not_paused(desk)  # before the line is worked out (the call checks it again)
    ticket = engine.ticket(ticket_id)
    served = store.desk_service_ids(engine.db, desk["id"])
    if role not in MANAGERS and ticket["service_id"] not in served:
        raise Forbidden(_l("%(desk)s no atiende el servicio del turno %(code)s.", desk=desk["name"],
                           code=ticket["code"]), code="service_not_served")
    line = predicted_line(engine, desk, limit=500) if ticket["status"] == "waiting" else []
    ids = [t["id"] for t in line]
    head = ids[0] if ids else None
    if ticket["status"] == "waiting" and not may_call_chosen(chosen_call_rule(engine.db), role,
                                                             ticket, head):
        raise Forbidden(_l("Solo un supervisor puede llamar el turno %(code)s fuera del orden de la "
                           "fila.", code=ticket["code"]), code="chosen_call_not_allowed")
    passed_over = ids.index(ticket["id"]) if ticket["id"] in ids else None
    with immediate(engine.db):  # the call and its audit entry are one act, announced once committed
        called = engine.call_ticket(ticket["id"], desk, actor)
        store.audit(engine.db, engine.clock.now_ms(), actor.user_id, "ticket.call_chosen",
                    f"ticket:{called['id']}", {"code": called["code"], "desk": desk["code"],
                                               "site_id": desk["site_id"], "role": role,
                                               "passed_over": passed_over})
    return called


def ticket_measures(events: list[dict]) -> dict:
    """Return a ticket segment's wait, walk and service seconds from its events (None if not yet).

    The times are each kind's first event (a recall does not move the first
    call); the formulas are the KPI module's: wait = first call − the
    segment's issue (its own wait), walk = start − first call, service =
    finish − start.
    """
    first: dict[str, int] = {}
    for event in events:
        first.setdefault(event["kind"], event["at"])
    times = {"issued_at": first.get("issued"), "called_at": first.get("called"),
             "started_at": first.get("started"), "finished_at": first.get("finished")}
    return {"wait_seconds": kpi.seconds(kpi.segment_wait_ms(times)),
            "walk_seconds": kpi.seconds(kpi.walk_ms(times)),
            "service_seconds": kpi.seconds(kpi.service_ms(times))}


def _overlap_seconds(rows: list[dict], start: int, end: int) -> float:
    """Sum the seconds of [started_at, ended_at or end) spans that fall inside [start, end)."""
    total = 0
    for row in rows:
        total += max(0, min(row["ended_at"] or end, end) - max(row["started_at"], start))
    return total / 1000


def day_summary(engine, user_id: int, site: dict, recent: int = 20) -> dict:
    """Return an official's day so far at a site: served, service times, pauses, time at a desk."""
    db = engine.db
    now = engine.clock.now_ms()
    day = local_day(now, site["timezone"])
    start, end = day_bounds_ms(day, site["timezone"])
    end = min(end, now)
    closing = []
    for event in store.user_events_between(db, site["id"], user_id, start, end + 1,
                                           ("called", "finished", "no_show", "transferred",
                                            "no_show_undone")):
        if event["kind"] != "no_show_undone":
            closing.append(event)
            continue
        # A no-show taken back does not count: drop the ticket's latest one.
        for i in range(len(closing) - 1, -1, -1):
            if closing[i]["ticket_id"] == event["ticket_id"] and closing[i]["kind"] == "no_show":
                del closing[i]
                break
    counts = {kind: 0 for kind in ("called", "finished", "no_show", "transferred")}
    for event in closing:
        counts[event["kind"]] += 1
    closed = [e for e in closing if e["kind"] != "called"]
    by_ticket: dict[int, list[dict]] = {}
    for event in store.events_of_tickets(db, sorted({e["ticket_id"] for e in closed})):
        by_ticket.setdefault(event["ticket_id"], []).append(event)
    service_times = []
    tickets = []
    for event in closed:
        measures = ticket_measures(by_ticket.get(event["ticket_id"], []))
        if event["kind"] == "finished" and measures["service_seconds"] is not None:
            service_times.append(measures["service_seconds"])
        ticket = store.ticket_by_id(db, event["ticket_id"])
        tickets.append(dict(measures, id=ticket["id"], code=ticket["code"],
                            service=engine.lookup.service(ticket["service_id"])["code"],
                            service_name=engine.lookup.service(ticket["service_id"])["name"],
                            priority=ticket["priority"], result=event["kind"],
                            outcome=ticket["outcome"], at=iso(event["at"], site["timezone"])))
    pauses = store.user_pauses_between(db, user_id, start, end)
    by_reason = {reason: _overlap_seconds([p for p in pauses if p["reason"] == reason], start, end)
                 for reason in PAUSE_REASONS}
    served = len(service_times)
    return {
        "day": day, "site": site["code"],
        "served": counts["finished"], "no_show": counts["no_show"],
        "transferred": counts["transferred"], "called": counts["called"],
        "service_seconds_total": round(sum(service_times), 3),
        "average_service_seconds": round(sum(service_times) / served, 3) if served else None,
        "pause_seconds": round(_overlap_seconds(pauses, start, end), 3),
        "pause_seconds_by_reason": {k: round(v, 3) for k, v in by_reason.items()},
        "session_seconds": round(_overlap_seconds(
            store.user_sessions_between(db, user_id, start, end), start, end), 3),
        "tickets": tickets[-recent:][::-1],
    }
