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
"""

import heapq
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from .errors import Invalid

POLICIES = ("strict", "ratio", "aging")

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


def _terms(policy: str, params: dict, state: dict, max_wait_ms: int | None) -> list[tuple]:
    """Return the ordering terms: (SQL over ``t`` and ``ds``, Python over a candidate at a time).

    A candidate is ``(preferential, position, queue_at, id)``; a smaller term calls first.
    """
    terms = []
    if max_wait_ms:
        terms.append(("CASE WHEN t.queue_at <= :starved_before THEN t.queue_at ELSE :never END",
                      lambda pref, pos, queue_at, ident, at:
                      queue_at if queue_at <= at - max_wait_ms else NEVER))
    if policy == "aging":
        weight = round(params["preferential_weight"] * 1000)
        grace = params["grace_seconds"] * 1000
        terms.append(("(t.queue_at - :now - :grace) * "
                      "CASE WHEN t.priority IS NULL THEN 1000 ELSE :weight END",
                      lambda pref, pos, queue_at, ident, at:
                      (queue_at - at - grace) * (weight if pref else 1000)))
    elif policy == "ratio" and int(state.get("preferential_streak", 0)) >= params["n"]:
        # The general turn: a general ticket if one waits, else preferential.
        terms.append(("(t.priority IS NOT NULL)", lambda pref, pos, queue_at, ident, at: pref))
    else:
        terms.append(("(t.priority IS NULL)", lambda pref, pos, queue_at, ident, at: not pref))
    terms += [("ds.position", lambda pref, pos, queue_at, ident, at: pos),
              ("t.queue_at", lambda pref, pos, queue_at, ident, at: queue_at),
              ("t.id", lambda pref, pos, queue_at, ident, at: ident)]
    return terms


def _sql_params(policy: str, params: dict, now_ms: int, max_wait_ms: int | None) -> dict:
    """Return the parameters the SQL terms name."""
    out = {}
    if max_wait_ms:
        out.update(starved_before=now_ms - max_wait_ms, never=NEVER)
    if policy == "aging":
        out.update(now=now_ms, grace=params["grace_seconds"] * 1000,
                   weight=round(params["preferential_weight"] * 1000))
    return out


def plan(policy: str, params: dict, state: dict, now_ms: int,
         max_wait_seconds: int | None = None) -> Plan:
    """Return the SQL ordering for the next call under a site's policy, state and maximum wait."""
    params = validate(policy, params)
    limit = int(max_wait_seconds) * 1000 if max_wait_seconds else None
    terms = _terms(policy, params, state, limit)
    record = {"rule": policy, "params": params, "state": dict(state),
              "max_wait": {"seconds": int(max_wait_seconds) if max_wait_seconds else None,
                           "applied": False}}
    return Plan(", ".join(sql for sql, _fn in terms),
                _sql_params(policy, params, now_ms, limit), record)


def call_record(chosen_plan: Plan, ticket: dict, now_ms: int) -> dict:
    """Return what a call records: the rule, its parameters and state, and why this ticket."""
    record = dict(chosen_plan.record, max_wait=dict(chosen_plan.record["max_wait"]))
    seconds = record["max_wait"]["seconds"]
    starved = bool(seconds) and ticket["queue_at"] <= now_ms - seconds * 1000
    record["max_wait"]["applied"] = starved
    if starved:
        record["max_wait"]["waited_seconds"] = round((now_ms - ticket["queue_at"]) / 1000, 3)
    record["chosen"] = "max_wait" if starved else (
        "preferential" if ticket["priority"] else "general")
    return record


def rank(policy: str, params: dict, state: dict, max_wait_seconds: int | None = None):
    """Return ``key(pref, position, queue_at, id, at)``: the SQL order of ``plan`` as a Python key."""
    params = validate(policy, params)
    limit = int(max_wait_seconds) * 1000 if max_wait_seconds else None
    fns = [fn for _sql, fn in _terms(policy, params, state, limit)]

    def key(pref: bool, position: int, queue_at: int, ident: int, at: int) -> tuple:
        return tuple(fn(pref, position, queue_at, ident, at) for fn in fns)
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
           *, horizon_at: float, max_steps: int):
    """Replay the next calls of a room; yield ``(at, desk index, service id, preferential, id)``.

    ``desks``: when each open desk is free and the services it serves, in its
    order. ``lines``: per (service id, preferential) a deque of ``(queue_at,
    id)`` in arrival order (tickets waiting now and, for an estimate, the
    arrivals expected). ``handling``: each service's expected desk time per
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
            key = keys[streak] = rank(policy, params, state, max_wait_seconds)
        best = None
        next_arrival = None
        for position, sid in enumerate(desks[i][1], start=1):
            for pref in (True, False):
                line = lines.get((sid, pref))
                if not line:
                    continue
                queue_at, ident = line[0]
                if queue_at > at:
                    next_arrival = queue_at if next_arrival is None else min(next_arrival, queue_at)
                    continue
                k = key(pref, position, queue_at, ident, int(at))
                if best is None or k < best[0]:
                    best = (k, sid, pref)
        if best is None:
            if next_arrival is not None:
                heapq.heappush(free, (float(next_arrival), i))
            continue
        _k, sid, pref = best
        _queue_at, ident = lines[(sid, pref)].popleft()
        yield at, i, sid, pref, ident
        state = next_state(policy, state, "p" if pref else None) if policy == "ratio" else state
        heapq.heappush(free, (at + handling.get(sid, 0.0), i))
