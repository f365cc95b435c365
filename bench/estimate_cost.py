"""What issuing a ticket costs at the day's first ticket and after twenty thousand.

    python bench/estimate_cost.py [--before 20000] [--waiting 60] [--issues 400] [--runs 3]
                                  [--engine sqlite|postgresql] [--postgres URL]

Issuing computes, for the new ticket, who will be called before it and the
estimated wait with its range: one replay of the room. Before issue 12 every
issue re-read the day's tickets (``recent_handling_ms`` and ``recent_arrivals``
scanned the whole day), so its cost grew with the day's volume (issue 11's
soak: issuing p50 10 → 126 ms over 25,000 tickets). Here the real
``QueueEngine.issue`` runs on a fresh instance of the demo CAM (six desks
open, ``--waiting`` citizens waiting) twice: on a day with no other ticket,
and on a day where ``--before`` tickets were already issued and served between
06:00 and 11:00 (bulk written, columns as the engine leaves them), the hour
before the issues looking the same in both runs. Every
issue replays the room (no cache: the worst case), and after each issue a
desk calls and serves one citizen so the line stays the same length. Prints
the p50 and p99 of ``issue`` in both runs and their ratio. ``--engine
postgresql`` runs on a throwaway PostgreSQL started here (production
defaults) unless ``--postgres URL`` names a server: there every statement is
a round trip, so what a replay reads shows.
"""

import argparse
import contextlib
import random
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Services  # noqa: E402

from shared import desks as desk_sessions  # noqa: E402
from shared import store  # noqa: E402
from shared.clock import FrozenClock  # noqa: E402
from shared.db import immediate  # noqa: E402
from shared.queue import Actor  # noqa: E402

DAY = "2026-03-04"
SERVICES = ("A", "B", "C", "D", "E", "F")


def build(folder: Path, database: str | None = None):
    """Create an instance with the demo layout, one official per desk, six desks open."""
    from server import create_app
    from shared import auth, layout
    from shared.db import connect, get_db
    from shared.queue import QueueEngine

    clock = FrozenClock(f"{DAY}T07:00:00-05:00")
    app = create_app({"TESTING": True, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                      "DATABASE_URL": database}, instance=folder, clock=clock)
    with app.app_context():
        db = get_db()
        layout.load_file(db, layout.DEMO_LAYOUT, clock)
        for n in range(1, 7):
            auth.create_user(db, f"funcionario{n}", "bench-pass-1", "official", clock)
    engine = QueueEngine(connect(app.config["DATABASE"]), clock)
    site = engine.site("cam-centro")
    desks = []
    for n in range(1, 7):
        desk = engine.desk(str(n), site)
        user = store.find_user(engine.db, f"funcionario{n}")["id"]
        desk_sessions.open_session(engine, desk, user)
        desks.append((desk, Actor(user_id=user)))
    return engine, site, desks


def fill_the_day(engine, site: dict, count: int, rng: random.Random) -> None:
    """Write ``count`` tickets issued and served earlier today (06:00 to 11:00), in one transaction."""
    db = engine.db
    services = {s["code"]: s for s in store.list_services(db, site["id"])}
    # Spread over 06:00-11:00: the last hour's arrivals (what the estimate expects next) are the
    # same in both runs, so only the day's volume differs.
    start = engine.clock.now_ms() - 6 * 3_600_000
    desks = [d for d in store.list_desks(db, site["id"])]
    numbers = dict.fromkeys(SERVICES, 0)
    rows = []
    for i in range(count):
        code = rng.choice(SERVICES)
        numbers[code] += 1
        issued = start + i * 5 * 3_600_000 // max(1, count)
        desk = desks[i % len(desks)]
        called = issued + rng.randrange(60_000, 900_000)
        started = called + 20_000
        finished = started + rng.randrange(120_000, 600_000)
        public = secrets.token_urlsafe(12)
        rows.append((public, public, site["id"], services[code]["id"], DAY, numbers[code],
                     f"{code}-{numbers[code]:03d}", None, "finished", issued, issued, called,
                     called, started, finished, finished, services[code]["target_wait_seconds"],
                     600_000, desk["id"]))
    with immediate(db):
        db.executemany(
            "INSERT INTO tickets (public_id, visit_id, site_id, service_id, day, number, code, "
            "priority, status, queue_at, issued_at, called_at, last_called_at, started_at, finished_at, "
            "closed_at, target_wait_seconds, estimated_wait_ms, desk_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
            "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        for code, last in numbers.items():
            db.execute("INSERT INTO day_counters (service_id, day, last_number) VALUES (?, ?, ?)",
                       [services[code]["id"], DAY, last])
    db.execute("ANALYZE")


def run(before: int, waiting: int, issues: int, seed: int, database: str | None = None) -> list[float]:
    """Return the ms each of ``issues`` issues took on a day with ``before`` earlier tickets."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        engine, site, desks = build(Path(tmp) / "instance", database)
        engine.clock.set(f"{DAY}T12:00:00-05:00")
        if before:
            fill_the_day(engine, site, before, rng)
        for _ in range(waiting):
            engine.issue(site, rng.choice(SERVICES), "gestante" if rng.random() < 0.15 else None)
        times = []
        for n in range(issues):
            engine.clock.advance(seconds=3)
            started = time.perf_counter()
            engine.issue(site, rng.choice(SERVICES), "gestante" if rng.random() < 0.15 else None)
            times.append((time.perf_counter() - started) * 1000)
            desk, actor = desks[n % len(desks)]
            held = store.desk_open_ticket(engine.db, desk["id"])
            if held is not None:
                engine.start(held["id"], actor)
                engine.finish(held["id"], actor)
            engine.call_next(desk, actor)
        engine.db.conn.close()
    return times


def quantile(values: list[float], p: float) -> float:
    """Return the p-quantile of some values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def main(argv=None) -> int:
    """Time issuing on an empty day and on a full one; print p50, p99 and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=int, default=20_000)
    parser.add_argument("--waiting", type=int, default=60)
    parser.add_argument("--issues", type=int, default=400)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL (default: start one)")
    args = parser.parse_args(argv)
    results = {0: [], args.before: []}
    with contextlib.ExitStack() as stack:
        services = (stack.enter_context(Services(args.postgres)) if args.engine == "postgresql"
                    else None)
        for run_n in range(args.runs):
            for before in results:
                database = services.new_database() if services else None
                times = run(before, args.waiting, args.issues, seed=run_n, database=database)
                results[before].append((statistics.median(times), quantile(times, 0.99)))
    print(f"QueueEngine.issue on {args.engine}, demo CAM, six desks open, {args.waiting} waiting, "
          f"{args.issues} issues per run, every issue replays the room (no cache), {args.runs} runs:")
    p50s = {}
    for before, rows in results.items():
        p50 = statistics.median(r[0] for r in rows)
        p99 = statistics.median(r[1] for r in rows)
        p50s[before] = p50
        print(f"  {before:>6,} tickets already issued today: p50 {p50:6.2f} ms, p99 {p99:6.2f} ms "
              f"(runs p50 {', '.join(f'{r[0]:.2f}' for r in rows)})")
    ratio = p50s[args.before] / p50s[0]
    print(f"  ratio of the p50s: {ratio:.2f} (flat: the cost does not grow with the day's volume)")
    return 0 if ratio < 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
