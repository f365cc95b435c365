"""Who is called before whom, and when: a short look ahead at the room as it is now.

One replay of the room (``shared.priority.replay``, with the site's own
policy, state and maximum wait) answers every "who is next" question: the
people ahead of a ticket (``ahead``), the queue positions of the API and the
monitor, and the estimated wait. Without expected arrivals it is the order
the waiting tickets will be called in if no one else comes (a test checks it
against the calls that then happen); with them, it is the estimate.

1. **Desks.** The desks an official holds and has not paused, each with its
   services in its order. A desk busy with a ticket is free again when that
   ticket's expected handling time has passed since its call (a ticket
   already longer than that is given a third of one more). A paused desk is
   back after the usual length of its pause (break 15 min, lunch and
   training 60, other 30; five more minutes when that has passed). When no
   desk is open (before opening, say), every active desk is taken as open.
2. **Handling time per service.** The desk time of the latest tickets of the
   service (first call to close, so walk time and no-shows count; at most 20
   within three hours, automatic closes left out), blended with the
   service's configured time as if it were two more tickets.
3. **Who is ahead.** The waiting tickets of the site (the first
   ``LINE_LIMIT`` of each line: a service's preferential or general tickets),
   called in the order the site's rule ranks them at each desk.
4. **Who will come** (the estimate only). Arrivals expected during the wait,
   preferential and general apart, for each service: the site's usual
   arrivals at each hour (the mean over the days with tickets in the last
   four weeks), scaled by how busy today has been so far compared with usual
   (between half and double); without history, the rate of the latest
   arrivals (at most ``ARRIVAL_SAMPLE`` of them within the last hour).

The estimate is the time until the ticket is picked (at most eight hours).
It is shown as a range: from the 10th to the 90th percentile of how recent
estimates at the site turned out (``wait_range``), so eight citizens in ten
are called within it. The naive estimate (people ahead × mean recent desk
handling time ÷ open desks, a desk serving k services counting as 1/k of a
desk for each) is kept in ``naive_wait_seconds`` as the baseline to beat.

**Cost per ticket.** Every query a replay makes reads a short index range of
fixed size (the heads of each line, the latest handled tickets of each
service, the latest arrivals, the day counters), never the day's tickets, so
issuing costs the same at the first ticket of the day and at the
twenty-thousandth (``bench/estimate_cost.py``).
"""

import json
from collections import deque
from dataclasses import dataclass

from flask import current_app, has_app_context

from . import cluster, priority, store
from .timefmt import day_bounds_ms, local_datetime, local_day

RECENT_WINDOW_MS = 3 * 3600 * 1000
RECENT_LIMIT = 20
PRIOR_WEIGHT = 2
ARRIVAL_WINDOW_MS = 3600 * 1000
MIN_ARRIVAL_WINDOW_MS = 10 * 60 * 1000
ARRIVAL_SAMPLE = 200
LINE_LIMIT = 200
MAX_ARRIVALS = 200  # expected arrivals replayed per line (a bounded look ahead, even in a rush)
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
NEW_ID = priority.NEVER  # the id of a hypothetical ticket taken now (after every real one)
# The range: quantiles of (real wait + SLACK) ÷ (estimate + SLACK) over recent tickets.
RANGE_QUANTILES = (0.1, 0.9)
RANGE_PRIOR = (0.55, 1.6)   # used until RANGE_MIN_SAMPLES estimates have been called
RANGE_MIN_SAMPLES = 20
RANGE_SAMPLE = 80
RANGE_SLACK_MS = 5 * 60_000
_profiles: dict[tuple, tuple] = {}  # (database file, site id, day) -> the usual arrivals by hour


def handling_ms(db, site: dict, services: dict[int, dict], now_ms: int) -> dict[int, float]:
    """Return each service's expected desk time per ticket (ms), recent times blended with its default."""
    since = max(now_ms - RECENT_WINDOW_MS, day_bounds_ms(local_day(now_ms, site["timezone"]),
                                                         site["timezone"])[0])
    recent = store.recent_handling_ms(db, list(services), since, RECENT_LIMIT)
    out = {}
    for service_id, service in services.items():
        values = recent[service_id]
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

    def hour_of(at: float) -> int:
        return int(((at + offset) % DAY_MS) // HOUR_MS)

    if days:
        lines = {(sid, pref) for sid, pref, _hour in usual}
        # How busy today is against a usual day, over the hours gone by.
        so_far = 0.0
        at = float(start)
        while at < now_ms:
            span = min(HOUR_MS - (at + offset) % HOUR_MS, now_ms - at)
            so_far += sum(usual.get((sid, pref, hour_of(at)), 0) for sid, pref in lines) \
                / days * span / HOUR_MS
            at += span
        seen = store.visits_today(db, site["id"], day)
        factor = min(2.0, max(0.5, seen / so_far)) if so_far >= 5 else 1.0

        def rate(line: tuple, at: float) -> float:
            return usual.get((line[0], line[1], hour_of(at)), 0) / days * factor / HOUR_MS
    else:
        first = store.first_issue_since(db, site["id"], start) or now_ms
        window = min(ARRIVAL_WINDOW_MS, max(MIN_ARRIVAL_WINDOW_MS, now_ms - first))
        latest = store.latest_arrivals(db, site["id"], now_ms - window, now_ms + 1, ARRIVAL_SAMPLE)
        if len(latest) == ARRIVAL_SAMPLE:
            # A busy hour: the sample covers less than the window; its own span is the window.
            window = max(MIN_ARRIVAL_WINDOW_MS // 10, now_ms - latest[-1][2])
        recent: dict[tuple, int] = {}
        for service_id, preferential, _at in latest:
            recent[(service_id, bool(preferential))] = recent.get((service_id, bool(preferential)), 0) + 1
        lines = set(recent)

        def rate(line: tuple, at: float) -> float:
            return recent.get(line, 0) / window

    out: dict[tuple[int, bool], list[int]] = {}
    for line in lines:
        times = []
        expected = 0.0
        at = float(now_ms)
        while at < now_ms + HORIZON_MS and len(times) < MAX_ARRIVALS:
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


@dataclass
class Room:
    """What a replay starts from: open desks, lines, handling times and the site's rule."""

    site: dict
    day: str
    services: dict
    handling: dict
    desks: list          # (free at, [service ids], desk id)
    lines: dict          # (service id, line of priority.LINES) -> [(queue_at, id)]
    tickets: dict        # id -> ticket row (the waiting tickets loaded)
    full: set            # lines loaded whole (shorter than LINE_LIMIT)
    state: dict
    served: set          # services an open, unpaused desk serves (empty before opening)


def room(db, site: dict, now_ms: int) -> Room:
    """Read the room as it is now, with short index reads only."""
    day = local_day(now_ms, site["timezone"])
    services = {s["id"]: s for s in store.list_services(db, site["id"])}
    handling = handling_ms(db, site, services, now_ms)
    lines, tickets, full = {}, {}, set()
    for (service_id, kind), rows in store.line_heads(db, list(services), day, LINE_LIMIT).items():
        if len(rows) < LINE_LIMIT:
            full.add((service_id, kind))
        if rows:
            lines[(service_id, kind)] = [(t["queue_at"], t["id"]) for t in rows]
            tickets.update((t["id"], t) for t in rows)
    desks = store.desks_for_estimate(db, site["id"])
    open_desks = [d for d in desks if d["session_id"]] or [
        dict(d, paused=False) for d in desks]  # nobody at a desk yet: the room as configured
    held = store.desks_open_tickets(db, [d["id"] for d in open_desks])
    free = []
    for desk in open_desks:
        current = held.get(desk["id"])
        at = float(now_ms)
        if desk["paused"]:
            back = desk["paused_at"] + PAUSE_MS.get(desk["pause_reason"], PAUSE_MS["other"])
            at = float(max(back, now_ms + OVERDUE_PAUSE_MS))
        elif current is not None:
            expected = handling.get(current["service_id"], 0.0)
            at = max(current["called_at"] + expected, now_ms + expected * OVERRUN_SHARE)
        free.append((at, desk["services"], desk["id"]))
    served = {sid for d in desks if d["session_id"] and not d["paused"] for sid in d["services"]}
    # Only the ratio rule keeps a state (its streak), as in ``QueueEngine.call_next``.
    state = store.policy_state(db, site["id"]) if site["policy"] == "ratio" else {}
    return Room(site, day, services, handling, free, lines, tickets, full, state, served)


def line_of(preferential: bool) -> str:
    """Return the line (``priority.LINES``) a walk-in ticket joins."""
    return priority.PREFERENTIAL if preferential else priority.GENERAL


def replay_calls(db, site: dict, now_ms: int, *, arrivals: bool, new_line=None, stop_at=None,
                 the_room: Room | None = None, absent: dict | None = None
                 ) -> list[tuple[float, int | None, int]]:
    """Return the predicted calls ``(at, desk id, ticket id)`` of the waiting tickets, in order.

    ``new_line``: (service id, preferential) of a hypothetical ticket taken now
    (id ``NEW_ID``). ``absent``: a ticket from a phone not yet confirmed, replayed
    as if its citizen were in the room. ``arrivals``: add the expected arrivals
    (the estimate); without them the order is the one the tickets will be called
    in if no one else comes. Stops at ``stop_at`` (a ticket id), once every real
    ticket was called, or at the horizon (a last ``(at, None, stop_at)`` entry).
    """
    r = the_room or room(db, site, now_ms)
    lines = {k: deque(v) for k, v in r.lines.items()}
    remaining = len(r.tickets)
    if new_line is not None:
        lines.setdefault((new_line[0], line_of(new_line[1])), deque()).append((now_ms, NEW_ID))
        remaining += 1
    if absent is not None:
        key = (absent["service_id"], line_of(absent["priority"] is not None))
        line = lines.setdefault(key, deque())
        line.append((absent["queue_at"], absent["id"]))
        lines[key] = deque(sorted(line))
        remaining += 1
    if arrivals:
        synthetic = -1
        for (sid, preferential), times in arrival_times(db, site, r.day, now_ms).items():
            if sid not in r.services:
                continue
            line = lines.setdefault((sid, line_of(preferential)), deque())
            for at in times:
                line.append((at, synthetic))
                synthetic -= 1
    calls = []
    params = json.loads(site["policy_params"] or "{}")
    for at, i, _sid, _pref, ident in priority.replay(
            site["policy"], params, dict(r.state), site.get("max_wait_seconds"),
            [(free, services) for free, services, _id in r.desks], lines, r.handling,
            horizon_at=now_ms + HORIZON_MS, max_steps=MAX_STEPS,
            appointments=site.get("appointment_class") or "slot"):
        if i is None:
            calls.append((at, None, stop_at))
            break
        if ident < 0:
            continue
        calls.append((at, r.desks[i][2], ident))
        remaining -= 1
        if ident == stop_at or remaining <= 0:
            break
    return calls


def predicted_order(db, site: dict, now_ms: int) -> list[dict]:
    """Return the waiting tickets in the order they will be called if no one else comes.

    Each ticket row gets ``position`` (1 for the next), ``predicted_desk_id``
    and ``predicted_at`` (ms). Tickets the replay does not reach (beyond the
    loaded head of a long line, or in a service no desk serves) follow, ranked
    by the rule at this moment.
    """
    r = room(db, site, now_ms)
    calls = replay_calls(db, site, now_ms, arrivals=False, the_room=r)
    out, seen = [], set()
    for at, desk_id, ident in calls:
        if desk_id is None or ident not in r.tickets:
            continue
        seen.add(ident)
        out.append(dict(r.tickets[ident], predicted_desk_id=desk_id, predicted_at=int(at)))
    key = priority.rank(site["policy"], json.loads(site["policy_params"] or "{}"), r.state,
                        site.get("max_wait_seconds"), site.get("appointment_class") or "slot")
    rest = sorted((t for i, t in r.tickets.items() if i not in seen),
                  key=lambda t: key(t["priority"] is not None, 0, t["queue_at"], t["id"], now_ms,
                                    t["channel"] == "appointment"))
    out += [dict(t, predicted_desk_id=None, predicted_at=None) for t in rest]
    for position, t in enumerate(out, start=1):
        t["position"] = position
    return out


def simulate(db, site: dict, ticket: dict | None, service_id: int, now_ms: int,
             preferential: bool = False, the_room: Room | None = None) -> float | None:
    """Return the ms until a ticket (or a ticket taken now) is called, or None when no replay reaches it."""
    r = the_room or room(db, site, now_ms)
    if service_id not in r.served:
        return None  # no open desk serves it (before opening, say): the naive estimate is given
    if ticket is None:
        calls = replay_calls(db, site, now_ms, arrivals=True, new_line=(service_id, preferential),
                             stop_at=NEW_ID, the_room=r)
        target = NEW_ID
    else:
        calls = replay_calls(db, site, now_ms, arrivals=True, stop_at=ticket["id"], the_room=r)
        target = ticket["id"]
    for at, desk_id, ident in calls:
        if ident == target:
            return float(HORIZON_MS) if desk_id is None else at - now_ms
    return None


def ahead_of_new(db, site: dict, service_id: int, preferential: bool, now_ms: int,
                 the_room: Room | None = None) -> int:
    """Return how many waiting tickets will be called before a ticket taken now."""
    calls = replay_calls(db, site, now_ms, arrivals=False, new_line=(service_id, preferential),
                         stop_at=NEW_ID, the_room=the_room)
    for n, (_at, desk_id, ident) in enumerate(calls):
        if ident == NEW_ID and desk_id is not None:
            return n
    counts = store.waiting_in_service(db, service_id, local_day(now_ms, site["timezone"]))
    return counts["preferential"] + (0 if preferential else counts["general"])


def naive_rate(db, service: dict, now_ms: int) -> float:
    """Return the seconds one more person ahead costs: mean recent desk handling ÷ shared open desks.

    Desk handling runs from the call to the close, so walk time and no-shows
    count; a desk serving k services counts as 1/k of a desk for each.
    """
    recent = store.recent_handling_ms(db, [service["id"]], now_ms - RECENT_WINDOW_MS,
                                      RECENT_LIMIT)[service["id"]]
    mean = (sum(recent) / len(recent) / 1000.0) if recent else float(service["default_service_seconds"])
    return mean / max(1.0, store.shared_open_desks_for_service(db, service["id"]))


def naive_wait_seconds(db, service: dict, ahead: int, now_ms: int) -> float:
    """Return ``ahead × mean recent handling ÷ shared open desks`` (the estimate to beat)."""
    return round(ahead * naive_rate(db, service, now_ms), 1)


def wait_range(db, site: dict, seconds: float | None, now_ms: int) -> list[float] | None:
    """Return [low, high] seconds around an estimate: the 10th and 90th percentile of recent outcomes."""
    if seconds is None:
        return None
    ratios = _outcome_ratios(db, site, now_ms)
    if len(ratios) >= RANGE_MIN_SAMPLES:
        ratios.sort()
        low_q, high_q = (ratios[min(len(ratios) - 1, int(q * len(ratios)))] for q in RANGE_QUANTILES)
    else:
        low_q, high_q = RANGE_PRIOR
    base = seconds * 1000.0 + RANGE_SLACK_MS
    low = max(0.0, min(seconds * 1000.0, base * low_q - RANGE_SLACK_MS))
    high = max(seconds * 1000.0, base * high_q - RANGE_SLACK_MS)
    return [round(low / 1000.0, 1), round(high / 1000.0, 1)]


def _outcome_ratios(db, site: dict, now_ms: int) -> list[float]:
    """Return (real wait + slack) ÷ (estimate + slack) of the site's latest called tickets (cached)."""
    key = (_database_key(db), site["id"])
    cached = _ratios.get(key)
    if cached is not None and cached[0] == _generation.get(site["id"], 0) \
            and 0 <= now_ms - cached[1] < _cache_ms():
        return list(cached[2])
    rows = store.recent_estimate_outcomes(db, site["id"], now_ms - RECENT_WINDOW_MS, RANGE_SAMPLE)
    ratios = [(real + RANGE_SLACK_MS) / (est + RANGE_SLACK_MS) for est, real in rows]
    _ratios[key] = (_generation.get(site["id"], 0), now_ms, ratios)
    return list(ratios)


def new_ticket(db, site: dict, service: dict, preferential: bool, now_ms: int) -> dict:
    """Return people ahead, estimate and range for a ticket about to be taken (one replay serves a burst).

    Replaying the room costs time that grows with the queue (up to its
    bounded head), so one replay serves a whole line (a service's
    preferential or general tickets) until something other than an arrival
    changes the room (a call, a finish, a pause: see ``invalidate``) or
    ``ESTIMATE_CACHE_SECONDS`` pass. Meanwhile a new ticket of that line is
    placed from the cached one: one more person ahead for each ticket that
    joined its line (and, for a general ticket, its service's preferential
    line) since, each costing the naive rate.
    """
    key = (_database_key(db), site["id"], service["id"], preferential)
    counts = store.waiting_in_service(db, service["id"], local_day(now_ms, site["timezone"]))
    joined = counts["preferential"] + (0 if preferential else counts["general"])
    cached = _cache.get(key)
    if (cached is not None and cached[0] == _generation.get(site["id"], 0)
            and 0 <= now_ms - cached[1] < _cache_ms()):
        _gen, _at, cached_joined, cached_ahead, cached_ms, rate = cached
        ahead = max(0, cached_ahead + joined - cached_joined)
        ms = None if cached_ms is None else max(0.0, cached_ms + (ahead - cached_ahead) * rate * 1000)
    else:
        r = room(db, site, now_ms)
        ahead = ahead_of_new(db, site, service["id"], preferential, now_ms, r)
        ms = simulate(db, site, None, service["id"], now_ms, preferential, r)
        rate = naive_rate(db, service, now_ms)
        if len(_cache) > 4096:
            _cache.clear()
        _cache[key] = (_generation.get(site["id"], 0), now_ms, joined, ahead, ms, rate)
    seconds = round(ahead * rate, 1) if ms is None else round(max(0.0, ms) / 1000.0, 1)
    return {"ahead": ahead, "estimated_wait_seconds": seconds,
            "estimated_wait_range_seconds": wait_range(db, site, seconds, now_ms)}


def awaiting_arrival(db, site: dict, ticket: dict, now_ms: int) -> dict:
    """Return people ahead, estimate and range for a ticket from a phone whose citizen has not arrived.

    The claim skips it until its citizen confirms arrival; the replay puts it
    in the room at the place it took, as if the citizen were there, to tell
    when its turn would come (and so when to leave home).
    """
    r = room(db, site, now_ms)
    order = replay_calls(db, site, now_ms, arrivals=False, the_room=r, absent=ticket,
                         stop_at=ticket["id"])
    ahead = next((n for n, (_at, desk_id, ident) in enumerate(order)
                  if ident == ticket["id"] and desk_id is not None), None)
    seconds = None
    if ticket["service_id"] in r.served:
        for at, desk_id, ident in replay_calls(db, site, now_ms, arrivals=True, the_room=r,
                                               absent=ticket, stop_at=ticket["id"]):
            if ident == ticket["id"]:
                seconds = round(max(0.0, HORIZON_MS if desk_id is None else at - now_ms) / 1000, 1)
    if ahead is None:
        ahead = store.ahead_of(db, ticket)
    if seconds is None:
        seconds = naive_wait_seconds(db, r.services[ticket["service_id"]], ahead, now_ms)
    return {"ahead": ahead, "estimated_wait_seconds": seconds,
            "estimated_wait_range_seconds": wait_range(db, site, seconds, now_ms)}


def waiting_ticket(db, site: dict, ticket: dict, now_ms: int) -> dict:
    """Return people ahead, estimate and range for a waiting ticket (from the site's cached replay)."""
    if not ticket.get("arrived", True):
        return awaiting_arrival(db, site, ticket, now_ms)
    predictions = _predictions(db, site, now_ms)
    found = predictions.get(ticket["id"])
    if found is None:
        service = store.service_by_id(db, ticket["service_id"])
        ahead = store.ahead_of(db, ticket)
        seconds = naive_wait_seconds(db, service, ahead, now_ms)
    else:
        ahead, seconds = found
    return {"ahead": ahead, "estimated_wait_seconds": seconds,
            "estimated_wait_range_seconds": wait_range(db, site, seconds, now_ms)}


def _predictions(db, site: dict, now_ms: int) -> dict[int, tuple[int, float]]:
    """Return, per waiting ticket of a site, people ahead and estimated seconds (cached per change)."""
    key = (_database_key(db), site["id"])
    stamp = (_generation.get(site["id"], 0), _arrivals.get(site["id"], 0))
    cached = _site_cache.get(key)
    if cached is not None and cached[0] == stamp and 0 <= now_ms - cached[1] < _cache_ms():
        return cached[2]
    r = room(db, site, now_ms)
    order = [ident for _at, desk_id, ident in replay_calls(db, site, now_ms, arrivals=False,
                                                            the_room=r) if desk_id is not None]
    times = {}
    if r.served:
        times = {ident: at - now_ms for at, desk_id, ident in replay_calls(
            db, site, now_ms, arrivals=True, the_room=r) if desk_id is not None}
    out = {}
    for n, ident in enumerate(order):
        ticket = r.tickets[ident]
        if ticket["service_id"] not in r.served:
            out[ident] = (n, naive_wait_seconds(db, r.services[ticket["service_id"]], n, now_ms))
            continue
        ms = times.get(ident, float(HORIZON_MS))
        out[ident] = (n, round(max(0.0, ms) / 1000.0, 1))
    if len(_site_cache) > 1024:
        _site_cache.clear()
    _site_cache[key] = (stamp, now_ms, out)
    return out


CACHE_MS = 60_000  # the default; the ESTIMATE_CACHE_SECONDS setting overrides it (0: no cache)
_cache: dict[tuple, tuple] = {}      # (db, site, service, preferential) -> a new ticket's replay
_site_cache: dict[tuple, tuple] = {}  # (db, site) -> ((generation, arrivals), at, predictions)
_ratios: dict[tuple, tuple] = {}     # (db, site) -> (generation, at, recent outcome ratios)
_generation: dict[int, int] = {}     # site id -> changes other than arrivals seen by this process
_arrivals: dict[int, int] = {}       # site id -> arrivals seen by this process


def _cache_ms() -> float:
    """Return how long a replay serves its line (the app's setting, else the default)."""
    if has_app_context():
        return current_app.config.get("ESTIMATE_CACHE_SECONDS", CACHE_MS / 1000) * 1000
    return 0  # outside a server (simulations, benchmarks) every estimate is replayed


def invalidate(site_id: int) -> None:
    """Forget the cached replays of a site, in every server process (a desk called, finished, paused)."""
    forget(site_id)
    shared = current_app.extensions.get(cluster.EXTENSION) if has_app_context() else None
    if shared is not None and shared.shared:
        shared.control(cluster.FORGET_ESTIMATES, site_id=site_id)


def forget(site_id: int) -> None:
    """Forget this process's cached replays of a site."""
    _generation[site_id] = _generation.get(site_id, 0) + 1


def arrived(site_id: int) -> None:
    """Note an arrival: existing tickets' positions change; a new ticket's cached line does not."""
    _arrivals[site_id] = _arrivals.get(site_id, 0) + 1


def _database_key(db) -> str:
    """Return the file behind a connection (caches must not mix two databases)."""
    return db.path  # the file or the URL the connection was opened with
