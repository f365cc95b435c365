"""How fast the summary report answers on a year of data, how much memory it takes, and a CSV export.

    python bench/gen_year.py --instance year-instance [--sites 300 --tickets 10000000 --no-events]
    python bench/report_speed.py --instance year-instance [--runs 5] [--cold]

Times ``GET /api/v1/reports/summary`` for all sites through the real
application (test client, bearer token) for one month and for the whole
year, with every ``group_by``, and prints the median of ``--runs`` runs
against the targets (month ≤ 0.5 s, year ≤ 3 s, by site and by service).
Then reads the year by service in a fresh process of its own and prints
that process's peak RSS (target ≤ 300 MB: the report with the application it
runs in, the database driver's buffers included), and once more here while
``tracemalloc`` watches the peak of Python memory alone.
``--cold`` first drops the month roll-ups, so the year is read day by day
(every sealed day's stored summary). Last, streams the CSV list of every
ticket of a week and of a month, timed and with its traced peak memory: a
streamed export keeps it flat however many rows go out.
"""

import argparse
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import memory_mb  # noqa: E402

from shared.clock import FrozenClock  # noqa: E402

GROUPS = ("site", "service", "desk", "official", "priority", "hour", "day")
TARGETS = {"month": 0.5, "year": 3.0}
MEMORY_TARGET_MB = 300
USER, PASSWORD = "bench-admin", "bench-admin-pass-1"


def app_and_token(instance: Path, year: int):
    """Open the instance (clock in January of the next year) and return (app, client, token)."""
    from server import create_app
    from shared import auth, store
    from shared.db import get_db

    clock = FrozenClock(f"{year + 1}-01-15T10:00:00-05:00")
    app = create_app({"TESTING": True}, instance=instance, clock=clock)
    with app.app_context():
        db = get_db()
        if store.find_user(db, USER) is None:
            auth.create_user(db, USER, PASSWORD, "admin", clock)
    client = app.test_client()
    r = client.post("/api/v1/auth/token", json={"username": USER, "password": PASSWORD})
    return app, client, r.get_json()["token"]


def timed(client, token: str, path: str) -> tuple[float, dict]:
    """Return the seconds one API call took and its JSON."""
    started = time.perf_counter()
    r = client.get(path, headers={"Authorization": f"Bearer {token}"})
    elapsed = time.perf_counter() - started
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return elapsed, r.get_json()


def export(client, token: str, path: str, trace: bool) -> tuple[float, int, int, float | None]:
    """Stream a CSV export; return seconds, rows, bytes and (traced) the peak Python memory in MB."""
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    r = client.get(path, headers={"Authorization": f"Bearer {token}"}, buffered=False)
    assert r.status_code == 200
    size = rows = 0
    for chunk in r.response:
        size += len(chunk)
        rows += chunk.count(b"\n")
    r.close()
    elapsed = time.perf_counter() - started
    peak = None
    if trace:
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return elapsed, rows - 1, size, peak


def year_by_service(year: int) -> str:
    """Return the path of the summary of every site's year by service (the memory target's report)."""
    return f"/api/v1/reports/summary?site=all&from={year}-01-01&to={year}-12-31&group_by=service"


def year_by_service_in_fresh_process(instance: Path, year: int) -> tuple[float, float]:
    """Read the year by service in a new process; return its RSS before the report and its peak (MB)."""
    out = subprocess.run([sys.executable, __file__, "--instance", str(instance), "--year", str(year),
                          "--memory-only"], check=True, capture_output=True, text=True).stdout
    before, peak = out.split()[-2:]
    return float(before), float(peak)


def memory_only(instance: Path, year: int) -> int:
    """The child of ``year_by_service_in_fresh_process``: print RSS before and peak, in MB."""
    _app, client, token = app_and_token(instance, year)
    before = memory_mb()[0]
    timed(client, token, year_by_service(year))
    print(f"{before:.1f} {memory_mb()[1]:.1f}")
    return 0


def main(argv=None) -> int:
    """Time the reports and the export and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instance", required=True, type=Path)
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold", action="store_true",
                        help="drop the month roll-ups first (the year is read day by day)")
    parser.add_argument("--memory-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_only:
        return memory_only(args.instance, args.year)
    app, client, token = app_and_token(args.instance, args.year)
    periods = {"month": (f"{args.year}-03-01", f"{args.year}-03-31"),
               "year": (f"{args.year}-01-01", f"{args.year}-12-31")}
    if args.cold:
        from shared.db import connect

        db = connect(app.config["DATABASE"])
        db.execute("DELETE FROM report_month_partials")
        db.conn.close()
    print(f"Summary report, all sites ({args.runs} runs, median seconds):")
    print(f"{'group_by':<10}{'month':>9}{'year':>9}")
    failures = []
    issued = {}
    for group in GROUPS:
        line = f"{group:<10}"
        for label, (first, last) in periods.items():
            path = f"/api/v1/reports/summary?site=all&from={first}&to={last}&group_by={group}"
            times = []
            for _run in range(args.runs):
                seconds, body = timed(client, token, path)
                times.append(seconds)
            median = statistics.median(times)
            issued[label] = body["totals"]["issued"]
            line += f"{median:>9.3f}"
            if group in ("site", "service") and median > TARGETS[label]:
                failures.append(f"{group} {label} {median:.2f} s > {TARGETS[label]} s")
        print(line)
    sites = len(body["sites"])
    print(f"({sites} sites; a month is {issued['month']:,} segments, the year {issued['year']:,}; "
          f"targets by site and by service: month ≤ {TARGETS['month']} s, year ≤ "
          f"{TARGETS['year']} s)")
    before, peak_rss = year_by_service_in_fresh_process(args.instance, args.year)
    print(f"Year by service in a fresh process: RSS {before:.0f} MB before the report, "
          f"peak {peak_rss:.0f} MB (target ≤ {MEMORY_TARGET_MB} MB)")
    if peak_rss > MEMORY_TARGET_MB:
        failures.append(f"memory {peak_rss:.0f} MB > {MEMORY_TARGET_MB} MB")
    tracemalloc.start()
    timed(client, token, year_by_service(args.year))
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    print(f"Year by service here: peak traced Python memory {peak:.1f} MB; this process's peak RSS "
          f"after every report above {memory_mb()[1]:.0f} MB")
    print("\nCSV export of every ticket, streamed (peak of Python memory traced on a second pass):")
    for label, (first, last) in (("week", (f"{args.year}-03-03", f"{args.year}-03-09")),
                                 ("month", periods["month"])):
        path = f"/reports/export/tickets.csv?site=all&from={first}&to={last}"
        seconds, rows, size, _peak = export(client, token, path, trace=False)
        _seconds, _rows, _size, peak = export(client, token, path, trace=True)
        print(f"{label:<6} {rows:>9,} rows {size / 2**20:>7.1f} MB in {seconds:>5.1f} s "
              f"({rows / seconds:,.0f} rows/s), peak {peak:.1f} MB")
    if failures:
        print("\nOver target: " + "; ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
