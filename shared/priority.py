"""Priority policies: which waiting ticket a desk calls next. The one authority on the order.

Every rule lives here, written once as a list of ordering *terms*: each term
is a SQL expression (for the claim of ``store.claim_next`` and the desk line
of ``store.desk_line``) and the same expression in Python (for ``rank``,
which the replay of the room in ``replay`` uses for the people ahead of a
ticket, the queue positions of the API and the monitor, the desk's next list
and the estimated wait). A site chooses one policy; the choice, its
parameters, its state before the call and whether the maximum wait applied
are recorded with every call so it can be audited.

Within the candidates a desk may call (waiting tickets of today in the
services the desk serves), the order is:

- **maximum wait** (optional, per site, ``sites.max_wait_seconds``): any
  ticket that has waited longer than it is called first, the longest wait
  first, under every policy. No one waits forever behind a stream of
  preferential citizens or behind a desk's first service.
- ``strict`` (default): preferential before general; then the desk's service
  order; then first come, first served (``queue_at``).
- ``ratio``: like strict, but after ``n`` preferential calls in a row at the
  site (default 3), the next call goes to a general ticket if one waits.
- ``aging``: a score grows with waiting time, faster for preferential tickets:
  ``score = weight × (age_seconds + grace_seconds)`` where ``weight`` is
  ``preferential_weight`` (default 3) for preferential tickets and 1 for
  general ones, and ``grace_seconds`` (default 60) lets a newly arrived
  preferential ticket pass general tickets that have waited less than
  ``(weight − 1) × grace`` seconds. The highest score is called; ties go to the
  desk's service order, then arrival. (Computed in integer milliseconds and
  thousandths of weight, so SQL and Python agree to the last unit.)

**Appointment tickets** (a citizen with a booked slot who checked in at the
kiosk) are a class of their own, chosen per site (``sites.appointment_class``)
and recorded with every call (``appointment_class``). An appointment ticket
queues at its slot's start (or at its check-in, when late); from that moment on
it is *due*. The classes:

- ``slot`` (default): no class of its own: it queues with the general walk-ins
  as if it had arrived at its slot's start (who came before the slot goes
  first, who came after it waits).
- ``before_general``: once due, it is called before general walk-ins;
  preferential citizens (whom the law puts first) still go before it. Under
  ``aging`` it takes the preferential weight; under ``ratio`` it is a general call.
- ``preferential``: once due, it is called as a preferential ticket (same
  class, by arrival; under ``ratio`` it counts in the preferential streak and
  under ``aging`` it takes the preferential weight).

**Tickets taken from a phone** wait for their citizen to confirm arrival
(``tickets.arrived``): until then they are not candidates at all (the claim
and the replay skip them), so no one is called to an empty room; once
confirmed they keep the place they took.

Candidates of a desk are the heads of three lines per service it serves:
preferential tickets, general walk-ins, and general appointment tickets; within
each line every rule orders by arrival, so the winner is always a head.
"""

import heapq
import json
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from .errors import Invalid

POLICIES = ("strict", "ratio", "aging")
APPOINTMENT_CLASSES = ("slot", "before_general", "preferential")
# The lines of a service (keys of ``replay``'s ``lines`` with the service id): preferential
# tickets, general walk-ins (and confirmed tickets from phones), general appointment tickets.
PREFERENTIAL, GENERAL, APPOINTMENT = "p", "g", "a"
LINES = (PREFERENTIAL, GENERAL, APPOINTMENT)

DEFAULT_PARAMS = {
    "strict": {},
    "ratio": {"n": 3},
    "aging": {"preferential_weight": 3.0, "grace_seconds": 60},
}

NEVER = 2 ** 62  # ranks a ticket that has not passed the maximum wait after every one that has


@dataclass
class Plan:
    """How to order the candidates for one call in SQL, and what to record about it."""

    order_by: str
    params: dict = field(default_factory=dict)
    record: dict = field(default_factory=dict)


def validate(policy: str, params: dict | None) -> dict:
    """Check a policy name and its parameters; return the complete parameters."""
    if policy not in POLICIES:
        raise Invalid(_l("Política de prioridad desconocida «%(p)s»: use strict, ratio o aging.",
                         p=policy), code="invalid_policy")
    merged = dict(DEFAULT_PARAMS[policy])
    for key, value in (params or {}).items():
        if key not in merged:
            raise Invalid(_l("Parámetro «%(k)s» no válido para la política %(p)s.", k=key, p=policy),
                          code="invalid_policy")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            raise Invalid(_l("El parámetro «%(k)s» debe ser un número positivo.", k=key),
                          code="invalid_policy")
        merged[key] = int(value) if isinstance(DEFAULT_PARAMS[policy][key], int) else float(value)
    return merged


def validate_appointment_class(value: str) -> str:
    """Check the place of appointment tickets in the queue; return it."""
    if value not in APPOINTMENT_CLASSES:
        raise Invalid(_l("Clase de citas desconocida «%(c)s»: use slot, before_general o "
                         "preferential.", c=value), code="invalid_appointment_class")
    return value


_DUE_SQL = "(t.channel = 'appointment' AND t.queue_at <= :now)"


def _class_term(appointments: str) -> tuple:
    """Return the class rank (0 first) of a candidate, in SQL and in Python."""
    if appointments == "before_general":
        return (f"CASE WHEN t.priority IS NOT NULL THEN 0 WHEN {_DUE_SQL} THEN 1 ELSE 2 END",
                lambda pref, pos, queue_at, ident, at, appt=False:
                0 if pref else (1 if appt and queue_at <= at else 2))
    if appointments == "preferential":
        return (f"CASE WHEN t.priority IS NOT NULL OR {_DUE_SQL} THEN 0 ELSE 1 END",
                lambda pref, pos, queue_at, ident, at, appt=False:
                0 if pref or (appt and queue_at <= at) else 1)
    return ("(t.priority IS NULL)", lambda pref, pos, queue_at, ident, at, appt=False: not pref)


def _weighted(appointments: str) -> tuple:
    """Return whether a candidate takes the preferential weight (aging), in SQL and in Python."""
    if appointments == "slot":
        return "t.priority IS NOT NULL", lambda pref, queue_at, at, appt: pref
    return (f"(t.priority IS NOT NULL OR {_DUE_SQL})",
            lambda pref, queue_at, at, appt: pref or (appt and queue_at <= at))


def _terms(policy: str, params: dict, state: dict, max_wait_ms: int | None,
           appointments: str = "slot") -> list[tuple]:
    """Return the ordering terms: (SQL over ``t`` and ``ds``, Python over a candidate at a time).

    A candidate is ``(preferential, position, queue_at, id, at, appointment)``; a smaller term
    calls first.
    """
    terms = []
    if max_wait_ms:
        terms.append(("CASE WHEN t.queue_at <= :starved_before THEN t.queue_at ELSE :never END",
                      lambda pref, pos, queue_at, ident, at, appt=False:
                      queue_at if queue_at <= at - max_wait_ms else NEVER))
    class_sql, class_fn = _class_term(appointments)
    if policy == "aging":
        weight = round(params["preferential_weight"] * 1000)
        grace = params["grace_seconds"] * 1000
        weighted_sql, weighted = _weighted(appointments)
        terms.append(("(t.queue_at - :now - :grace) * "
                      f"CASE WHEN {weighted_sql} THEN :weight ELSE 1000 END",
                      lambda pref, pos, queue_at, ident, at, appt=False:
                      (queue_at - at - grace) * (weight if weighted(pref, queue_at, at, appt)
                                                 else 1000)))
    elif policy == "ratio" and int(state.get("preferential_streak", 0)) >= params["n"]:
        # The general turn: a ticket outside the preferential class if one waits, else preferential.
        terms.append((f"({class_sql} = 0)" if appointments != "slot" else "(t.priority IS NOT NULL)",
                      lambda pref, pos, queue_at, ident, at, appt=False:
                      class_fn(pref, pos, queue_at, ident, at, appt) in (0, False)))
        if appointments == "before_general":
            terms.append((class_sql, class_fn))
    else:
        terms.append((class_sql, class_fn))
    terms += [("ds.position", lambda pref, pos, queue_at, ident, at, appt=False: pos),
              ("t.queue_at", lambda pref, pos, queue_at, ident, at, appt=False: queue_at),
              ("t.id", lambda pref, pos, queue_at, ident, at, appt=False: ident)]
    return terms


def _sql_params(policy: str, params: dict, now_ms: int, max_wait_ms: int | None,
                appointments: str = "slot") -> dict:
    """Return the parameters the SQL terms name."""
    out = {}
    if max_wait_ms:
        out.update(starved_before=now_ms - max_wait_ms, never=NEVER)
    if appointments != "slot":
        out.update(now=now_ms)
    if policy == "aging":
        out.update(now=now_ms, grace=params["grace_seconds"] * 1000,
                   weight=round(params["preferential_weight"] * 1000))
    return out


def plan(policy: str, params: dict, state: dict, now_ms: int,
         max_wait_seconds: int | None = None, appointments: str = "slot") -> Plan:
    """Return the SQL ordering for the next call under a site's policy, state, maximum wait and
    appointment class."""
    params = validate(policy, params)
    limit = int(max_wait_seconds) * 1000 if max_wait_seconds else None
    terms = _terms(policy, params, state, limit, appointments)
    record = {"rule": policy, "params": params, "state": dict(state),
              "max_wait": {"seconds": int(max_wait_seconds) if max_wait_seconds else None,
                           "applied": False},
              "appointment_class": appointments}
    return Plan(", ".join(sql for sql, _fn in terms),
                _sql_params(policy, params, now_ms, limit, appointments), record)


_WAITED = "\u0000waited\u0000"  # where the SQL writes the seconds a starved ticket waited


def call_record(chosen_plan: Plan, now_ms: int) -> tuple[str, dict]:
    """Return what a call records, as SQL over the claimed ticket ``c`` (JSON text) and its parameters.

    The rule, its parameters and state, and why this ticket: the maximum wait
    (``applied``, and how long it waited) when the ticket had waited past it,
    else its line (preferential, appointment or general). The record of each
    case is written here; the SQL only picks one (and fills in the wait), so the
    claim can log the call in the statement that makes it (``store.claim_next``).
    """
    def text(chosen: str, **max_wait) -> str:
        record = dict(chosen_plan.record, chosen=chosen,
                      max_wait={**chosen_plan.record["max_wait"], "applied": False, **max_wait})
        return json.dumps(record, separators=(",", ":"))

    params = {"rec_pref": text("preferential"), "rec_appointment": text("appointment"),
              "rec_general": text("general")}
    sql = ("CASE WHEN c.priority IS NOT NULL THEN :rec_pref "
           "WHEN c.channel = 'appointment' THEN :rec_appointment ELSE :rec_general END")
    seconds = chosen_plan.record["max_wait"]["seconds"]
    if seconds:
        head, tail = text("max_wait", applied=True, waited_seconds=_WAITED).split(json.dumps(_WAITED))
        params.update(rec_starved_before=now_ms - seconds * 1000, rec_now=now_ms,
                      rec_starved_head=head, rec_starved_tail=tail)
        sql = ("CASE WHEN c.queue_at <= :rec_starved_before THEN :rec_starved_head || "
               "CAST(round((:rec_now - c.queue_at) / 1000.0, 3) AS TEXT) || :rec_starved_tail "
               f"ELSE {sql} END")
    return sql, params


def preferential_call(appointments: str, ticket: dict, now_ms: int) -> bool:
    """Tell whether a call counts as preferential for the policy's state (the ratio's streak)."""
    if ticket["priority"] is not None:
        return True
    return (appointments == "preferential" and ticket.get("channel") == "appointment"
            and ticket["queue_at"] <= now_ms)


def rank(policy: str, params: dict, state: dict, max_wait_seconds: int | None = None,
         appointments: str = "slot"):
    """Return ``key(pref, position, queue_at, id, at, appointment)``: the SQL order of ``plan``
    as a Python key."""
    params = validate(policy, params)
    limit = int(max_wait_seconds) * 1000 if max_wait_seconds else None
    fns = [fn for _sql, fn in _terms(policy, params, state, limit, appointments)]

    def key(pref: bool, position: int, queue_at: int, ident: int, at: int,
            appt: bool = False) -> tuple:
        return tuple(fn(pref, position, queue_at, ident, at, appt) for fn in fns)
    return key


def next_state(policy: str, state: dict, called_priority: str | None) -> dict:
    """Return the policy state after a ticket was called."""
    if policy != "ratio":
        return {}
    if called_priority is None:
        return {"preferential_streak": 0}
    return {"preferential_streak": int(state.get("preferential_streak", 0)) + 1}


def replay(policy: str, params: dict, state: dict, max_wait_seconds: int | None,
           desks: list[tuple[float, list[int]]], lines: dict, handling: dict[int, float],
           *, horizon_at: float, max_steps: int, appointments: str = "slot"):
    """Replay the next calls of a room; yield ``(at, desk index, service id, line, id)``.

    ``desks``: when each open desk is free and the services it serves, in its
    order. ``lines``: per (service id, line) — ``line`` one of ``LINES`` — a deque
    of ``(queue_at, id)`` in arrival order (tickets waiting now and, for an
    estimate, the arrivals expected). ``handling``: each service's expected desk time per
    ticket (ms). Each desk, when free, calls the ticket the policy ranks first
    among those present; the policy's state moves with every call as in
    ``QueueEngine.call_next``. Stops at ``horizon_at`` (yielding ``(at, None,
    None, None, None)`` once it is passed) or after ``max_steps`` steps.
    """
    params = validate(policy, params)
    free = [(float(at), i) for i, (at, _services) in enumerate(desks)]
    heapq.heapify(free)
    keys: dict[str, object] = {}
    steps = 0
    while free and steps < max_steps:
        steps += 1
        at, i = heapq.heappop(free)
        if at > horizon_at:
            yield at, None, None, None, None
            return
        streak = str(state.get("preferential_streak", 0))
        key = keys.get(streak)
        if key is None:
            key = keys[streak] = rank(policy, params, state, max_wait_seconds, appointments)
        best = None
        next_arrival = None
        for position, sid in enumerate(desks[i][1], start=1):
            for kind in LINES:
                line = lines.get((sid, kind))
                if not line:
                    continue
                queue_at, ident = line[0]
                # An appointment ticket may queue at a slot still to come: it waits for no one.
                if queue_at > at and kind != APPOINTMENT:
                    next_arrival = queue_at if next_arrival is None else min(next_arrival, queue_at)
                    continue
                k = key(kind == PREFERENTIAL, position, queue_at, ident, int(at), kind == APPOINTMENT)
                if best is None or k < best[0]:
                    best = (k, sid, kind, queue_at)
        if best is None:
            if next_arrival is not None:
                heapq.heappush(free, (float(next_arrival), i))
            continue
        _k, sid, kind, queue_at = best
        _queue_at, ident = lines[(sid, kind)].popleft()
        yield at, i, sid, kind, ident
        if policy == "ratio":
            called = {"priority": "p" if kind == PREFERENTIAL else None, "queue_at": queue_at,
                      "channel": "appointment" if kind == APPOINTMENT else "walk_in"}
            state = next_state(policy, state, "p" if preferential_call(appointments, called, int(at))
                               else None)
        heapq.heappush(free, (at + handling.get(sid, 0.0), i))
