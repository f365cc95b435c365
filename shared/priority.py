"""Priority policies: which waiting ticket a desk calls next.

Every rule lives here. A site chooses one; the choice, its parameters and
its state before the call are recorded with every call so it can be audited.

Within the candidates a desk may call (waiting tickets of today in the
services the desk serves), the order is:

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
  desk's service order, then arrival.
"""

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l

from .errors import Invalid

POLICIES = ("strict", "ratio", "aging")

DEFAULT_PARAMS = {
    "strict": {},
    "ratio": {"n": 3},
    "aging": {"preferential_weight": 3.0, "grace_seconds": 60},
}

_FIFO = "ds.position, t.queue_at, t.id"


@dataclass
class Plan:
    """How to order the candidates for one call, and what to record about it."""

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


def plan(policy: str, params: dict, state: dict, now_ms: int) -> Plan:
    """Return the ordering for the next call under a site's policy and state."""
    params = validate(policy, params)
    record = {"rule": policy, "params": params, "state": dict(state)}
    if policy == "ratio":
        streak = int(state.get("preferential_streak", 0))
        if streak >= params["n"]:
            # The general turn: a general ticket if one waits, else preferential.
            return Plan(f"(t.priority IS NOT NULL), {_FIFO}", {}, record)
        return Plan(f"(t.priority IS NULL), {_FIFO}", {}, record)
    if policy == "aging":
        order = ("((:now - t.queue_at) / 1000.0 + :grace) * "
                 "CASE WHEN t.priority IS NULL THEN 1.0 ELSE :weight END DESC, " + _FIFO)
        return Plan(order, {"now": now_ms, "grace": params["grace_seconds"],
                            "weight": params["preferential_weight"]}, record)
    return Plan(f"(t.priority IS NULL), {_FIFO}", {}, record)


def next_state(policy: str, state: dict, called_priority: str | None) -> dict:
    """Return the policy state after a ticket was called."""
    if policy != "ratio":
        return {}
    if called_priority is None:
        return {"preferential_streak": 0}
    return {"preferential_streak": int(state.get("preferential_streak", 0)) + 1}
