"""While a long report or export runs, how long the other requests of its server process wait.

    python bench/gen_year.py --instance year-instance [--sites 300 --tickets 10000000 --no-events]
    python bench/report_fairness.py --instance year-instance [--runs 3]

Starts ``run.py serve`` (gevent, as in production) on an instance made by
``bench/gen_year.py`` (``TURNOS_DATABASE_URL`` names its PostgreSQL database,
as for ``report_speed.py``), then, for each of the year's summary report by
hour and by service and a two-day CSV export of every ticket, asks for it while
another client asks ``/healthz`` of the same process again and again. Prints
how long the report took and the median and the longest health check meanwhile
(median of ``--runs`` runs). gevent does not preempt: a report that computed
for seconds without letting other requests run would hold every kiosk, desk and
screen of its process for as long (before ``shared.db.TakeTurns``: 5.8 s for
the year by hour, 8.0 s for the export).
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, free_port, wait_healthy  # noqa: E402
from report_speed import PASSWORD, USER, app_and_token  # noqa: E402

CASES = {
    "year by hour": "/api/v1/reports/summary?site=all&from={y}-01-01&to={y}-12-31&group_by=hour",
    "year by service": "/api/v1/reports/summary?site=all&from={y}-01-01&to={y}-12-31&group_by=service",
    "CSV export, two days": "/reports/export/tickets.csv?site=all&from={y}-03-03&to={y}-03-04",
}


def one_run(base: str, token: str, path: str) -> tuple[float, float, float, int]:
    """Ask for ``path`` while health checks run; return (report s, health median s, max s, checks)."""
    finished = threading.Event()
    took = {}

    def report():
        started = time.perf_counter()
        r = requests.get(base + path, headers={"Authorization": f"Bearer {token}"}, timeout=600,
                         stream=True)
        for _chunk in r.iter_content(1 << 16):
            pass
        assert r.status_code == 200, r.status_code
        took["seconds"] = time.perf_counter() - started
        finished.set()

    worker = threading.Thread(target=report)
    worker.start()
    waits = []
    with requests.Session() as session:
        while not finished.is_set():
            started = time.perf_counter()
            assert session.get(base + "/healthz", timeout=600).status_code == 200
            waits.append(time.perf_counter() - started)
    worker.join()
    return took["seconds"], statistics.median(waits), max(waits), len(waits)


def main(argv=None) -> int:
    """Start the server on the instance, run every case ``--runs`` times and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instance", required=True, type=Path)
    parser.add_argument("--year", type=int, default=2025)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    app_and_token(args.instance, args.year)  # the benchmark's administrator exists
    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "serve", "--port", str(port),
                               "--instance", str(args.instance)], cwd=ROOT, env=dict(os.environ),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_healthy(port, 120, "server")
        base = f"http://127.0.0.1:{port}"
        token = requests.post(base + "/api/v1/auth/token", json={"username": USER, "password": PASSWORD},
                              timeout=30).json()["token"]
        print(f"{'while':<24}{'took':>9}{'health p50':>12}{'health max':>12}{'checks':>8}")
        for label, path in CASES.items():
            runs = [one_run(base, token, path.format(y=args.year)) for _run in range(args.runs)]
            took, p50, worst, checks = (statistics.median(r[i] for r in runs) for i in range(4))
            print(f"{label:<24}{took:>8.2f}s{p50 * 1000:>10.1f}ms{worst * 1000:>10.1f}ms{checks:>8.0f}")
    finally:
        server.terminate()
        server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
