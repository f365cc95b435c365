"""Staffing hint from Erlang C: how many desks keep a service's waits on target next hour.

The model is the M/M/c queue: citizens arrive at random (Poisson) at λ per
hour, a desk is busy with each for an average handling time AHT (call to
close: walk plus service), and c desks serve one line. With the offered load
``a = λ × AHT / 3600`` (in erlangs) and ``c > a``:

- Erlang C, the probability of waiting at all,
  ``C(c, a) = (aᶜ/c! · c/(c−a)) / (Σₖ₌₀..c₋₁ aᵏ/k! + aᶜ/c! · c/(c−a))``
  (computed with the stable Erlang B recursion);
- the service level for a target wait t: ``SL = 1 − C(c, a) · e^(−(c−a)·t/AHT)``;
- the mean wait: ``C(c, a) · AHT / (c − a)``.

The hint is the smallest c whose service level reaches the goal (80 % of
citizens called within the service's target by default). Desks that serve
several services are shared in reality; the hint treats each line alone, so
read it per service and as an upper bound for pooled desks.
"""

import math

SERVICE_LEVEL_GOAL = 0.8
MAX_DESKS = 200


def erlang_c(c: int, a: float) -> float:
    """Return the probability that a citizen waits, with c desks and a erlangs offered."""
    if a <= 0:
        return 0.0
    if c <= a:
        return 1.0
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1 - b))


def service_level(c: int, a: float, aht_seconds: float, target_seconds: float) -> float:
    """Return the share of citizens called within the target wait."""
    if a <= 0:
        return 1.0
    if c <= a:
        return 0.0
    return 1.0 - erlang_c(c, a) * math.exp(-(c - a) * target_seconds / aht_seconds)


def mean_wait_seconds(c: int, a: float, aht_seconds: float) -> float | None:
    """Return the expected wait in seconds (None when the line grows without end)."""
    if a <= 0:
        return 0.0
    if c <= a:
        return None
    return erlang_c(c, a) * aht_seconds / (c - a)


def desks_needed(arrivals_per_hour: float, aht_seconds: float, target_seconds: float,
                 goal: float = SERVICE_LEVEL_GOAL) -> int:
    """Return the fewest desks whose service level reaches the goal (0 when nobody comes)."""
    if arrivals_per_hour <= 0 or aht_seconds <= 0:
        return 0
    a = arrivals_per_hour * aht_seconds / 3600.0
    c = max(1, math.floor(a) + 1)
    while c < MAX_DESKS and service_level(c, a, aht_seconds, target_seconds) < goal:
        c += 1
    return c


def hint(arrivals_per_hour: float, aht_seconds: float, target_seconds: float, desks_open: int,
         goal: float = SERVICE_LEVEL_GOAL) -> dict:
    """Return the staffing hint of one line: desks needed, and what the open desks would give."""
    a = arrivals_per_hour * aht_seconds / 3600.0
    needed = desks_needed(arrivals_per_hour, aht_seconds, target_seconds, goal)
    with_open = service_level(desks_open, a, aht_seconds, target_seconds) if desks_open else (
        1.0 if a == 0 else 0.0)
    return {"arrivals_per_hour": round(arrivals_per_hour, 2), "aht_seconds": round(aht_seconds, 1),
            "target_seconds": float(target_seconds), "load_erlangs": round(a, 3),
            "desks_needed": needed, "desks_open": desks_open, "goal": goal,
            "service_level_with_open": round(with_open, 4),
            "mean_wait_with_needed": (round(mean_wait_seconds(needed, a, aht_seconds), 1)
                                      if needed else 0.0)}
