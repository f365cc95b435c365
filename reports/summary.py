"""Evaluation reports: a period's figures per service, desk, official, priority, hour or day.

A report is the merge of *daily partials*: for each site and local day, the
counters and sorted times of each group (see ``shared.kpi.Tally``). Past days
whose tickets are all closed and whose desk sessions have ended cannot change
any more, so their partials are stored once (``report_partials``) and a year
reads about 1,300 small rows instead of 1.5 million tickets; today and any day
still open are computed from the tickets on every request, by the same code.
A new rating drops its day's stored partials (``store.insert_rating``).
"""

import binascii
import json
import sys
from array import array
from bisect import bisect_left
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from shared import kpi, store
from shared.db import immediate
from shared.errors import Forbidden, Invalid, not_found
from shared.timefmt import day_bounds_ms, local_day, zone

GROUPS = ("service", "desk", "official", "priority", "hour", "day")
DIMENSIONS = ("service", "desk", "official", "priority", "hour", "total")
PRESETS = ("day", "week", "month", "quarter", "custom")
MAX_DAYS = 1100
DAY_MS = 86_400_000
EPOCH = date(1970, 1, 1)
OCCUPANCY_ONLY = "*"   # partial key holding desk time in dimensions that are not desks or officials
WAIT_BINS_MINUTES = (5, 10, 15, 20, 30, 45, 60, 90)
WEEKDAYS = (_l("Lunes"), _l("Martes"), _l("Miércoles"), _l("Jueves"), _l("Viernes"), _l("Sábado"),
            _l("Domingo"))


# --- the question: who asks, which sites, which days -------------------------------------

def parse_day(value, field: str) -> date:
    """Parse a YYYY-MM-DD query value or refuse it."""
    try:
        return date.fromisoformat(value)
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
        raise Invalid(_l("Agrupación no válida: use service, desk, official, priority, hour o day."),
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
    return round(datetime.fromtimestamp(ms / 1000, timezone.utc).astimezone(zone(tz))
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

@lru_cache(maxsize=4096)
def _bounds(day: str, tz: str) -> tuple[int, int]:
    """Return [start, end) in UTC ms of a local day (cached: reports ask for the same days)."""
    return day_bounds_ms(day, tz)


def _ints(text: str | None) -> list[int]:
    """Parse a comma-separated list of integers (SQLite group_concat) into a sorted list."""
    if not text:
        return []
    values = list(map(int, text.split(",")))
    values.sort()
    return values


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


def compute_partials(db, sites: list[dict], day_from: str, day_to: str, dimension: str,
                     now_ms: int) -> dict[tuple[int, str], dict]:
    """Compute the partials of every site and day of a period from the tickets and desk time."""
    by_id = {s["id"]: s for s in sites}
    site_ids = sorted(by_id)
    plans = plans_for(sites, day_from, day_to)
    wanted = set(days_between(day_from, day_to))
    out: dict[tuple[int, str], dict] = {(s, d): {} for s in site_ids for d in wanted}

    def tally(site_id: int, day: str, key) -> kpi.Tally:
        """Return (creating) the tally of a group on a site's day."""
        groups = out[(site_id, day)]
        if key not in groups:
            groups[key] = kpi.Tally()
        return groups[key]

    def desk_key(key):
        """Return the group desk time belongs to in this dimension."""
        if dimension in ("desk", "official"):
            return key
        return None if dimension == "total" else OCCUPANCY_ONLY

    names = ("issued", "visits", "transferred_in", "called", "served", "no_shows", "abandoned",
             "cancelled", "transferred", "recalls", "walk_ms", "walk_n", "centre_ms", "centre_n")
    # The day before the period is read too: its services may run past midnight into it.
    previous = (date.fromisoformat(day_from) - timedelta(days=1)).isoformat()
    for row in store.report_segments(db, site_ids, previous, day_to, dimension, plans, now_ms):
        site_id, day, key, service_id, d0, d1 = row[:6]
        if day in wanted:
            t = tally(site_id, day, key)
            counts = t.counts
            for name, value in zip(names, row[6:20]):
                if value:
                    counts[name] += value
            if row[23]:
                t.waits.setdefault(service_id, []).append(_ints(row[23]))
            if row[24]:
                t.services.append(_ints(row[24]))
        if row[20]:
            tz = by_id[site_id]["timezone"]
            for piece_day, ms in _serving_pieces(d0, d1, row[20], row[21], row[22], tz):
                if piece_day in wanted:
                    tally(site_id, piece_day, desk_key(key)).counts["serving_ms"] += ms
    for site_id, day, key, count, score_sum in store.report_ratings(db, site_ids, day_from, day_to,
                                                                    dimension, plans):
        t = tally(site_id, day, key)
        t.counts["ratings"] += count
        t.counts["score_sum"] += score_sum
    lo = min(_bounds(day_from, s["timezone"])[0] for s in sites)
    hi = max(_bounds(day_to, s["timezone"])[1] for s in sites)
    sessions, pauses = store.report_desk_time(db, site_ids, lo, hi, now_ms)
    field = {"desk": "desk_id", "official": "user_id"}.get(dimension)
    for rows, counter in ((sessions, "logged_in_ms"), (pauses, "paused_ms")):
        for row in rows:
            tz = by_id[row["site_id"]]["timezone"]
            group = desk_key(row[field] if field else None)
            for day, ms in split_by_day(row["started_at"], min(row["ended_at"], now_ms), tz):
                if day in wanted:
                    tally(row["site_id"], day, group).counts[counter] += ms
    return out


FORMAT = 2  # of a stored partial; another format is read as missing and computed again


def encode(groups: dict) -> str:
    """Serialise a day's groups: counters in JSON, every time in one base64 block of int64 (LE)."""
    values = array("q")
    entries = []
    for key, t in groups.items():
        t.compact()
        waits = []
        for service_id, runs in t.waits.items():
            if runs:
                waits.append([service_id, len(values), len(runs[0])])
                values.extend(runs[0])
        services = [len(values), len(t.services[0]) if t.services else 0]
        if t.services:
            values.extend(t.services[0])
        entries.append([key, [t.counts[c] for c in kpi.COUNTERS], waits, services])
    if sys.byteorder == "big":
        values.byteswap()
    return json.dumps({"v": FORMAT, "groups": entries,
                       "values": binascii.b2a_base64(values.tobytes(), newline=False).decode()},
                      separators=(",", ":"))


def decode(data: str) -> dict | None:
    """Read a stored day's groups back (None for a format this version does not read)."""
    doc = json.loads(data)
    if not isinstance(doc, dict) or doc.get("v") != FORMAT:
        return None
    values = array("q")
    values.frombytes(binascii.a2b_base64(doc["values"]))
    if sys.byteorder == "big":
        values.byteswap()
    groups = {}
    for key, counts, waits, (start, size) in doc["groups"]:
        t = kpi.Tally()
        t.counts = dict(zip(kpi.COUNTERS, counts))
        t.waits = {sid: [values[at:at + n]] for sid, at, n in waits}
        t.services = [values[start:start + size]] if size else []
        groups[key] = t
    return groups


def seal_horizon(db, sites: list[dict], now_ms: int) -> dict[int, str]:
    """Return per site the first day that may still change (earlier days can be stored)."""
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


def day_partials(db, sites: list[dict], day_from: str, day_to: str, dimension: str,
                 now_ms: int) -> dict[tuple[int, str], dict]:
    """Return the partials of a period: stored ones for sealed days, the rest computed now."""
    site_ids = [s["id"] for s in sites]
    by_id = {s["id"]: s for s in sites}
    found: dict[tuple[int, str], dict] = {}
    for site_id, day, tz, data in store.report_partials(db, site_ids, dimension, day_from, day_to):
        groups = decode(data) if tz == by_id[site_id]["timezone"] else None
        if groups is not None:
            found[(site_id, day)] = groups
    missing: dict[int, list[str]] = {}
    for site in sites:
        last = min(day_to, local_day(now_ms, site["timezone"]))
        for day in days_between(day_from, last) if day_from <= last else []:
            if (site["id"], day) not in found:
                missing.setdefault(site["id"], []).append(day)
    if not missing:
        return found
    todo = [by_id[s] for s in missing]
    first = min(min(days) for days in missing.values())
    last = max(max(days) for days in missing.values())
    fresh = compute_partials(db, todo, first, last, dimension, now_ms)
    horizon = seal_horizon(db, todo, now_ms)
    rows = []
    for (site_id, day), groups in fresh.items():
        if day not in missing[site_id]:
            continue
        found[(site_id, day)] = groups
        if day < horizon[site_id]:
            rows.append((site_id, day, dimension, by_id[site_id]["timezone"], encode(groups), now_ms))
    if rows:
        _store(db, rows)
    return found


def _store(db, rows: list[tuple]) -> None:
    """Keep sealed partials; a busy database only costs the next report its recomputation."""
    from shared.db import OperationalError

    try:
        with immediate(db):
            store.save_report_partials(db, rows)
    except OperationalError:
        pass


def seal(db, sites: list[dict], day_from: str, day_to: str, now_ms: int) -> None:
    """Store the partials of every dimension for the closed days of a period, a month at a time."""
    first, last = date.fromisoformat(day_from), date.fromisoformat(day_to)
    while first <= last:
        end = min(last, first + timedelta(days=30))
        for dimension in DIMENSIONS:
            day_partials(db, sites, first.isoformat(), end.isoformat(), dimension, now_ms)
        first = end + timedelta(days=1)


def seal_recent(db, now_ms: int, days: int = 62) -> int:
    """Store the partials of the recent closed days of every site (the close-day hook)."""
    sites = store.list_sites(db)
    if not sites:
        return 0
    today = date.fromisoformat(local_day(now_ms, sites[0]["timezone"]))
    seal(db, sites, (today - timedelta(days=days)).isoformat(),
         (today - timedelta(days=1)).isoformat(), now_ms)
    return len(sites)


# --- merging into rows ---------------------------------------------------------------------------

def merge(partials: dict, keyfunc) -> tuple[dict, kpi.Tally]:
    """Merge daily partials into groups (``keyfunc(site_id, day, key)``) and their total."""
    groups: dict = {}
    desk_time = kpi.Tally()
    for (site_id, day), day_groups in partials.items():
        for key, t in day_groups.items():
            if key == OCCUPANCY_ONLY:
                desk_time.add(t)
                continue
            group = keyfunc(site_id, day, key)
            if group not in groups:
                groups[group] = kpi.Tally()
            groups[group].add(t)
    total = kpi.Tally()
    for t in groups.values():
        t.compact()
        total.add(t)
    total.add(desk_time)
    return groups, total


class Labels:
    """Names of the things a report groups by, read once per report."""

    def __init__(self, db, sites: list[dict]):
        self.sites = {s["id"]: s for s in sites}
        self.many = len(sites) > 1
        self.services = {sv["id"]: sv for s in sites for sv in store.list_services(db, s["id"])}
        self.desks = {d["id"]: d for s in sites for d in store.list_desks(db, s["id"])}
        self.users = {u["id"]: u for u in store.list_users(db)}
        self.categories = {c["code"]: c for c in store.list_categories(db)}

    def targets_ms(self) -> dict[int, int]:
        """Return each service's target wait in ms."""
        return {i: s["target_wait_seconds"] * 1000 for i, s in self.services.items()}

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
        if group_by == "hour":
            return {"key": key, "label": f"{key:02d}:00–{key:02d}:59", "site": None, "_sort": key}
        return {"key": key, "label": key, "site": None, "_sort": key}


def summary(db, sites: list[dict], day_from: str, day_to: str, group_by: str, now_ms: int,
            labels: Labels | None = None) -> dict:
    """Return a period's report: one row per group and the totals, times in seconds."""
    labels = labels or Labels(db, sites)
    dimension = "total" if group_by == "day" else group_by
    partials = day_partials(db, sites, day_from, day_to, dimension, now_ms)
    keyfunc = (lambda site_id, day, key: day) if group_by == "day" else (lambda s, d, key: key)
    groups, total = merge(partials, keyfunc)
    targets = labels.targets_ms()
    rows = []
    for key, t in groups.items():
        row = labels.row_head(group_by, key)
        row.update(kpi.figures(t, targets))
        rows.append(row)
    rows.sort(key=lambda r: r.pop("_sort"))
    return {"group_by": group_by, "from": day_from, "to": day_to,
            "sites": [s["code"] for s in sites], "rows": rows,
            "totals": kpi.figures(total, targets), "_total": total, "_partials": partials}


def heatmap(partials_by_hour: dict, targets: dict) -> list[dict]:
    """Return the mean wait and count per weekday and hour from hour partials."""
    groups, _total = merge(partials_by_hour,
                           lambda site_id, day, key: (date.fromisoformat(day).weekday(), key))
    cells = []
    for (weekday, hour), t in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        figures = kpi.figures(t, targets)
        cells.append({"weekday": weekday, "hour": hour, "issued": figures["issued"],
                      "wait_mean": figures["wait_mean"], "called": figures["called"]})
    return cells


def wait_distribution(total: kpi.Tally) -> list[dict]:
    """Return how many called segments waited within each band of minutes."""
    runs = [r for rs in total.waits.values() for r in rs]
    edges = [m * 60_000 for m in WAIT_BINS_MINUTES]
    bins = []
    previous = 0
    lower = 0
    for minutes, edge in zip(WAIT_BINS_MINUTES, edges):
        below = sum(bisect_left(r, edge) for r in runs)
        bins.append({"from_minutes": lower, "to_minutes": minutes, "count": below - previous})
        previous, lower = below, minutes
    count = sum(len(r) for r in runs)
    bins.append({"from_minutes": lower, "to_minutes": None, "count": count - previous})
    return bins
