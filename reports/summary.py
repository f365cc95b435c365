"""Evaluation reports: a period's figures per site, service, desk, official, priority, hour or day.

A report is the merge of *partials*: for each site and local day, the
counters and the wait and service-time histograms of each group (see
``shared.kpi.Tally``). A day is *sealed* once its tickets and desk sessions
can no longer change (close-day does it each night, ``run.py seal`` for older
days): its partials are stored for good in ``report_partials`` and never
change by themselves (a later rating for it is refused; a later change of a
service's target does not touch it, as every segment keeps the target in
force when it joined its line). A month whose days are all sealed is rolled
up into one summary per dimension (``report_month_partials``), so a year
across hundreds of sites reads twelve small rows per site. Days not sealed
(today, a day still open) are computed from the tickets on every request, by
the same code. Re-computing sealed days is an explicit act, written to the
audit log (``reseal``).
"""

import json
from datetime import UTC, date, datetime, timedelta
from functools import cached_property, lru_cache

import orjson
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from shared import kpi, store, timefmt
from shared.db import TakeTurns, immediate
from shared.errors import Forbidden, Invalid, not_found
from shared.timefmt import day_bounds_ms, local_day, zone

GROUPS = ("service", "desk", "official", "priority", "hour", "day", "site")
DIMENSIONS = ("service", "desk", "official", "priority", "hour", "total")
PRESETS = ("day", "week", "month", "quarter", "custom")
MAX_DAYS = 1100
DAY_MS = 86_400_000
EPOCH = date(1970, 1, 1)
OCCUPANCY_ONLY = "*"   # partial key holding desk time in dimensions that are not desks or officials
WEEKDAYS = (_l("Lunes"), _l("Martes"), _l("Miércoles"), _l("Jueves"), _l("Viernes"), _l("Sábado"),
            _l("Domingo"))


# --- the question: who asks, which sites, which days -------------------------------------

def parse_day(value, field: str) -> date:
    """Parse a YYYY-MM-DD query value or refuse it."""
    try:
        return timefmt.parse_day(value)
    except (TypeError, ValueError):
        raise Invalid(_l("La fecha «%(f)s» no es válida: use AAAA-MM-DD.", f=field),
                      code="invalid_date", field=field) from None


def preset_range(preset: str, today: date) -> tuple[date, date]:
    """Return the days of a preset period that contains today (week starts on Monday)."""
    if preset == "day":
        return today, today
    if preset == "week":
        start = today - timedelta(days=today.weekday())
        return start, start + timedelta(days=6)
    if preset == "month":
        start = today.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        return start, end
    if preset == "quarter":
        first_month = 3 * ((today.month - 1) // 3) + 1
        start = today.replace(month=first_month, day=1)
        end = (start + timedelta(days=95)).replace(day=1) - timedelta(days=1)
        return start, end
    raise Invalid(_l("Periodo no válido: use day, week, month, quarter o custom."),
                  code="invalid_period")


def quarter_range(year: int, quarter: int) -> tuple[date, date]:
    """Return the first and last day of a calendar quarter."""
    if quarter not in (1, 2, 3, 4):
        raise Invalid(_l("Trimestre no válido: use 1, 2, 3 o 4."), code="invalid_quarter")
    start = date(year, 3 * quarter - 2, 1)
    return start, (start + timedelta(days=95)).replace(day=1) - timedelta(days=1)


def resolve_sites(db, principal, ident) -> list[dict]:
    """Return the sites a report covers: one the principal may use, or all of them."""
    if ident in (None, "", "all", "*"):
        sites = [s for s in store.list_sites(db) if principal.may_use_site(s["id"])]
        if not sites:
            raise Forbidden(_l("No tiene acceso a ninguna sede."), code="wrong_site")
        return sorted(sites, key=lambda s: s["id"])
    site = store.find_site(db, ident)
    if site is None:
        raise not_found("site", ident)
    if not principal.may_use_site(site["id"]):
        raise Forbidden(_l("No tiene acceso a la sede «%(s)s».", s=site["name"]), code="wrong_site")
    return [site]


def parse_query(db, principal, args, now_ms: int) -> dict:
    """Validate report parameters (site, from, to or period, group_by) and return them resolved."""
    sites = resolve_sites(db, principal, args.get("site"))
    group_by = args.get("group_by") or "service"
    if group_by not in GROUPS:
        raise Invalid(_l("Agrupación no válida: use service, desk, official, priority, hour, day o site."),
                      code="invalid_group_by", field="group_by")
    today = date.fromisoformat(local_day(now_ms, sites[0]["timezone"]))
    period = args.get("period") or ("custom" if args.get("from") or args.get("to") else "day")
    if period == "custom":
        day_from = parse_day(args.get("from") or today.isoformat(), "from")
        day_to = parse_day(args.get("to") or day_from.isoformat(), "to")
    else:
        day_from, day_to = preset_range(period, today)
    if day_from > day_to:
        raise Invalid(_l("La fecha inicial es posterior a la final."), code="invalid_range")
    if (day_to - day_from).days + 1 > MAX_DAYS:
        raise Invalid(_l("El periodo es demasiado largo (máximo %(n)s días).", n=MAX_DAYS),
                      code="invalid_range")
    return {"sites": sites, "day_from": day_from.isoformat(), "day_to": day_to.isoformat(),
            "group_by": group_by, "period": period}


# --- time zones: offsets and day bounds -------------------------------------------------------

def _offset_ms(tz: str, ms: int) -> int:
    """Return a zone's UTC offset in ms at an instant."""
    return round(datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone(tz))
                 .utcoffset().total_seconds() * 1000)


@lru_cache(maxsize=256)
def offset_plan(tz: str, start_ms: int, end_ms: int) -> tuple:
    """Return ``((until_ms, offset_ms), ..., (None, offset_ms))`` for a zone over [start, end)."""
    plan = []
    step = 3_600_000
    current = _offset_ms(tz, start_ms)
    at = start_ms
    while at < end_ms:
        following = min(at + step, end_ms)
        offset = _offset_ms(tz, following)
        if offset != current:
            low, high = at, following  # the change happens in (low, high]
            while high - low > 1000:
                mid = (low + high) // 2
                if _offset_ms(tz, mid) == current:
                    low = mid
                else:
                    high = mid
            plan.append((high, current))
            current = offset
        at = following
    plan.append((None, current))
    return tuple(plan)


def plans_for(sites: list[dict], day_from: str, day_to: str) -> dict[int, tuple]:
    """Return each site's offset plan covering the period with a day's margin on both sides."""
    start = date.fromisoformat(day_from) - timedelta(days=2)
    end = date.fromisoformat(day_to) + timedelta(days=2)
    out = {}
    for site in sites:
        lo, _ = day_bounds_ms(start, site["timezone"])
        _, hi = day_bounds_ms(end, site["timezone"])
        out[site["id"]] = offset_plan(site["timezone"], lo, hi)
    return out


def day_of_number(number: int) -> str:
    """Return the YYYY-MM-DD of a local day number (days since 1970-01-01)."""
    return (EPOCH + timedelta(days=number)).isoformat()


def split_by_day(start: int, end: int, tz: str):
    """Yield (local day, ms) pieces of an interval cut at the zone's midnights."""
    if end <= start:
        return
    first = _local_day_of_hour(start // 3_600_000, tz)
    b0, b1 = _bounds(first, tz)
    if b0 <= start and end <= b1:  # most sessions and pauses fit in one day
        yield first, end - start
        return
    day = date.fromisoformat(local_day(start, tz))
    at = start
    while at < end:
        _, day_end = _bounds(day.isoformat(), tz)
        piece_end = min(end, day_end)
        yield day.isoformat(), piece_end - at
        at = piece_end
        day += timedelta(days=1)


def days_between(day_from: str, day_to: str) -> list[str]:
    """Return every day of a period as YYYY-MM-DD."""
    first, last = date.fromisoformat(day_from), date.fromisoformat(day_to)
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


# --- daily partials ---------------------------------------------------------------------------

@lru_cache(maxsize=65536)
def _local_day_of_hour(hour: int, tz: str) -> str:
    """Return the local day of a UTC hour (every zone's midnight falls on a whole UTC hour's edge
    or inside it; the caller checks the day's bounds)."""
    return local_day(hour * 3_600_000, tz)


@lru_cache(maxsize=4096)
def _bounds(day: str, tz: str) -> tuple[int, int]:
    """Return [start, end) in UTC ms of a local day (cached: reports ask for the same days)."""
    return day_bounds_ms(day, tz)


def _serving_pieces(d0: int, d1: int, n: int, sum_start: int, sum_end: int, tz: str):
    """Yield (day, ms) of n services that all started on local day d0 and ended on day d1."""
    if d0 == d1:
        yield day_of_number(d0), sum_end - sum_start
        return
    # Each service is cut at the midnights between its start and its end.
    yield day_of_number(d0), n * _bounds(day_of_number(d0), tz)[1] - sum_start
    for number in range(d0 + 1, d1):
        b0, b1 = _bounds(day_of_number(number), tz)
        yield day_of_number(number), n * (b1 - b0)
    yield day_of_number(d1), sum_end - n * _bounds(day_of_number(d1), tz)[0]


# The counters report_counters adds up (the rest come from ratings and desk time).
SQL_COUNTERS = kpi.COUNTERS[:kpi.COUNTERS.index("ratings")]
# The column of report_times that groups each dimension's waits and service times.
TIME_KEYS = {"service": "service_id", "desk": "desk_id", "official": "user_id",
             "priority": "priority", "hour": "hour"}


def compute_partials(db, sites: list[dict], day_from: str, day_to: str, dimensions,  # noqa: C901
                     now_ms: int) -> dict[str, dict[tuple[int, str], dict]]:
    """Compute, per dimension, the partials of every site and day of a period from the tickets."""
    if isinstance(dimensions, str):
        dimensions = (dimensions,)
    by_id = {s["id"]: s for s in sites}
    site_ids = sorted(by_id)
    plans = plans_for(sites, day_from, day_to)
    take_turns = TakeTurns()  # a period of many sites is read row by row for seconds
    wanted = set(days_between(day_from, day_to))
    out = {dim: {(s, d): {} for s in site_ids for d in wanted} for dim in dimensions}
    bands = [m * 60_000 for m in kpi.WAIT_BANDS_MINUTES]
    extra = [0] * (len(kpi.COUNTERS) - len(SQL_COUNTERS))
    # The day before the period is read too: its services may run past midnight into it.
    previous = (date.fromisoformat(day_from) - timedelta(days=1)).isoformat()

    # Desk time (logged in, paused) cut at each local midnight, once for every dimension.
    lo = min(_bounds(day_from, s["timezone"])[0] for s in sites)
    hi = max(_bounds(day_to, s["timezone"])[1] for s in sites)
    sessions, pauses = store.report_desk_time(db, site_ids, lo, hi, now_ms)
    desk_pieces, desk_totals = [], {}
    for rows, counter in ((sessions, "logged_in_ms"), (pauses, "paused_ms")):
        for row in rows:
            tz = by_id[row["site_id"]]["timezone"]
            for day, ms in split_by_day(row["started_at"], min(row["ended_at"], now_ms), tz):
                if day in wanted:
                    desk_pieces.append((row["site_id"], day, row["desk_id"], row["user_id"],
                                        counter, ms))
                    key = (row["site_id"], day, counter)
                    desk_totals[key] = desk_totals.get(key, 0) + ms

    for dim in dimensions:
        parts = out[dim]

        def tally(site_id: int, day: str, key, parts=parts) -> kpi.Tally:
            """Return (creating) the tally of a group on a site's day."""
            return _tally(parts[(site_id, day)], key)

        def desk_key(key, dim=dim):
            """Return the group desk time belongs to in this dimension."""
            if dim in ("desk", "official"):
                return key
            return None if dim == "total" else OCCUPANCY_ONLY

        for row in store.report_counters(db, site_ids, previous, day_to, dim, plans, now_ms, bands):
            take_turns()
            site_id, day, key, d0, d1 = row["site_id"], row["day"], row["k"], row["d0"], row["d1"]
            if day in wanted:
                tally(site_id, day, key).add_counts([row[name] for name in SQL_COUNTERS] + extra)
            serve_n, serve_start, serve_end = row["serve_n"], row["serve_start_sum"], row["serve_end_sum"]
            if serve_n:
                tz = by_id[site_id]["timezone"]
                for piece_day, ms in _serving_pieces(d0, d1, serve_n, serve_start, serve_end, tz):
                    if piece_day in wanted:
                        tally(site_id, piece_day, desk_key(key)).bump("serving_ms", ms)
        for site_id, day, key, count, score_sum, *scores in store.report_ratings(
                db, site_ids, day_from, day_to, dim, plans):
            t = tally(site_id, day, key)
            t.bump("ratings", count)
            t.bump("score_sum", score_sum)
            for n, c in enumerate(scores, start=1):
                t.bump(f"score_{n}", c)
        field = {"desk": 2, "official": 3}.get(dim)
        if field is None:
            for (site_id, day, counter), ms in desk_totals.items():
                tally(site_id, day, desk_key(None)).bump(counter, ms)
        else:
            for piece in desk_pieces:
                tally(piece[0], piece[1], piece[field]).bump(piece[4], piece[5])

    # Waits and service times go into histograms: one read serves every dimension.
    routes = [(out[dim], TIME_KEYS.get(dim)) for dim in dimensions]
    for row in store.report_times(db, site_ids, day_from, day_to, plans):
        take_turns()
        site_id, day, wait, served = row["site_id"], row["day"], row["wait"], row["service"]
        for parts, column in routes:
            groups = parts[(site_id, day)]
            key = row[column] if column is not None else None
            t = groups.get(key)
            if t is None:
                t = groups[key] = kpi.Tally()
            t.waits.add(wait)
            if served is not None:
                t.services.add(served)
    return out


FORMAT = 3  # of a stored partial


def encode(groups: dict, exact: bool = True) -> str:
    """Serialise a period's groups (counters and histograms) as compact JSON."""
    entries = [[list(key) if isinstance(key, tuple) else key, t.encode(exact)]
               for key, t in groups.items()]
    return json.dumps({"v": FORMAT, "groups": entries}, separators=(",", ":"))


def decode(data: str) -> dict | None:
    """Read a stored period's groups back (None for a format this version does not read).

    orjson reads the stored text four times faster than the standard library (a year's
    report decodes 3,600 to 110,000 of them); ``encode`` keeps the standard library's
    output, so stored summaries stay byte for byte what they were.
    """
    doc = orjson.loads(data)
    if not isinstance(doc, dict) or doc.get("v") != FORMAT:
        return None
    return {tuple(key) if isinstance(key, list) else key: kpi.Tally.decode(t)
            for key, t in doc["groups"]}


def seal_horizon(db, sites: list[dict], now_ms: int) -> dict[int, str]:
    """Return per site the first day that may still change (earlier days can be sealed)."""
    horizon = {}
    open_work = store.open_work_horizon(db, [s["id"] for s in sites])
    for site in sites:
        tz = site["timezone"]
        limits = [local_day(now_ms, tz)]
        work = open_work[site["id"]]
        if work["open_day"]:
            limits.append(work["open_day"])
        if work["open_session_ms"] is not None:
            limits.append(local_day(work["open_session_ms"], tz))
        horizon[site["id"]] = min(limits)
    return horizon


def _months_within(day_from: str, day_to: str) -> list[str]:
    """Return the months (YYYY-MM) wholly inside a period."""
    first, last = date.fromisoformat(day_from), date.fromisoformat(day_to)
    month = first.replace(day=1) if first.day == 1 else \
        (first.replace(day=1) + timedelta(days=32)).replace(day=1)
    out = []
    while True:
        end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        if end > last:
            return out
        out.append(month.isoformat()[:7])
        month = end + timedelta(days=1)


def _month_days(month: str) -> tuple[str, str]:
    """Return the first and last day of a month (YYYY-MM)."""
    first = date.fromisoformat(month + "-01")
    return first.isoformat(), ((first + timedelta(days=32)).replace(day=1)
                               - timedelta(days=1)).isoformat()


def _uncovered_ranges(day_from: str, day_to: str, months_of: dict[int, set]):
    """Return the runs of days of a period that some site has no month summary for."""
    common = set.intersection(*months_of.values()) if months_of else set()
    ranges, start, previous = [], None, None
    for day in days_between(day_from, day_to):
        if day[:7] in common:
            if start is not None:
                ranges.append((start, previous))
                start = None
        elif start is None:
            start = day
        previous = day
    if start is not None:
        ranges.append((start, previous))
    return ranges


def iter_partials(db, sites: list[dict], day_from: str, day_to: str, dimension: str,  # noqa: C901
                  now_ms: int, months: bool = True):
    """Yield the partials of a period one by one: ((site id, period), groups).

    Sealed months and days come as stored, the rest is computed now. The
    period is (site id, day) or, for a sealed month wholly inside the period
    (unless ``months`` is False), (site id, YYYY-MM). Each stored partial is
    decoded only when its turn comes, so a year's report holds one decoded
    partial at a time, not all of them. Days not sealed are computed from
    the tickets on every request and never stored: only an explicit seal
    stores figures, and a sealed day never changes by itself.
    """
    site_ids = [s["id"] for s in sites]
    months_of: dict[int, set] = {s: set() for s in site_ids}
    covered: set[tuple[int, str]] = set()
    if months:
        wanted_months = _months_within(day_from, day_to)
        rows = store.month_partials(db, site_ids, dimension, wanted_months) if wanted_months else []
        for site_id, month, _tz, data in rows:
            groups = decode(data)
            if groups is not None:
                months_of[site_id].add(month)
                yield (site_id, month), groups
    for lo, hi in _uncovered_ranges(day_from, day_to, months_of):
        for site_id, day, _tz, data in store.report_partials(db, site_ids, dimension, lo, hi):
            if day[:7] in months_of[site_id]:
                continue
            groups = decode(data)
            if groups is not None:
                covered.add((site_id, day))
                yield (site_id, day), groups
    missing: dict[int, list[str]] = {}
    for site in sites:
        last = min(day_to, local_day(now_ms, site["timezone"]))
        months_here = months_of[site["id"]]
        for day in days_between(day_from, last) if day_from <= last else []:
            if (site["id"], day) not in covered and day[:7] not in months_here:
                missing.setdefault(site["id"], []).append(day)
    if not missing:
        return
    todo = [s for s in sites if s["id"] in missing]
    first = min(min(days) for days in missing.values())
    last = max(max(days) for days in missing.values())
    fresh = compute_partials(db, todo, first, last, dimension, now_ms)[dimension]
    for (site_id, day), groups in fresh.items():
        if day in missing.get(site_id, ()):
            yield (site_id, day), groups


def day_partials(db, sites: list[dict], day_from: str, day_to: str, dimension: str,
                 now_ms: int, months: bool = True) -> dict[tuple[int, str], dict]:
    """Return the partials of a period as one mapping (see ``iter_partials``)."""
    return dict(iter_partials(db, sites, day_from, day_to, dimension, now_ms, months))


def seal(db, sites: list[dict], day_from: str, day_to: str, now_ms: int, *,
         user_id: int | None = None, reason: str = "", again: bool = False) -> int:
    """Store for good the figures of every closed day of a period (all dimensions); return how many.

    A day is closed when its tickets and desk sessions can no longer change
    (``seal_horizon``). Days already sealed are left as they are unless
    ``again`` (an explicit, audited re-computation: ``reseal``). A month whose
    days are all sealed is rolled up into one stored summary per dimension.
    """
    horizon = seal_horizon(db, sites, now_ms)
    by_id = {s["id"]: s for s in sites}
    first, last = date.fromisoformat(day_from), date.fromisoformat(day_to)
    sealed_count = 0
    while first <= last:
        end = min(last, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1))
        lo, hi = first.isoformat(), end.isoformat()
        done = store.sealed_days(db, list(by_id), lo, hi)
        todo = {s["id"]: [d for d in days_between(lo, hi)
                          if d < horizon[s["id"]] and (again or (s["id"], d) not in done)]
                for s in sites}
        todo = {k: v for k, v in todo.items() if v}
        if todo:
            chosen = [by_id[k] for k in todo]
            fresh = compute_partials(db, chosen, min(min(v) for v in todo.values()),
                                     max(max(v) for v in todo.values()), DIMENSIONS, now_ms)
            rows, seals = [], []
            for site_id, days in todo.items():
                tz = by_id[site_id]["timezone"]
                for day in days:
                    seals.append((site_id, day, now_ms, user_id, reason))
                    for dim in DIMENSIONS:
                        rows.append((site_id, day, dim, tz, encode(fresh[dim][(site_id, day)]),
                                     now_ms))
            with immediate(db):
                # A day is claimed by recording its seal: a run that finds it sealed meanwhile
                # (the end of the day started on two machines) stores nothing for it.
                claimed = store.seal_days(db, seals, again=again)
                store.save_report_partials(db, [row for row in rows if (row[0], row[1]) in claimed])
                month = lo[:7]
                for site_id in sorted({site_id for site_id, _day in claimed}):
                    store.forget_month_partials(db, site_id, month)
                    _roll_up_month(db, by_id[site_id], month, now_ms)
            sealed_count += len(claimed)
        first = end + timedelta(days=1)
    return sealed_count


def _roll_up_month(db, site: dict, month: str, now_ms: int) -> None:
    """Store a month's summary per dimension once every day of it is sealed."""
    first, last = _month_days(month)
    if store.count_sealed_days(db, site["id"], first, last) < len(days_between(first, last)):
        return
    rows = []
    for dim in DIMENSIONS:
        groups: dict = {}
        for _site, day, _tz, data in store.report_partials(db, [site["id"]], dim, first, last):
            weekday = date.fromisoformat(day).weekday()
            for key, t in (decode(data) or {}).items():
                if dim == "hour" and key not in (None, OCCUPANCY_ONLY):
                    key = (weekday, key)  # the heat map keeps the weekday of each hour
                _tally(groups, key).add(t)
        # A month is read for long periods: its longer histograms are kept as buckets only.
        rows.append((site["id"], month, dim, site["timezone"], encode(groups, exact=False), now_ms))
    store.save_month_partials(db, rows)


def seal_recent(db, now_ms: int, days: int = 62) -> int:
    """Seal the recent closed days of every site (the close-day hook); return how many were sealed."""
    sites = store.list_sites(db)
    if not sites:
        return 0
    today = date.fromisoformat(local_day(now_ms, sites[0]["timezone"]))
    return seal(db, sites, (today - timedelta(days=days)).isoformat(),
                (today - timedelta(days=1)).isoformat(), now_ms, reason="close-day")


def reseal(db, sites: list[dict], day_from: str, day_to: str, now_ms: int, user_id: int | None,
           reason: str) -> dict:
    """Compute the sealed figures of a period again from the tickets: explicit, and audited."""
    if not isinstance(reason, str) or not reason.strip():
        raise Invalid(_l("Escriba el motivo del nuevo cálculo."), code="invalid_reason")
    before = summary(db, sites, day_from, day_to, "day", now_ms)["totals"]
    count = seal(db, sites, day_from, day_to, now_ms, user_id=user_id, reason=reason.strip(),
                 again=True)
    after = summary(db, sites, day_from, day_to, "day", now_ms)["totals"]
    changed = {k: {"before": before[k], "after": after[k]} for k in after if before[k] != after[k]}
    detail = {"from": day_from, "to": day_to, "sites": [s["code"] for s in sites],
              "days": count, "reason": reason.strip(), "changed": changed}
    with immediate(db):
        store.audit(db, now_ms, user_id, "reports.reseal", ",".join(s["code"] for s in sites),
                    detail)
    return detail


# --- merging into rows ---------------------------------------------------------------------------

def _tally(groups: dict, key) -> kpi.Tally:
    """Return (creating) the tally of one group."""
    if key not in groups:
        groups[key] = kpi.Tally()
    return groups[key]


def merge(partials, keyfunc, *, on_period=None) -> tuple[dict, kpi.Tally]:
    """Merge partials (a mapping or ((site, period), groups) pairs) into groups and their total.

    Groups are keyed by ``keyfunc(site_id, period, key)``, and
    ``on_period(site_id, period)`` hears each period as it goes by.
    """
    groups: dict = {}
    desk_time = kpi.Tally()
    pairs = partials.items() if isinstance(partials, dict) else partials
    take_turns = TakeTurns()
    for (site_id, period), period_groups in pairs:
        take_turns()
        if on_period is not None:
            on_period(site_id, period)
        for key, t in period_groups.items():
            if key == OCCUPANCY_ONLY:
                desk_time.add(t)
                continue
            _tally(groups, keyfunc(site_id, period, key)).add(t)
    total = kpi.Tally()
    for t in groups.values():
        total.add(t)
    total.add(desk_time)
    return groups, total


class Labels:
    """Names of the things a report groups by, read once per report."""

    def __init__(self, db, sites: list[dict]):
        self.db = db
        self.sites = {s["id"]: s for s in sites}
        self.many = len(sites) > 1

    # Each table is read only when the grouping asks for it: a national report by service
    # need not read the desks of 300 sites.
    @cached_property
    def services(self) -> dict:
        """The services of the report's sites by id."""
        return {sv["id"]: sv for sv in store.services_of_sites(self.db, list(self.sites))}

    @cached_property
    def desks(self) -> dict:
        """The desks of the report's sites by id."""
        return {d["id"]: d for s in self.sites for d in store.list_desks(self.db, s)}

    @cached_property
    def users(self) -> dict:
        """Every user by id."""
        return {u["id"]: u for u in store.list_users(self.db)}

    @cached_property
    def categories(self) -> dict:
        """The priority categories by code."""
        return {c["code"]: c for c in store.list_categories(self.db)}

    def _site_prefix(self, site_id: int) -> str:
        """Return ``Site · `` when the report covers several sites."""
        return f"{self.sites[site_id]['name']} · " if self.many else ""

    def row_head(self, group_by: str, key) -> dict:
        """Return a row's key, label, site and sort order."""
        if group_by == "service":
            sv = self.services.get(key)
            if sv is None:
                return {"key": str(key), "label": str(key), "site": None, "_sort": (9, 0, "")}
            site = self.sites[sv["site_id"]]
            return {"key": f"{site['code']}:{sv['code']}", "site": site["code"],
                    "label": f"{self._site_prefix(site['id'])}{sv['code']} — {sv['name']}",
                    "target_wait_seconds": float(sv["target_wait_seconds"]),
                    "_sort": (site["id"], sv["sort_order"], sv["code"])}
        if group_by == "desk":
            desk = self.desks.get(key)
            if desk is None:
                return {"key": None, "label": _("Sin módulo (no llamados)"), "site": None,
                        "_sort": (10**9, 0, "")}
            site = self.sites[desk["site_id"]]
            number = int(desk["code"]) if desk["code"].isdigit() else 10**6
            return {"key": f"{site['code']}:{desk['code']}", "site": site["code"],
                    "label": f"{self._site_prefix(site['id'])}{desk['name']}",
                    "_sort": (site["id"], number, desk["code"])}
        if group_by == "official":
            user = self.users.get(key)
            if user is None:
                return {"key": None, "label": _("Sin servidor (no llamados)"), "site": None,
                        "_sort": (1, "")}
            return {"key": user["username"], "site": None,
                    "label": user["display_name"] or user["username"],
                    "_sort": (0, (user["display_name"] or user["username"]).lower())}
        if group_by == "priority":
            if key is None:
                return {"key": "general", "label": _("General"), "site": None, "_sort": (-1, "")}
            cat = self.categories.get(key)
            return {"key": key, "label": cat["label"] if cat else key, "site": None,
                    "_sort": (cat["sort_order"] if cat else 999, key)}
        if group_by == "site":
            site = self.sites[key]
            return {"key": site["code"], "label": site["name"], "site": site["code"],
                    "_sort": (site["name"].lower(), site["id"])}
        if group_by == "hour":
            return {"key": key, "label": f"{key:02d}:00–{key:02d}:59", "site": None, "_sort": key}
        return {"key": key, "label": key, "site": None, "_sort": key}


def summary(db, sites: list[dict], day_from: str, day_to: str, group_by: str, now_ms: int,
            labels: Labels | None = None) -> dict:
    """Return a period's report: one row per group and the totals, times in seconds."""
    labels = labels or Labels(db, sites)
    dimension = "total" if group_by in ("day", "site") else group_by
    partials = iter_partials(db, sites, day_from, day_to, dimension, now_ms,
                             months=group_by != "day")
    periods: list[tuple[int, str]] = []
    if group_by == "hour":
        # Every partial goes into its (weekday, hour) cell of the heat map once; the hours are
        # the sums of their seven cells (a year of 300 sites: 168 merges instead of 600,000).
        cells, total = merge(partials, _weekday_hour,
                             on_period=lambda *period: periods.append(period))
        groups: dict = {}
        for (_weekday, hour), t in cells.items():
            _tally(groups, hour).add(t)
    else:
        keyfunc = {"day": lambda site_id, day, key: day,
                   "site": lambda site_id, period, key: site_id}.get(
            group_by, lambda site_id, period, key: key)
        groups, total = merge(partials, keyfunc, on_period=lambda *period: periods.append(period))
    rows = []
    take_turns = TakeTurns()
    for key, t in groups.items():
        take_turns()
        row = labels.row_head(group_by, key)
        row.update(kpi.figures(t))
        rows.append(row)
    rows.sort(key=lambda r: r.pop("_sort"))
    return {"group_by": group_by, "from": day_from, "to": day_to,
            "sites": [s["code"] for s in sites], "rows": rows,
            "totals": kpi.figures(total), "_total": total, "_periods": periods,
            "_heatmap": _heatmap_cells(cells) if group_by == "hour" else None}


def _weekday_hour(site_id, period, key):
    """Return the (weekday, hour) of an hour partial's key (a month's keeps its weekday)."""
    if isinstance(key, tuple):
        return key
    return (date.fromisoformat(period).weekday(), key)


def _heatmap_cells(groups: dict) -> list[dict]:
    """Return the mean wait and count per weekday and hour from groups keyed by (weekday, hour)."""
    cells = []
    for (weekday, hour), t in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        figures = kpi.figures(t)
        cells.append({"weekday": weekday, "hour": hour, "issued": figures["issued"],
                      "wait_mean": figures["wait_mean"], "called": figures["called"]})
    return cells


def wait_distribution(total: kpi.Tally) -> list[dict]:
    """Return how many called segments waited within each band of minutes."""
    return kpi.wait_bands(total)
