"""Estimated wait for a waiting ticket: a short look ahead at the room as it is now.

The estimate replays the next calls of the site on paper:

1. **Desks.** The desks an official holds and has not paused, each with its
   services in its order. A desk busy with a ticket is free again when that
   ticket's expected handling time has passed since its call (a ticket
   already longer than that is given a third of one more). A paused desk is
   back after the usual length of its pause (break 15 min, lunch and
   training 60, other 30; five more minutes when that has passed). When no
   open desk serves the ticket's service (before opening, say), the naive
   estimate below is given with one desk assumed.
2. **Handling time per service.** The desk time of the latest tickets of the
   service today (first call to close, so walk time and no-shows count; at
   most 20 within three hours), blended with the service's configured time as
   if it were two more tickets: ``(2 × default + Σ recent) ÷ (2 + n)``.
3. **Who is ahead.** Every waiting ticket of the site, in the order the
   site's priority policy calls them (strict, ratio or aging, as in
   ``shared.priority``) at each desk, across all the desk's services.
4. **Who will come.** Arrivals expected during the wait, preferential and
   general apart, for each service: the site's usual arrivals at each hour
   of the day (the mean over the days with tickets in the last four weeks),
   scaled by how busy today has been so far compared with usual (between
   half and double); without history, the rate of the last hour (or of the
   time since the day's first ticket, but at least ten minutes). Later
   preferential citizens still pass a general ticket, and new tickets of a
   service a desk serves first keep that desk away.

Each desk, when free, calls the ticket the policy picks among those present
at that moment; the estimate is the time until the ticket in question is
picked (at most eight hours: a line that the expected arrivals keep from
ever reaching the ticket gives that). The naive estimate (``ahead × mean service ÷ open desks``) is kept in
``naive_wait_seconds`` for comparison; ``bench/estimate_backtest.py`` measures
both against a simulated day run through the real engine.
"""

import heapq
import json
from collections import deque

from . import store
from .timefmt import day_bounds_ms, local_datetime, local_day

RECENT_WINDOW_MS = 3 * 3600 * 1000
RECENT_LIMIT = 20
PRIOR_WEIGHT = 2
ARRIVAL_WINDOW_MS = 3600 * 1000
MIN_ARRIVAL_WINDOW_MS = 10 * 60 * 1000
PAUSE_MS = {"break": 15 * 60_000, "lunch": 60 * 60_000, "training": 60 * 60_000,
            "other": 30 * 60_000}
OVERDUE_PAUSE_MS = 5 * 60_000
HORIZON_MS = 8 * 3600 * 1000
OVERRUN_SHARE = 1 / 3
MAX_STEPS = 5000
HISTORY_DAYS = 28
STEP_MS = 5 * 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000
_NEW = -1  # id of a hypothetical ticket taken now (the kiosk's "if you take a ticket now")
_profiles: dict[tuple, tuple] = {}  # (database file, site id, day) -> the usual arrivals by hour


def handling_ms(db, site: dict, services: dict[int, dict], now_ms: int) -> dict[int, float]:
    """Return each service's expected desk time per ticket (ms), recent times blended with its default."""
    recent = store.recent_handling_ms(db, site["id"], local_day(now_ms, site["timezone"]),
                                      now_ms - RECENT_WINDOW_MS, RECENT_LIMIT)
    out = {}
    for service_id, service in services.items():
        values = recent.get(service_id, [])
        prior = service["default_service_seconds"] * 1000.0
        out[service_id] = (PRIOR_WEIGHT * prior + sum(values)) / (PRIOR_WEIGHT + len(values))
    return out


def _usual_arrivals(db, site: dict, day: str, now_ms: int) -> tuple[int, dict]:
    """Return how many past days had tickets and their arrivals per line and hour (cached a day)."""
    key = (_database_key(db), site["id"], day)
    if key not in _profiles:
        if len(_profiles) > 256:
            _profiles.clear()
        start, _end = day_bounds_ms(day, site["timezone"])
        offset = int(local_datetime(now_ms, site["timezone"]).utcoffset().total_seconds() * 1000)
        _profiles[key] = store.arrival_profile(db, site["id"], start - HISTORY_DAYS * DAY_MS, start,
                                               offset) + (offset,)
    return _profiles[key]


def arrival_times(db, site: dict, day: str, now_ms: int) -> dict[tuple[int, bool], list[int]]:
    """Return, per line (service id, preferential), when arrivals are expected within the horizon."""
    days, usual, offset = _usual_arrivals(db, site, day, now_ms)
    start, _end = day_bounds_ms(day, site["timezone"])
    today = store.recent_arrivals(db, site["id"], start, now_ms + 1)
    lines = set(today) | {(sid, pref) for sid, pref, _hour in usual}

    def hour_of(at: float) -> int:
        return int(((at + offset) % DAY_MS) // HOUR_MS)

    if days:
        # How busy today is against a usual day, over the hours gone by.
        so_far = 0.0
        at = float(start)
        while at < now_ms:
            span = min(HOUR_MS - (at + offset) % HOUR_MS, now_ms - at)
            so_far += sum(usual.get((sid, pref, hour_of(at)), 0) for sid, pref in lines) \
                / days * span / HOUR_MS
            at += span
        seen = sum(today.values())
        factor = min(2.0, max(0.5, seen / so_far)) if so_far >= 5 else 1.0

        def rate(line: tuple, at: float) -> float:
            return usual.get((line[0], line[1], hour_of(at)), 0) / days * factor / HOUR_MS
    else:
        first = store.first_issue_of_day(db, site["id"], day) or now_ms
        window = min(ARRIVAL_WINDOW_MS, max(MIN_ARRIVAL_WINDOW_MS, now_ms - first))
        recent = store.recent_arrivals(db, site["id"], now_ms - window, now_ms + 1)

        def rate(line: tuple, at: float) -> float:
            return recent.get(line, 0) / window

    out: dict[tuple[int, bool], list[int]] = {}
    for line in lines:
        times = []
        expected = 0.0
        at = float(now_ms)
        while at < now_ms + HORIZON_MS and len(times) < MAX_STEPS:
            step_rate = rate(line, at)
            following = expected + step_rate * STEP_MS
            # One arrival each time the expected count passes a half: k + 0.5.
            while step_rate > 0 and following >= len(times) + 0.5:
                times.append(int(at + (len(times) + 0.5 - expected) / step_rate))
            expected = following
            at += STEP_MS
        if times:
            out[line] = times
    return out


def _order(policy: str, params: dict, state: dict, now_ms: int):
    """Return a function ranking a candidate at a desk (lower calls first), mirroring shared.priority."""
    if policy == "aging":
        weight = float(params.get("preferential_weight", 3.0))
        grace = float(params.get("grace_seconds", 60))

        def aging(pref: bool, position: int, queue_at: int, ident: int, at: int):
            score = ((at - queue_at) / 1000.0 + grace) * (weight if pref else 1.0)
            return (-score, position, queue_at, ident)
        return aging
    n = int(params.get("n", 3))

    def strict(pref: bool, position: int, queue_at: int, ident: int, at: int):
        general_turn = policy == "ratio" and state["streak"] >= n
        return (pref if general_turn else not pref, position, queue_at, ident)
    return strict


def simulate(db, site: dict, ticket: dict | None, service_id: int, now_ms: int) -> float | None:
    """Return the ms until a ticket (or a general ticket taken now) is called, or None."""
    services = {s["id"]: s for s in store.list_services(db, site["id"])}
    handling = handling_ms(db, site, services, now_ms)
    day = local_day(now_ms, site["timezone"])
    lines: dict[tuple[int, bool], deque] = {}
    for t in store.waiting_list(db, site["id"], day, limit=MAX_STEPS):
        lines.setdefault((t["service_id"], t["priority"] is not None), deque()).append(
            (t["queue_at"], t["id"]))
    target = ticket["id"] if ticket else _NEW
    if ticket is None:
        lines.setdefault((service_id, False), deque()).append((now_ms, _NEW))
    elif not any(t[1] == target for t in lines.get((service_id, ticket["priority"] is not None), ())):
        return None
    synthetic = -2
    for line_key, times in arrival_times(db, site, day, now_ms).items():
        if line_key[0] not in services:
            continue
        line = lines.setdefault(line_key, deque())
        for at in times[:MAX_STEPS]:
            line.append((at, synthetic))
            synthetic -= 1
    desks = store.desks_for_estimate(db, site["id"])
    open_desks = [d for d in desks if d["session_id"]]
    if not any(service_id in d["services"] for d in open_desks if not d["paused"]):
        return None
    held = {t["desk_id"]: t for t in store.active_list(db, site["id"], day)}
    free: list[tuple[float, int]] = []
    for i, desk in enumerate(open_desks):
        current = held.get(desk["id"])
        at = float(now_ms)
        if desk["paused"]:
            back = desk["paused_at"] + PAUSE_MS.get(desk["pause_reason"], PAUSE_MS["other"])
            at = float(max(back, now_ms + OVERDUE_PAUSE_MS))
        elif current is not None:
            expected = handling.get(current["service_id"], 0.0)
            at = max(current["called_at"] + expected, now_ms + expected * OVERRUN_SHARE)
        heapq.heappush(free, (at, i))
    policy = site["policy"]
    params = json.loads(site["policy_params"] or "{}")
    state = {"streak": int(store.policy_state(db, site["id"]).get("preferential_streak", 0))}
    rank = _order(policy, params, state, now_ms)
    steps = 0
    while free and steps < MAX_STEPS:
        steps += 1
        at, i = heapq.heappop(free)
        if at > now_ms + HORIZON_MS:
            return float(HORIZON_MS)  # still waiting at the horizon: a long wait, at least this
        best = None
        next_arrival = None
        for position, sid in enumerate(open_desks[i]["services"], start=1):
            for pref in (True, False):
                line = lines.get((sid, pref))
                if not line:
                    continue
                queue_at, ident = line[0]
                if queue_at > at:
                    next_arrival = queue_at if next_arrival is None else min(next_arrival, queue_at)
                    continue
                key = rank(pref, position, queue_at, ident, int(at))
                if best is None or key < best[0]:
                    best = (key, sid, pref)
        if best is None:
            if next_arrival is not None:
                heapq.heappush(free, (float(next_arrival), i))
            continue
        _key, sid, pref = best
        _queue_at, ident = lines[(sid, pref)].popleft()
        if ident == target:
            return at - now_ms
        if policy == "ratio":
            state["streak"] = state["streak"] + 1 if pref else 0
        heapq.heappush(free, (at + handling.get(sid, 0.0), i))
    return float(HORIZON_MS) if steps >= MAX_STEPS else None


def naive_rate(db, service: dict, now_ms: int) -> float:
    """Return the seconds one more person ahead costs: mean recent service time ÷ open desks."""
    recent = store.recent_service_seconds(db, service["id"], now_ms - RECENT_WINDOW_MS)
    mean = sum(recent) / len(recent) if recent else float(service["default_service_seconds"])
    return mean / max(1, store.open_desks_for_service(db, service["id"]))


def naive_wait_seconds(db, service: dict, ahead: int, now_ms: int) -> float:
    """Return ``ahead × mean recent service time ÷ open desks`` (the estimate to beat)."""
    return round(ahead * naive_rate(db, service, now_ms), 1)


def wait_seconds(db, service: dict, ahead: int, now_ms: int, ticket: dict | None = None,
                 site: dict | None = None) -> float:
    """Return the estimated seconds until a waiting ticket is called.

    Without ``ticket``: for a general ticket of ``service`` taken now. When
    the room cannot be replayed (no open desk serves the service) the naive
    estimate is returned.

    Replaying the room costs time that grows with the queue, so one replay
    serves a whole line (a service's preferential or general tickets) until
    something other than an arrival changes the room (a call, a finish, a
    pause: see ``invalidate``) or ``ESTIMATE_CACHE_SECONDS`` pass. Meanwhile a ticket of
    that line is estimated from the cached one, shifted by the difference in
    people ahead times the time one more person costs the line (the naive
    rate, kept with the replay: it changes only with what invalidates it):
    arrivals behind a ticket do not move it, a preferential arrival ahead of
    a general ticket moves it by one person.
    """
    site = site or store.site_by_id(db, service["site_id"])
    if site is None:
        return naive_wait_seconds(db, service, ahead, now_ms)
    preferential = bool(ticket and ticket["priority"])
    key = (_database_key(db), site["id"], service["id"], preferential)
    cached = _cache.get(key)
    if (cached is not None and cached[0] == _generation.get(site["id"], 0)
            and 0 <= now_ms - cached[1] < _cache_ms()):
        _generation_, _at, cached_ahead, cached_ms, rate = cached
        if cached_ms is None:
            return round(ahead * rate, 1)
        shift = (ahead - cached_ahead) * rate * 1000.0
        return round(max(0.0, cached_ms + shift) / 1000.0, 1)
    ms = simulate(db, site, ticket, service["id"], now_ms)
    rate = naive_rate(db, service, now_ms)
    if len(_cache) > 4096:
        _cache.clear()
    _cache[key] = (_generation.get(site["id"], 0), now_ms, ahead, ms, rate)
    if ms is None:
        return round(ahead * rate, 1)
    return round(max(0.0, ms) / 1000.0, 1)


CACHE_MS = 60_000  # the default; the ESTIMATE_CACHE_SECONDS setting overrides it (0: no cache)
_cache: dict[tuple, tuple] = {}      # (db, site, service, preferential) -> (generation, at, ahead, ms, rate)
_generation: dict[int, int] = {}     # site id -> changes other than arrivals seen by this process


def _cache_ms() -> float:
    """Return how long a replay serves its line (the app's setting, else the default)."""
    from flask import current_app, has_app_context

    if has_app_context():
        return current_app.config.get("ESTIMATE_CACHE_SECONDS", CACHE_MS / 1000) * 1000
    return 0  # outside a server (simulations, benchmarks) every estimate is replayed


def invalidate(site_id: int) -> None:
    """Forget the cached replays of a site, in every server process: a desk called, finished, paused or left."""
    forget(site_id)
    from flask import current_app, has_app_context

    from .cluster import FORGET_ESTIMATES

    cluster = current_app.extensions.get("turnos.cluster") if has_app_context() else None
    if cluster is not None and cluster.shared:
        cluster.control(FORGET_ESTIMATES, site_id=site_id)


def forget(site_id: int) -> None:
    """Forget this process's cached replays of a site."""
    _generation[site_id] = _generation.get(site_id, 0) + 1


def _database_key(db) -> str:
    """Return the file behind a connection (caches must not mix two databases)."""
    return db.path  # the file or the URL the connection was opened with
