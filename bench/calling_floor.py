"""What each engine costs a desk's call in the server process, without HTTP around it.

    python bench/calling_floor.py [--cycles 2000] [--runs 3] [--postgres URL]

Runs ``--cycles`` cycles of a call and a no-show (the cycle of
``bench/scale_calling.py``) through Turnos's queue engine, in one thread, on
SQLite (set up as ``serve`` sets it up) and on PostgreSQL (a throwaway server
with production defaults unless ``--postgres`` names one). Prints, per cycle,
the CPU this process spent (``time.process_time``: the database server's own
work is not counted) and the wall time, medians of ``--runs`` rounds.

The difference in CPU is what PostgreSQL's driver and protocol add to every
cycle in a server process, and cannot overlap with anything in it: with
SQLite's figure from ``scale_calling.py`` (R calls/s), one PostgreSQL process
can reach at most about ``1000 / (1000 / R + difference_ms)`` calls/s, before
the waits for the server's answers are counted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import Services, median  # noqa: E402


def cycles_on(database: str | None, cycles: int, runs: int) -> tuple[float, float]:
    """Return (CPU ms, wall ms) per call + no-show cycle on one database (None: SQLite)."""
    from server import create_app
    from server.cli import seed_demo
    from shared import store
    from shared.queue import Actor, current_engine

    with tempfile.TemporaryDirectory() as tmp:
        settings = {"INSTANCE": tmp, **({"DATABASE_URL": database} if database else {})}
        app = create_app(settings)
        with app.app_context():
            seed_demo(app)
            engine = current_engine()
            site = engine.site("cam-centro")
            desk = store.list_desks(engine.db, site["id"])[0]
            official = Actor(user_id=store.list_users(engine.db)[0]["id"])
            for _ in range(cycles * runs + 100):
                engine.issue(site, "A", None, Actor())
            cpu, wall = [], []
            for _ in range(runs):
                c0, w0 = time.process_time(), time.perf_counter()
                for _n in range(cycles):
                    ticket = engine.call_next(desk, official)
                    engine.no_show(ticket["id"], official)
                cpu.append((time.process_time() - c0) * 1000 / cycles)
                wall.append((time.perf_counter() - w0) * 1000 / cycles)
        app.extensions["turnos.pool"].close()
    return median(cpu), median(wall)


def main() -> int:
    """Measure both engines and print the difference."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL (default: start one)")
    args = parser.parse_args()
    sqlite = cycles_on(None, args.cycles, args.runs)
    with Services(args.postgres, None) as services:
        postgresql = cycles_on(services.new_database(), args.cycles, args.runs)
    for name, (cpu, wall) in (("SQLite", sqlite), ("PostgreSQL", postgresql)):
        print(f"{name:11s} CPU {cpu:.3f} ms per call + no-show, wall {wall:.3f} ms")
    print(f"PostgreSQL adds {postgresql[0] - sqlite[0]:.3f} ms of this process's CPU per cycle "
          f"({args.runs} rounds of {args.cycles} cycles, medians)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
