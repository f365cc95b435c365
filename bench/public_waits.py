"""Public wait times under a crowd: read latency, and calls/s with and without the crowd.

    python bench/public_waits.py [--runs 3] [--clients 200] [--seconds 20]

Starts ``run.py serve`` (gevent, one process, SQLite in WAL) with the 50-desk
layout of ``core_throughput.py`` whose site lists the city ``bench-city``, a
little history (so the typical waits are there), and nginx in front of it with
the shipped configuration (``deploy/nginx/turnos.conf``, which keeps the public
wait times as long as Turnos says: ``PUBLIC_CACHE_SECONDS``). The crowd reads
through nginx; the desks call Turnos directly. In each run:

1. **Calls/s without the crowd**: 5,000 waiting tickets, 50 desk clients
   calling flat out (``next`` then ``no-show``), as in ``core_throughput.py``.
2. **The same with the crowd** (which of the two comes first alternates by run):
   200 concurrent clients (4 processes × 50
   threads, each thread its own kept-alive connection) read the public page
   ``/espera/bench-city`` and its JSON ``/api/v1/public/cities/bench-city/waits``
   in turn through nginx, each once a second (200 reads/s: 12,000 citizens with
   the page open, which reloads itself every minute), while the desks call:
   read p50/p99 and calls/s. ``--direct`` sends the crowd to Turnos itself
   (the embedded default without nginx) to show what nginx saves.

Prints each run and the medians. Clients and server share the 2-core machine.
"""

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Nginx, Server, median, percentile, request, run_processes  # noqa: E402
from core_throughput import KIOSKS, call_run, issue_run, layout_with_desks  # noqa: E402

CITY = "bench-city"
PATHS = (f"/espera/{CITY}", f"/api/v1/public/cities/{CITY}/waits")
PROCESSES = 4


def layout(path: Path) -> None:
    """Write the 50-desk layout with the site listed on the city's public page."""
    layout_with_desks(path)
    text = path.read_text(encoding="utf-8").replace(
        "[[sites.services]]", f'[sites.channels]\ncity = "{CITY}"\ncity_name = "Ciudad de prueba"\n\n'
        "[[sites.services]]", 1)
    path.write_text(text, encoding="utf-8")


def _reader(port, threads, seconds, interval, start, out):
    """Read the public page and its JSON from ``threads`` kept-alive connections; report latencies."""
    import http.client

    latencies: list[float] = []
    lock = threading.Lock()
    start.wait()
    t_start = time.perf_counter()

    def one(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        tick = 0
        offset = (n / threads) * interval
        while True:
            target = t_start + offset + tick * interval
            if target > t_start + seconds:
                break
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            path = PATHS[(n + tick) % 2]
            t0 = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - t0) * 1000)
            assert response.status == 200, response.status
            tick += 1
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=one, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put((latencies, time.perf_counter()))


def crowd(port: int, clients: int, seconds: float, interval: float, result: dict) -> None:
    """Run the crowd (in its own processes) against a port; put its read latencies in ``result``."""
    per = clients // PROCESSES
    results, _t0 = run_processes(_reader, [(port, per, seconds, interval)
                                           for _ in range(PROCESSES)], seconds + 120)
    lat = [x for r, _ in results for x in r]
    result.update(reads=len(lat), p50=percentile(lat, 50), p99=percentile(lat, 99),
                  max=max(lat) if lat else None)


def history(server, kiosks, admin) -> None:
    """Give the site a little history: 300 tickets issued and called (typical waits to show)."""
    issue_run(server, kiosks, 304)
    call_run(server, admin)


def main() -> int:
    """Run the benchmark and print each run and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between a client's reads")
    parser.add_argument("--queue", type=int, default=5000)
    parser.add_argument("--direct", action="store_true", help="the crowd reads Turnos, not nginx")
    args = parser.parse_args()
    os.environ["TURNOS_KIOSK_RATE_LIMIT"] = "[100000, 60]"
    alone, together, reads = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "layout.toml"
        layout(path)
        for run in range(1, args.runs + 1):
            with Server(str(path)) as server, Nginx([server.port]) as proxy:
                admin = server.token()
                kiosks = [request(server.port, "POST", "/api/v1/devices",
                                  {"site": "cam-centro", "kind": "kiosk", "name": f"Kiosco {k}"},
                                  admin)[1]["token"] for k in range(KIOSKS)]
                history(server, kiosks, admin)
                assert request(server.port, "GET", PATHS[1])[0] == 200
                target = server.port if args.direct else proxy.port
                found: dict = {}

                def with_crowd(server=server, kiosks=kiosks, admin=admin, target=target,
                               found=found) -> dict:
                    """Call flat out while the crowd reads (it reads a while longer)."""
                    issue_run(server, kiosks, args.queue)
                    reader = threading.Thread(target=crowd, args=(target, args.clients, 40.0,
                                                                  args.interval, found))
                    reader.start()
                    time.sleep(2)  # let the crowd be there before the desks start
                    result = call_run(server, admin)
                    reader.join()
                    return result

                def alone_run(server=server, kiosks=kiosks, admin=admin) -> dict:
                    issue_run(server, kiosks, args.queue)
                    return call_run(server, admin)

                # Alternate which comes first: a server warms up over its first runs.
                if run % 2:
                    a, t = alone_run(), with_crowd()
                else:
                    t, a = with_crowd(), alone_run()
                alone.append(a)
                together.append(t)
                reads.append(found)
                print(f"run {run}: calls alone {a['rate']:.0f}/s | with {args.clients} readers "
                      f"{t['rate']:.0f}/s (ratio {t['rate'] / a['rate']:.2f}), dup {t['duplicates']}"
                      f" | reads {found['reads']} p50 {found['p50']:.1f} ms p99 {found['p99']:.1f} ms"
                      f" max {found['max']:.1f} ms", flush=True)
    ratio = [t["rate"] / a["rate"] for a, t in zip(alone, together)]
    print(f"\nmedians of {args.runs} runs")
    print(f"  public page and JSON, {args.clients} clients each once every {args.interval:g} s: "
          f"p50 {median([r['p50'] for r in reads]):.1f} ms, p99 {median([r['p99'] for r in reads]):.1f} ms"
          "   (target p99 <= 50 ms)")
    print(f"  calls/s, 50 desks flat out: alone {median([a['rate'] for a in alone]):.0f}, with the "
          f"crowd {median([t['rate'] for t in together]):.0f} (ratio {median(ratio):.2f}), "
          f"duplicates {max(t['duplicates'] for t in together)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
