"""Server CPU per call, one desk at a time: the figure that moves least with the machine's load.

    python bench/cpu_per_call.py [--runs 3] [--calls 1500] [--engines sqlite,postgresql]

For each engine, a fresh ``run.py serve`` (gevent, as in production) gets
``--calls`` tickets through the API, then one desk client calls ``next`` then
``no-show`` until nobody waits, one request after the other on a kept-alive
connection. The server process's CPU time (user + system, from /proc) over
that loop, divided by the calls, is printed with the wall time per call.

``bench/scale_calling.py`` races 50 desks and reports calls/s, which on these
shared 2-core machines moves by ±10 % from one run to the next: too coarse to
tell whether a change saves 5 % of a call. Here nothing competes for the server
but one client: on 2026-12-01, five runs on PostgreSQL spread 7.33–7.84 ms
(SQLite 3.64–5.15 ms: its WAL checkpoints run in a thread of the server process
and are counted), but four more ten minutes later 5.92–8.82 ms: the machine
itself moves, so take medians of many runs. Engines' runs are interleaved, so both see the same machine;
compare a change against the code without it in interleaved runs too. The
difference between the engines is what PostgreSQL costs the server process
itself (the driver, its waits, the round trips); the race's ratio also pays for
the PostgreSQL server's own CPU on the same two cores.

PostgreSQL is a throwaway server started here with its production defaults,
unless ``--postgres URL`` names one.
"""

from __future__ import annotations

import argparse
import http.client
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Server, Services, cpu_seconds, median, request  # noqa: E402
from core_throughput import issue_run, layout_with_desks  # noqa: E402
from scale_calling import kiosk_tokens  # noqa: E402


def one_run(layout: str, services: Services | None, engine: str, calls: int) -> dict:
    """Fill a fresh server's queue, then call and no-show one ticket at a time at one desk."""
    database = services.new_database() if engine == "postgresql" else None
    env = {"TURNOS_SECRET_KEY": secrets.token_hex(32), "TURNOS_KIOSK_RATE_LIMIT": "[1000000, 60]"}
    with Server(layout, database=database, env=env) as server:
        admin = server.token()
        issue_run(server, kiosk_tokens(server, admin), calls)
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        done = 0
        cpu0, wall0 = cpu_seconds(server.process.pid), time.perf_counter()
        while True:
            status, body = request(server.port, "POST", "/api/v1/desks/cam-centro:b1/next", None,
                                   admin, conn)
            if status == 204:
                break
            assert status == 200, (status, body)
            status, body = request(server.port, "POST", f"/api/v1/tickets/{body['id']}/no-show",
                                   None, admin, conn)
            assert status == 200, (status, body)
            done += 1
        cpu1, wall1 = cpu_seconds(server.process.pid), time.perf_counter()
    assert done > 0, "the desk found nobody waiting"
    return {"calls": done, "cpu_ms": (cpu1 - cpu0) * 1000 / done,
            "wall_ms": (wall1 - wall0) * 1000 / done}


def main() -> int:
    """Run each engine ``--runs`` times (interleaved) and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--calls", type=int, default=1500)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL (default: start one)")
    args = parser.parse_args()
    engines = [e for e in args.engines.split(",") if e]
    unknown = set(engines) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown engine(s): {', '.join(sorted(unknown))}")
    results: dict[str, list[dict]] = {e: [] for e in engines}
    with tempfile.TemporaryDirectory() as tmp, Services(args.postgres) as services:
        layout = Path(tmp) / "layout.toml"
        layout_with_desks(layout)
        for run in range(1, args.runs + 1):
            for engine in engines:
                r = one_run(str(layout), services, engine, args.calls)
                results[engine].append(r)
                print(f"run {run} {engine}: server CPU {r['cpu_ms']:.2f} ms per call "
                      f"(next + no-show), wall {r['wall_ms']:.2f} ms, {r['calls']} calls", flush=True)
    print(f"\nmedians of {args.runs} runs")
    cpu = {e: median([r["cpu_ms"] for r in rs]) for e, rs in results.items()}
    for engine, rs in results.items():
        each = ", ".join(f"{r['cpu_ms']:.2f}" for r in rs)
        print(f"  {engine:10s} server CPU {cpu[engine]:.2f} ms per call (runs {each}), "
              f"wall {median([r['wall_ms'] for r in rs]):.2f} ms")
    if len(cpu) == 2:
        print(f"  PostgreSQL costs the server {cpu['postgresql'] - cpu['sqlite']:+.2f} ms per call "
              f"({cpu['postgresql'] / cpu['sqlite']:.2f}x SQLite's)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
