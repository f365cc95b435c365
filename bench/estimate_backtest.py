"""Backtest of the estimated wait on simulated days run through the real queue engine.

    python bench/estimate_backtest.py [--days 5] [--seed 7] [--tickets 330]

Consecutive weekdays run in one database, so each day but the first has the
usual arrivals of the days before. Each day runs the demo CAM (six desks
sharing six services) from 08:00 to 17:00 with a ``FrozenClock``: citizens
arrive on a morning-heavy curve (15 % preferential), desks call through
``QueueEngine.call_next`` under the site's strict policy, walk 10–60 s, are
served for a lognormal time around each service's *real* mean, which is not
the configured one (``SERVICE_MINUTES`` against the demo layout's 6, 8, 10,
7, 4 and 9 minutes: the estimator has to learn it), 4 % do not show up (called
again, then closed after one to two and a half minutes), 2 % are transferred,
and each official takes a one-hour lunch pause (half the desks at noon, half
at one).

For every ticket, the estimate the kiosk showed (``QueueEngine.issue``) and
the fair baseline (``shared.estimate.naive_wait_seconds``: people ahead, from
the same ordering authority, × mean recent desk handling time, walk and
no-shows included, ÷ open desks, a desk shared by k services counting 1/k)
are compared with the wait it really had (first call − issue). Prints the
mean absolute error of both, overall and for general and preferential
tickets, and the coverage of the range shown with the estimate (the share of
real waits inside it, below its top and below its bottom).
"""

import argparse
import heapq
import math
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared import desks as desk_sessions  # noqa: E402
from shared import estimate, store  # noqa: E402
from shared.clock import FrozenClock  # noqa: E402
from shared.queue import Actor  # noqa: E402

# The real mean service times: not the configured ones (6, 8, 10, 7, 4, 9 minutes).
SERVICE_MINUTES = {"A": 8.0, "B": 6.0, "C": 13.0, "D": 5.0, "E": 5.0, "F": 7.0}
SERVICE_SHARE = {"A": 0.30, "B": 0.15, "C": 0.20, "D": 0.10, "E": 0.15, "F": 0.10}
HOURLY = {8: 1.3, 9: 1.6, 10: 1.5, 11: 1.2, 12: 0.8, 13: 0.9, 14: 1.2, 15: 1.0, 16: 0.5}
CATEGORIES = ("adulto_mayor", "discapacidad", "gestante", "infancia")
SEC, MIN = 1000, 60_000


def build(folder: Path, day: str):
    """Create an instance with the demo layout and one official per desk; return (app, engine)."""
    from server import create_app
    from shared import auth, layout
    from shared.db import connect, get_db
    from shared.queue import QueueEngine

    clock = FrozenClock(f"{day}T07:55:00-05:00")
    app = create_app({"TESTING": True, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"},
                     instance=folder, clock=clock)
    with app.app_context():
        db = get_db()
        layout.load_file(db, layout.DEMO_LAYOUT, clock)
        for n in range(1, 7):
            auth.create_user(db, f"funcionario{n}", "backtest-pass-1", "official", clock)
    engine = QueueEngine(connect(app.config["DATABASE"]), clock)
    return app, engine


def simulate_day(engine, day: str, rng: random.Random, tickets_per_day: int) -> list[dict]:
    """Run one day and return, per ticket issued at the kiosk, both estimates and the real wait."""
    db, clock = engine.db, engine.clock
    clock.set(f"{day}T07:55:00-05:00")
    site = engine.site("cam-centro")
    start = clock.now_ms() + 5 * MIN
    desks = [engine.desk(str(n), site) for n in range(1, 7)]
    users = {d["id"]: store.find_user(db, f"funcionario{i}")["id"] for i, d in enumerate(desks, 1)}
    serves = {d["id"]: [store.service_by_id(db, s)["code"] for s in store.desk_service_ids(db, d["id"])]
              for d in desks}
    events: list = []
    seq = 0

    def push(at: int, kind: str, data=None) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, kind, data))

    weights = list(HOURLY.values())
    for _ in range(tickets_per_day):
        hour = rng.choices(list(HOURLY), weights=weights)[0]
        at = start + (hour - 8) * 60 * MIN + rng.randrange(60 * MIN)
        service = rng.choices(list(SERVICE_SHARE), weights=list(SERVICE_SHARE.values()))[0]
        priority = rng.choice(CATEGORIES) if rng.random() < 0.15 else None
        push(at, "arrive", (service, priority))
    for i, desk in enumerate(desks):
        push(start, "open", desk)
        lunch = start + (4 if i % 2 == 0 else 5) * 60 * MIN
        push(lunch, "lunch", desk)
    close_at = start + 9 * 60 * MIN
    state = {d["id"]: "closed" for d in desks}
    lunch_due: set[int] = set()
    records: dict[int, dict] = {}

    def try_call(desk: dict, now: int) -> None:
        """Let a free desk call the next citizen (or take its due lunch pause)."""
        if state[desk["id"]] != "free" or now >= close_at:
            return
        if desk["id"] in lunch_due:
            lunch_due.discard(desk["id"])
            desk_sessions.pause(engine, desk, "lunch")
            state[desk["id"]] = "paused"
            push(now + 60 * MIN, "resume", desk)
            return
        ticket = engine.call_next(desk, Actor(user_id=users[desk["id"]]))
        if ticket is None:
            return
        state[desk["id"]] = "busy"
        if rng.random() < 0.04:
            push(now + rng.randrange(60 * SEC, 150 * SEC), "no_show", (desk, ticket["id"]))
            return
        walk = rng.randrange(10 * SEC, 60 * SEC)
        mean = SERVICE_MINUTES[serves_code(ticket)] * MIN
        service = max(30 * SEC, int(rng.lognormvariate(math.log(mean) - 0.125, 0.5)))
        push(now + walk, "start", (desk, ticket["id"]))
        push(now + walk + service, "finish", (desk, ticket["id"]))

    def serves_code(ticket: dict) -> str:
        """Return the service code of a ticket."""
        return engine.lookup.service(ticket["service_id"])["code"]

    while events:
        at, _seq, kind, data = heapq.heappop(events)
        clock.set(at)
        if kind == "arrive":
            service, priority = data
            issued = engine.issue("cam-centro", service, priority)
            naive = estimate.naive_wait_seconds(db, engine.service(site, service), issued["ahead"],
                                                at)
            records[issued["id"]] = {"estimate": issued["estimated_wait_seconds"], "naive": naive,
                                     "range": issued["estimated_wait_range_seconds"],
                                     "priority": priority is not None, "issued_at": at}
            for desk in desks:
                if service in serves[desk["id"]]:
                    try_call(desk, at)
        elif kind == "open":
            desk_sessions.open_session(engine, data, users[data["id"]])
            state[data["id"]] = "free"
            try_call(data, at)
        elif kind == "lunch":
            lunch_due.add(data["id"])
            try_call(data, at)
        elif kind == "resume":
            desk_sessions.resume(engine, data)
            state[data["id"]] = "free"
            try_call(data, at)
        elif kind == "start":
            engine.start(data[1], Actor(user_id=users[data[0]["id"]]))
        elif kind in ("finish", "no_show"):
            desk, ticket_id = data
            actor = Actor(user_id=users[desk["id"]])
            if kind == "no_show":
                engine.no_show(ticket_id, actor)
            elif rng.random() < 0.02:
                others = [c for c in SERVICE_SHARE if c != serves_code(engine.ticket(ticket_id))]
                engine.transfer(ticket_id, rng.choice(others), actor)
            else:
                engine.finish(ticket_id, actor)
            state[desk["id"]] = "free"
            try_call(desk, at)
    engine.close_day(site, day)
    for ticket_id, record in records.items():
        called = store.ticket_by_id(db, ticket_id)["called_at"]
        record["actual"] = None if called is None else (called - record["issued_at"]) / 1000.0
        record["day"] = day
    return list(records.values())


def mae(rows: list[dict], key: str) -> float:
    """Return the mean absolute error (seconds) of one estimate against the real waits."""
    return statistics.fmean(abs(r[key] - r["actual"]) for r in rows)


def main(argv=None) -> int:
    """Run the simulated days and print the errors of both estimates."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tickets", type=int, default=330, help="citizens per day")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    started = time.monotonic()
    rows = []
    days = []
    first = date(2026, 3, 2)  # a Monday; the days run one after another, weekdays only
    while len(days) < args.days:
        if first.weekday() < 5:
            days.append(first.isoformat())
        first += timedelta(days=1)
    with tempfile.TemporaryDirectory() as tmp:
        _app, engine = build(Path(tmp) / "instance", days[0])
        for day in days:
            rows += simulate_day(engine, day, rng, args.tickets)
        engine.db.conn.close()
    called = [r for r in rows if r["actual"] is not None]
    print(f"{args.days} simulated days, {len(rows)} tickets issued, {len(called)} called "
          f"({time.monotonic() - started:.0f} s)")
    print(f"mean real wait: {statistics.fmean(r['actual'] for r in called) / 60:.1f} min "
          "(the first day has no history of arrivals; the next ones learn from the days before)")
    print(f"{'tickets':<26}{'n':>6}{'MAE estimate':>15}{'MAE baseline':>15}{'bias estimate':>15}"
          f"{'in range':>10}{'≤ top':>8}{'< bottom':>10}")
    later = [r for r in called if r["day"] != days[0]]
    for label, subset in (("all", called), ("general", [r for r in called if not r["priority"]]),
                          ("preferential", [r for r in called if r["priority"]]),
                          ("first day (no history)", [r for r in called if r["day"] == days[0]]),
                          ("later days", later)):
        if not subset:
            continue
        bias = statistics.fmean(r["estimate"] - r["actual"] for r in subset)
        inside = statistics.fmean(r["range"][0] <= r["actual"] <= r["range"][1] for r in subset)
        below_top = statistics.fmean(r["actual"] <= r["range"][1] for r in subset)
        below_bottom = statistics.fmean(r["actual"] < r["range"][0] for r in subset)
        print(f"{label:<26}{len(subset):>6}{mae(subset, 'estimate') / 60:>11.1f} min"
              f"{mae(subset, 'naive') / 60:>11.1f} min{bias / 60:>11.1f} min"
              f"{inside:>10.0%}{below_top:>8.0%}{below_bottom:>10.0%}")
    print("(the range is meant to hold eight waits in ten: 10th to 90th percentile)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
