"""Generate a year of Turnos data for many sites, straight into a fresh instance database.

    python bench/gen_year.py --instance year-instance [--year 2025] [--sites 5] [--tickets 1500000]
                             [--no-events] [--no-seal]

National size (issue 11): ``--sites 300 --tickets 10000000 --no-events``.

Each working day of each site is simulated as a small queue: arrivals follow a
morning-heavy curve, officials hold desks with a lunch pause and a short
break, each desk calls the oldest waiting ticket of its services
(preferential first), and some citizens do not show up, are called again,
are transferred, cancelled, or still waiting at closing (abandoned). Tickets
(with the target in force), their events (unless ``--no-events``: reports
never read them), desk sessions, pauses and satisfaction ratings are written
with ``executemany`` in transactions of about 100,000 tickets. Then, as
close-day does each night, every closed day is sealed and each month rolled
up (``--no-seal`` skips it). The SQL is plain and portable and the connection
comes from ``shared.db``, so the same script can fill a PostgreSQL database;
only the SQLite speed-ups (``PRAGMA synchronous=OFF``) are SQLite's. The
result is a normal instance: ``python run.py serve --instance …`` opens it.
"""

import argparse
import heapq
import json
import math
import random
import secrets
import sqlite3
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared import layout  # noqa: E402
from shared.clock import FrozenClock  # noqa: E402
from shared.db import connect  # noqa: E402
from shared.timefmt import day_bounds_ms  # noqa: E402

SITES = (("cam-centro", "CAM Centro"), ("cam-norte", "CAM Norte"), ("cam-sur", "CAM Sur"),
         ("cam-oriente", "CAM Oriente"), ("cam-occidente", "CAM Occidente"))
# code, name, target minutes, mean service minutes, share of arrivals
SERVICES = (("A", "Impuesto predial", 15, 6.0, 0.30), ("B", "Industria y comercio", 20, 8.0, 0.15),
            ("C", "SISBÉN", 20, 10.0, 0.20), ("D", "Adulto mayor", 10, 7.0, 0.10),
            ("E", "Radicación de correspondencia", 10, 4.0, 0.15),
            ("F", "Licencias y planeación", 25, 9.0, 0.10))
DESK_SERVICES = ([["A", "B"]] * 6 + [["B", "A"]] * 3 + [["C", "D"]] * 4 + [["D", "C"]] * 2
                 + [["E", "F", "A"]] * 3 + [["F", "E"]] * 2)
CATEGORIES = ("adulto_mayor", "discapacidad", "gestante", "infancia", "veterano")
HOURLY = {7: 0.6, 8: 1.3, 9: 1.6, 10: 1.5, 11: 1.2, 12: 0.8, 13: 1.0, 14: 1.2, 15: 1.0, 16: 0.5}
WEEKDAY_FACTOR = (1.15, 1.0, 1.0, 0.95, 0.9)
MONTH_FACTOR = {1: 1.1, 2: 1.05, 3: 1.2, 4: 1.1, 12: 0.8}
SEC = 1000
MIN = 60 * SEC
FLUSH_TICKETS = 100_000  # tickets per write transaction (memory stays small at national size)
HOUR = 60 * MIN


def site_names(count: int) -> list[tuple[str, str]]:
    """Return the codes and names of the generated sites (the five CAMs, then numbered ones)."""
    names = list(SITES[:count])
    for n in range(len(names) + 1, count + 1):
        names.append((f"sede-{n:03d}", f"Sede {n:03d}"))
    return names


def layout_toml(count: int = len(SITES)) -> str:
    """Return the layout of the generated sites."""
    parts = []
    for code, name in site_names(count):
        parts.append(f'[[sites]]\ncode = "{code}"\nname = "{name}"\n'
                     'entity_name = "Alcaldía de Villa Esperanza"\ntimezone = "America/Bogota"\n')
        for scode, sname, target, mean, _share in SERVICES:
            parts.append(f'[[sites.services]]\ncode = "{scode}"\nprefix = "{scode}"\n'
                         f'name = "{sname}"\ntarget_wait_minutes = {target}\n'
                         f'default_service_minutes = {round(mean)}\n')
        for i, serves in enumerate(DESK_SERVICES, start=1):
            parts.append(f'[[sites.desks]]\ncode = "{i}"\nname = "Módulo {i}"\n'
                         f'services = {json.dumps(serves)}\n')
    return "\n".join(parts)


class Ids:
    """Hands out row ids so events can point at tickets without reading them back."""

    def __init__(self):
        self.ticket = 0
        self.session = 0

    def next_ticket(self) -> int:
        """Return the next ticket id."""
        self.ticket += 1
        return self.ticket

    def next_session(self) -> int:
        """Return the next desk session id."""
        self.session += 1
        return self.session


class Batch:
    """Rows waiting to be written."""

    def __init__(self, with_events: bool = True):
        self.tickets, self.events, self.sessions, self.pauses = [], [], [], []
        self.ratings, self.counters = [], []
        self.with_events = with_events

    def size(self) -> int:
        """Return how many tickets are waiting to be written."""
        return len(self.tickets)


def simulate_day(rng: random.Random, site: dict, day: date, ids: Ids, batch: Batch,
                 tickets_per_day: float) -> None:
    """Simulate one working day of one site and append its rows to the batch."""
    start_ms, _ = day_bounds_ms(day, "America/Bogota")
    open_ms, last_call_ms = start_ms + 7 * HOUR, start_ms + 17 * HOUR
    close_ms = start_ms + 17 * HOUR + 30 * MIN
    mean = tickets_per_day * WEEKDAY_FACTOR[day.weekday()] * MONTH_FACTOR.get(day.month, 1.0)
    n = max(0, round(rng.gauss(mean, math.sqrt(mean))))  # int() would drop half a visit a day
    weights = list(HOURLY.values())
    hours = rng.choices(list(HOURLY), weights=weights, k=n)
    arrivals = sorted(start_ms + h * HOUR + rng.randrange(HOUR if h < 16 else 45 * MIN) for h in hours)
    services = site["services"]
    shares = [s["share"] for s in services]
    numbers = {s["id"]: 0 for s in services}
    tickets: dict[int, dict] = {}
    events = []
    # Queues per service: preferential and general heaps of (queue_at, ticket id).
    queues = {s["id"]: ([], []) for s in services}
    heap: list[tuple[int, int, str, int]] = []  # (time, order, kind, ref)
    order = 0
    for at in arrivals:
        service = rng.choices(services, weights=shares)[0]
        numbers[service["id"]] += 1
        pref = rng.choice(CATEGORIES) if rng.random() < 0.15 else None
        tid = ids.next_ticket()
        public = secrets.token_urlsafe(12)
        tickets[tid] = {
            "id": tid, "public_id": public, "visit_id": public, "site_id": site["id"],
            "service_id": service["id"], "day": day.isoformat(), "number": numbers[service["id"]],
            "code": f"{'P' if pref else ''}{service['code']}-{numbers[service['id']]:03d}",
            "priority": pref, "status": "waiting", "queue_at": at, "issued_at": at,
            "called_at": None, "last_called_at": None, "recalls": 0, "started_at": None,
            "finished_at": None, "closed_at": None, "desk_id": None, "user_id": None,
            "origin_id": None, "previous_id": None,
            "cancel_at": at + rng.randrange(5 * MIN, 40 * MIN) if rng.random() < 0.006 else None,
        }
        events.append((tid, "issued", at, None, None, '{"priority":"%s"}' % pref if pref else "{}"))
        order += 1
        heapq.heappush(heap, (at, order, "arrive", tid))
    desks = []
    idle: set[int] = set()
    for i, desk in enumerate(site["desks"]):
        begin = open_ms + rng.randrange(0, 10 * MIN)
        lunch = start_ms + (12 if i % 2 == 0 else 13) * HOUR + rng.randrange(0, 15 * MIN)
        brk = start_ms + (10 if i % 3 else 15) * HOUR + rng.randrange(0, 30 * MIN)
        state = {"desk": desk, "session": ids.next_session(), "begin": begin, "end": None, "token": 0,
                 "pauses": sorted([(brk, 15 * MIN, "break"), (lunch, 60 * MIN, "lunch")])}
        desks.append(state)
    by_service = {s["id"]: [i for i, d in enumerate(desks) if s["id"] in d["desk"]["services"]]
                  for s in services}
    service_mean = {s["id"]: s["mean"] for s in services}

    def schedule(i: int, at: int) -> None:
        """Make desk i look for work at a time (cancelling its earlier wake-up)."""
        nonlocal order
        desks[i]["token"] += 1
        order += 1
        heapq.heappush(heap, (at, order, "desk", (i, desks[i]["token"])))

    for i, d in enumerate(desks):
        schedule(i, d["begin"])

    def pick(desk_state: dict, now: int) -> dict | None:
        """Return the next ticket a desk calls: preferential first, then its service order."""
        for kind in (0, 1):
            for service_id in desk_state["desk"]["services"]:
                q = queues[service_id][kind]
                while q:
                    _, tid = heapq.heappop(q)
                    t = tickets[tid]
                    if t["cancel_at"] is not None and t["cancel_at"] <= now:
                        t["status"], t["closed_at"] = "cancelled", t["cancel_at"]
                        events.append((tid, "cancelled", t["cancel_at"], None, None, "{}"))
                        continue
                    return t
        return None

    while heap:
        now, _, kind, ref = heapq.heappop(heap)
        if kind == "arrive":
            t = tickets[ref]
            heapq.heappush(queues[t["service_id"]][0 if t["priority"] else 1],
                           (t["queue_at"], t["id"]))
            for i in by_service[t["service_id"]]:
                if i in idle:
                    idle.discard(i)
                    schedule(i, now)
                    break
            continue
        ref, token = ref
        d = desks[ref]
        if token != d["token"]:  # a wake-up made stale by an earlier one
            continue
        desk_id, user_id = d["desk"]["id"], d["desk"]["user_id"]
        if now >= last_call_ms:
            d["end"] = now + rng.randrange(0, 5 * MIN)
            continue
        if d["pauses"] and now >= d["pauses"][0][0]:
            _, length, reason = d["pauses"].pop(0)
            batch.pauses.append((d["session"], reason, now, now + length))
            schedule(ref, now + length)
            continue
        t = pick(d, now)
        if t is None:
            idle.add(ref)
            schedule(ref, min([p[0] for p in d["pauses"]] + [last_call_ms]))
            continue
        t.update(status="called", called_at=now, last_called_at=now, desk_id=desk_id,
                 user_id=user_id)
        events.append((t["id"], "called", now, desk_id, user_id, '{"rule":"strict"}'))
        clock = now
        if rng.random() < 0.04:  # nobody comes: called again once or twice, then a no-show
            for _ in range(rng.choice((1, 2))):
                clock += rng.randrange(45 * SEC, 90 * SEC)
                t["recalls"] += 1
                t["last_called_at"] = clock
                events.append((t["id"], "recalled", clock, desk_id, user_id,
                               '{"recall":%d}' % t["recalls"]))
            clock += rng.randrange(30 * SEC, 60 * SEC)
            t.update(status="no_show", closed_at=clock)
            events.append((t["id"], "no_show", clock, desk_id, user_id, "{}"))
        else:
            if rng.random() < 0.08:
                clock += rng.randrange(30 * SEC, 60 * SEC)
                t["recalls"] += 1
                t["last_called_at"] = clock
                events.append((t["id"], "recalled", clock, desk_id, user_id, '{"recall":1}'))
            clock += rng.randrange(10 * SEC, 90 * SEC)
            t.update(status="serving", started_at=clock)
            events.append((t["id"], "started", clock, desk_id, user_id, "{}"))
            mean_ms = service_mean[t["service_id"]] * MIN
            clock += max(30 * SEC, int(rng.lognormvariate(math.log(mean_ms) - 0.125, 0.5)))
            if rng.random() < 0.03 and t["origin_id"] is None:
                target = rng.choice([s for s in services if s["id"] != t["service_id"]])
                t.update(status="transferred", finished_at=clock, closed_at=clock)
                nid = ids.next_ticket()
                tickets[nid] = dict(t, id=nid, public_id=secrets.token_urlsafe(12),
                                    service_id=target["id"], status="waiting", issued_at=clock,
                                    called_at=None, last_called_at=None, recalls=0,
                                    started_at=None, finished_at=None, closed_at=None,
                                    desk_id=None, user_id=None, origin_id=t["id"],
                                    previous_id=t["id"], cancel_at=None)
                events.append((t["id"], "transferred", clock, desk_id, user_id,
                               '{"to_ticket":%d,"to_service":"%s"}' % (nid, target["code"])))
                events.append((nid, "issued", clock, None, user_id,
                               '{"transferred_from":%d}' % t["id"]))
                order += 1
                heapq.heappush(heap, (clock, order, "arrive", nid))
            else:
                t.update(status="finished", finished_at=clock, closed_at=clock)
                events.append((t["id"], "finished", clock, desk_id, user_id, "{}"))
                if rng.random() < 0.3:
                    score = rng.choices((1, 2, 3, 4, 5), weights=(3, 4, 10, 35, 48))[0]
                    comment = rng.choice(("", "", "", "Muy amable", "Demorado", "Excelente atención"))
                    batch.ratings.append((t["visit_id"], t["id"], site["id"], t["day"], desk_id,
                                          score, comment, "survey", None,
                                          clock + rng.randrange(10 * SEC, 90 * SEC)))
        schedule(ref, clock + rng.randrange(5 * SEC, 30 * SEC))

    for t in tickets.values():
        if t["status"] == "waiting":
            t.update(status="abandoned", closed_at=close_ms)
            events.append((t["id"], "abandoned", close_ms, None, None,
                           '{"automatic":true,"reason":"close_day"}'))
    for d in desks:
        end = d["end"] or last_call_ms
        batch.sessions.append((d["session"], d["desk"]["id"], d["desk"]["user_id"], d["begin"],
                               max(end, d["begin"]), "logout"))
    targets = {s["id"]: s["target_wait_seconds"] for s in services}
    for t in tickets.values():
        batch.tickets.append((
            t["id"], t["public_id"], t["visit_id"], t["site_id"], t["service_id"], t["day"],
            t["number"], t["code"], t["priority"], t["status"], t["queue_at"], t["issued_at"],
            t["called_at"], t["last_called_at"], t["recalls"], t["started_at"], t["finished_at"],
            t["closed_at"], t["desk_id"], t["user_id"], t["origin_id"], t["previous_id"],
            targets[t["service_id"]]))
    if batch.with_events:
        for tid, kind, at, desk_id, user_id, data in events:
            t = tickets[tid]
            batch.events.append((tid, t["site_id"], t["service_id"], kind, at, desk_id, user_id,
                                 data))
    for service_id, last in numbers.items():
        if last:
            batch.counters.append((service_id, day.isoformat(), last))


TABLES = (
    ("tickets", "id, public_id, visit_id, site_id, service_id, day, number, code, priority, status, "
                "queue_at, issued_at, called_at, last_called_at, recalls, started_at, finished_at, "
                "closed_at, desk_id, user_id, origin_id, previous_id, target_wait_seconds", "tickets"),
    ("ticket_events", "ticket_id, site_id, service_id, kind, at, desk_id, user_id, data", "events"),
    ("desk_sessions", "id, desk_id, user_id, started_at, ended_at, end_reason", "sessions"),
    ("desk_pauses", "session_id, reason, started_at, ended_at", "pauses"),
    ("ratings", "visit_id, ticket_id, site_id, day, desk_id, score, comment, channel, device_id, "
                "created_at", "ratings"),
    ("day_counters", "service_id, day, last_number", "counters"),
)


def flush(db, batch: Batch) -> None:
    """Write a batch in one transaction (PostgreSQL's COPY, SQLite's executemany: each engine's bulk path)."""
    db.execute("BEGIN")
    for table, columns, attribute in TABLES:
        rows = getattr(batch, attribute)
        if not rows:
            continue
        if db.dialect.name == "postgresql":
            with db.conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" for _ in columns.split(","))
            db.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)
    db.execute("COMMIT")


def prepare(instance: Path, start: date, count: int = len(SITES)) -> tuple:
    """Create the instance database with the sites and one official per desk."""
    from server import create_app

    app = create_app({}, instance=instance)
    db = connect(app.config["DATABASE"])
    if db.execute("SELECT count(*) FROM tickets").fetchone()[0]:
        raise SystemExit(f"{app.config['DATABASE']} already has tickets: use a fresh --instance")
    clock = FrozenClock(f"{start.isoformat()}T00:00:00-05:00")
    layout.apply(db, layout.parse(layout_toml(count)), clock)
    sites = []
    for site in db.execute("SELECT * FROM sites ORDER BY id").fetchall():
        services = [dict(s) for s in db.execute("SELECT * FROM services WHERE site_id = ? ORDER BY id",
                                                [site["id"]])]
        meta = {s[0]: s for s in SERVICES}
        for s in services:
            s["mean"], s["share"] = meta[s["code"]][3], meta[s["code"]][4]
        desks = []
        for desk in db.execute("SELECT * FROM desks WHERE site_id = ? ORDER BY id", [site["id"]]):
            serves = [r[0] for r in db.execute(
                "SELECT service_id FROM desk_services WHERE desk_id = ? ORDER BY position", [desk["id"]])]
            user_id = db.execute(
                "INSERT INTO users (username, display_name, password_hash, role, created_at) "
                "VALUES (?, ?, '!', 'official', ?) RETURNING id",
                [f"{site['code']}-m{desk['code']}", f"Funcionario {desk['code']} {site['name']}",
                 clock.now_ms()]).fetchone()[0]
            desks.append({"id": desk["id"], "services": serves, "user_id": user_id})
        sites.append({"id": site["id"], "code": site["code"], "services": services, "desks": desks})
    return app, db, sites


def main(argv=None) -> int:
    """Parse the options, simulate the year and print what was written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instance", required=True, type=Path, help="a fresh instance folder")
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--tickets", type=int, default=1_500_000, help="at least this many tickets")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--sites", type=int, default=len(SITES), help="how many sites")
    parser.add_argument("--no-events", action="store_true",
                        help="do not write the ticket event log (reports never read it)")
    parser.add_argument("--no-seal", action="store_true",
                        help="do not seal the days (reports then compute every day live)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    first, last = date(args.year, 1, 1), date(args.year, 12, 31)
    days = [first + timedelta(n) for n in range((last - first).days + 1)]
    days = [d for d in days if d.weekday() < 5]
    app, db, sites = prepare(args.instance, first, args.sites)
    if isinstance(db.conn, sqlite3.Connection):  # SQLite's own speed-ups for a bulk load
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-200000")
    factor = sum(WEEKDAY_FACTOR[d.weekday()] * MONTH_FACTOR.get(d.month, 1.0) for d in days) / len(days)
    # ``--tickets`` is a floor: aim the visits at it, and the segments that transfers add
    # (about 2 %) keep the total above it. Aiming below (as this did) wrote 0.5-1 % too few.
    per_day = args.tickets / (len(sites) * len(days) * factor)
    rng = random.Random(args.seed)
    ids = Ids()
    totals = {"tickets": 0, "events": 0, "sessions": 0, "pauses": 0, "ratings": 0}
    month = None
    batch = Batch(not args.no_events)
    for day in days:
        if month is not None and day.month != month:
            print(f"  {args.year}-{month:02d}: {totals['tickets'] + batch.size():,} tickets so far "
                  f"({time.monotonic() - started:.0f} s)", flush=True)
        month = day.month
        for site in sites:
            simulate_day(rng, site, day, ids, batch, per_day)
            if batch.size() >= FLUSH_TICKETS:
                _count(totals, batch)
                flush(db, batch)
                batch = Batch(not args.no_events)
    _count(totals, batch)
    flush(db, batch)
    from shared import copydata

    if db.dialect.name == "postgresql":  # ids were given: the identity sequences go on after them
        copydata.continue_sequences(db, copydata.tables_in_order(db))
    db.execute("ANALYZE")
    elapsed = time.monotonic() - started
    print(f"Wrote {totals['tickets']:,} tickets, {totals['events']:,} events, "
          f"{totals['sessions']:,} desk sessions, {totals['pauses']:,} pauses, "
          f"{totals['ratings']:,} ratings for {len(sites)} sites, {len(days)} working days "
          f"of {args.year} in {elapsed:.0f} s")
    if totals["tickets"] < args.tickets:  # a figure measured on it would not be at the size asked
        print(f"{totals['tickets']:,} tickets, fewer than the {args.tickets:,} asked for: run "
              "again on a fresh instance with a higher --tickets (not sealed)", file=sys.stderr)
        return 1
    if not args.no_seal:
        # What close-day does every night: store each closed day's report partials.
        from reports.summary import seal
        from shared import store

        started = time.monotonic()
        now = FrozenClock(f"{args.year + 1}-01-15T12:00:00-05:00").now_ms()
        count = seal(db, store.list_sites(db), first.isoformat(), last.isoformat(), now,
                     reason="bench/gen_year.py")
        print(f"Sealed {count:,} site-days and rolled up their months in "
              f"{time.monotonic() - started:.0f} s")
    print(f"Database: {app.config['DATABASE']}")
    return 0


def _count(totals: dict, batch: Batch) -> None:
    """Add a batch's row counts to the totals."""
    totals["tickets"] += len(batch.tickets)
    totals["events"] += len(batch.events)
    totals["sessions"] += len(batch.sessions)
    totals["pauses"] += len(batch.pauses)
    totals["ratings"] += len(batch.ratings)


if __name__ == "__main__":
    sys.exit(main())
