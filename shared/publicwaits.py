"""Public wait times of a city: each service point and service, live and typical, no login.

For each active site whose channel settings name the city (``city``): its
name and address, whether it is open, and for each active service the people
waiting, the live estimated wait of a ticket taken now (the same replay as the
kiosk's, ``shared.estimate``, with its range), whether it is open, whether it
takes appointments or tickets from a phone, and the **typical wait by weekday
and hour**: the mean wait (first call − arrival) of the walk-in tickets that
arrived in that hour on that weekday over the last eight weeks, with the
tickets per day, so a citizen can pick the time and the place. Cells with
fewer than three tickets are left out. (The local hour is taken with the
site's offset today: in a zone with daylight saving, history across a change
is off by an hour for part of the period; Colombia has none.)

**Cost.** A crowd reading the page must not load the server. The whole answer
of a city is built at most once every ``PUBLIC_CACHE_SECONDS`` (10 s), the
typical waits at most once an hour, and kept as ready JSON bytes with an ETag
(browsers and proxies may keep it as long: ``Cache-Control: public``). While one
request rebuilds it, the others of the process keep getting the previous copy
(one builder at a time). With several server processes (a message queue) the
copy lives in Redis and expires there, so every process answers the same bytes
and the same ETag until the next build (a citizen whose requests land on
different processes never sees the figures jump back); without Redis it lives
in the process.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, datetime

from flask import current_app

from . import channels, estimate, remote, store
from .cluster import current_cluster
from .queue import QueueEngine
from .timefmt import iso, zone

HISTORY_DAYS = 56
MIN_TICKETS = 3
TYPICAL_SECONDS = 3600
KEPT_PREFIX = "public:"

_memory: dict[str, tuple[float, bytes, str]] = {}   # key -> (built at, body, etag)
_building: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def typical(db, site: dict, now_ms: int) -> dict[int, list[dict]]:
    """Return per service id the typical wait cells ``{weekday, hour, wait_minutes, per_day}``."""
    offset = round(datetime.fromtimestamp(now_ms / 1000, UTC).astimezone(
        zone(site["timezone"])).utcoffset().total_seconds() * 1000)
    out: dict[int, list[dict]] = {}
    for service_id, weekday, hour, count, mean, days in store.typical_waits(
            db, site["id"], now_ms - HISTORY_DAYS * 86_400_000, now_ms, offset):
        if count < MIN_TICKETS:
            continue
        out.setdefault(service_id, []).append({
            "weekday": int(weekday), "hour": int(hour),
            "wait_minutes": round(float(mean) / 60_000, 1),
            "per_day": round(count / max(1, days), 1)})
    for cells in out.values():
        cells.sort(key=lambda c: (c["weekday"], c["hour"]))
    return out


def build(db, clock, city: str) -> dict | None:
    """Return the public wait times of a city now (None: no site lists this city)."""
    pairs = channels.city_sites(db, city)
    if not pairs:
        return None
    engine = QueueEngine(db, clock)
    now = clock.now_ms()
    sites = []
    for site, config in pairs:
        engine.lookup.remember(site=site)
        typical_by_service = _typical_cached(db, site, now)
        rows = {r["code"]: r for r in engine.waiting_summary(site)}
        offered = channels.appointment_services(config)
        services = []
        for service in store.list_services(db, site["id"], only_active=True):
            is_open = engine.is_open(site, service)
            outlook = estimate.new_ticket(db, site, service, False, now) if is_open else None
            services.append({
                "code": service["code"], "name": service["name"], "group": service["group_name"],
                "open": is_open, "waiting": rows[service["code"]]["waiting"],
                "estimated_wait_minutes": round(outlook["estimated_wait_seconds"] / 60, 1)
                if outlook else None,
                "estimated_wait_range_minutes": [round(x / 60, 1) for x in
                                                 outlook["estimated_wait_range_seconds"]]
                if outlook and outlook["estimated_wait_range_seconds"] else None,
                "appointments": service["code"] in offered,
                "remote": remote.availability(engine, site, service, config)["open"],
                "typical": typical_by_service.get(service["id"], []),
            })
        sites.append({"code": site["code"], "name": site["name"], "address": config["address"],
                      "open": engine.is_open(site), "services": services})
    city_name = next((c["city_name"] for _s, c in pairs if c["city_name"]), city)
    return {"city": city, "city_name": city_name, "updated_at": iso(now, pairs[0][0]["timezone"]),
            "sites": sites}


def _typical_cached(db, site: dict, now_ms: int) -> dict:
    """Return a site's typical waits, built at most once an hour (they change slowly)."""
    key = f"typical:{db.path}:{site['id']}"
    hit = _memory.get(key)
    if hit is not None and 0 <= now_ms / 1000 - hit[0] < TYPICAL_SECONDS:
        return {int(k): v for k, v in json.loads(hit[1]).items()}
    cells = typical(db, site, now_ms)
    _memory[key] = (now_ms / 1000, json.dumps(cells).encode(), "")
    return cells


def cached(db, clock, city: str) -> tuple[bytes, str] | None:
    """Return a city's public wait times as (JSON bytes, ETag), rebuilt at most every few seconds."""
    app = current_app
    ttl = float(app.config.get("PUBLIC_CACHE_SECONDS") or 0)
    key = f"{db.path}:{city}"
    cluster = current_cluster(app)
    shared = cluster.shared
    now = clock.now_ms() / 1000

    def fresh(entry) -> bool:
        return entry is not None and (shared or 0 <= now - entry[0] < ttl)

    hit = _read_shared(cluster, key) if shared else _memory.get(key)
    if fresh(hit):
        return hit[1], hit[2]
    with _guard:
        lock = _building.setdefault(key, threading.Lock())
    if hit is not None and not lock.acquire(blocking=False):
        return hit[1], hit[2]  # someone rebuilds it right now: the previous copy meanwhile
    if hit is None:
        lock.acquire()
    try:
        again = _read_shared(cluster, key) if shared else _memory.get(key)
        if fresh(again):
            return again[1], again[2]
        data = build(db, clock, city)
        if data is None:
            return None
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        entry = (now, body, etag)
        if shared:
            _write_shared(cluster, key, body, etag, ttl)
        else:
            _memory[key] = entry
        return body, etag
    finally:
        lock.release()


def _read_shared(cluster, key: str):
    """Return the copy kept in Redis (built at, body, etag), or None when absent or unreachable."""
    raw = cluster.kept(KEPT_PREFIX + key)
    if not raw:
        return None
    etag, _, body = raw.partition(b"\n")
    return 0.0, body, etag.decode()


def _write_shared(cluster, key: str, body: bytes, etag: str, ttl: float) -> None:
    """Keep a copy in Redis for every process, for ``ttl`` seconds."""
    cluster.keep(KEPT_PREFIX + key, etag.encode() + b"\n" + body, ttl)


def forget(cluster=None) -> None:
    """Drop this process's copies, and the copy every process reads when given the cluster
    (a site's settings changed)."""
    _memory.clear()
    if cluster is not None:
        cluster.drop_kept(KEPT_PREFIX)
