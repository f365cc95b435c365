"""Core benchmark: issuing and calling through the real API on loopback.

    python bench/core_throughput.py [--runs 5]

Starts ``run.py serve`` (gevent, one process, SQLite in WAL) on a temporary
instance with 50 desks, then measures, in each run:

1. Issuing: 8 concurrent kiosk clients (kiosk device tokens, each in its own
   process with a kept-alive connection) issue 2,000 tickets as fast as they
   can: tickets/s and p50/p99 latency.
2. Calling: 5,000 waiting tickets, 50 concurrent desk clients (each its own
   process with a kept-alive connection, so 50 requests can be in flight)
   calling as fast as they can (each call is ``next`` then ``no-show`` to free
   the desk):
   calls/s, p50/p99 of ``next``, and duplicates (tickets called twice).
3. Realistic load: 50 calls/s spread over 50 desks (each desk calls once a
   second, staggered) for 20 s: p50/p99 latency of ``next``.

Prints each run and the medians. The clients run on the same 2-core machine as
the server, so the figures are a floor for a real deployment.
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Server, median, percentile, request, run_processes  # noqa: E402

DESKS = 50
KIOSKS = 8


def layout_with_desks(path: Path) -> None:
    """Write a layout: the demo site plus 50 desks serving A and B."""
    lines = ['[[sites]]', 'code = "cam-centro"', 'name = "CAM Centro"',
             'entity_name = "Alcaldía"', 'policy = "strict"',
             '[[sites.services]]', 'code = "A"', 'name = "Impuesto predial"',
             '[[sites.services]]', 'code = "B"', 'name = "Industria y comercio"']
    for n in range(1, DESKS + 1):
        lines += ['[[sites.desks]]', f'code = "b{n}"', f'name = "Módulo B{n}"',
                  f'services = {["A", "B"] if n % 2 else ["B", "A"]}'.replace("'", '"')]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _issue_worker(port, token, count, start, out):
    """Issue ``count`` tickets on one kept-alive connection; report latencies."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    latencies = []
    start.wait()
    for n in range(count):
        t0 = time.perf_counter()
        status, _ = request(port, "POST", "/api/v1/tickets",
                            {"site": "cam-centro", "service": "A" if n % 3 else "B",
                             "priority": "gestante" if n % 10 == 0 else None}, token, conn)
        latencies.append((time.perf_counter() - t0) * 1000)
        assert status == 201, status
    out.put((latencies, time.perf_counter()))


def issue_run(server, tokens, total) -> dict:
    """Issue ``total`` tickets with 8 kiosk processes; return rate and latency."""
    per = total // len(tokens)
    results, t0 = run_processes(_issue_worker, [(server.port, tok, per) for tok in tokens], 300)
    elapsed = max(end for _, end in results) - t0
    lat = [x for r, _ in results for x in r]
    return {"rate": len(lat) / elapsed, "p50": percentile(lat, 50), "p99": percentile(lat, 99)}


def _desk_worker(port, token, desk, paced_until, offset, start, out):
    """Call next (+ no-show) at one desk: flat out until nobody waits, or once a second when paced."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    called, latencies = [], []
    start.wait()
    t_start = time.perf_counter()
    tick = 0
    while True:
        if paced_until is not None:
            # Each desk calls once a second; desks are staggered across the second.
            target = t_start + offset + tick
            if target > t_start + paced_until:
                break
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            tick += 1
        t0 = time.perf_counter()
        status, body = request(port, "POST", f"/api/v1/desks/cam-centro:{desk}/next", None,
                               token, conn)
        latencies.append((time.perf_counter() - t0) * 1000)
        if status == 204:
            if paced_until is None:
                break
            continue
        assert status == 200, (status, body)
        called.append(body["id"])
        status, _ = request(port, "POST", f"/api/v1/tickets/{body['id']}/no-show", None,
                            token, conn)
        assert status == 200
    out.put((called, latencies, time.perf_counter()))


def call_run(server, token, paced_seconds=None) -> dict:
    """Run 50 desk clients, each its own process and connection; return rate, latency, duplicates."""
    argsets = [(server.port, token, f"b{n}", paced_seconds,
                (n - 1) / DESKS if paced_seconds else 0.0) for n in range(1, DESKS + 1)]
    results, t0 = run_processes(_desk_worker, argsets, 600)
    elapsed = max(end for _, _, end in results) - t0
    called = [x for c, _, _ in results for x in c]
    lat = [x for _, latencies, _ in results for x in latencies]
    return {"calls": len(called), "rate": len(called) / elapsed,
            "duplicates": len(called) - len(set(called)), "p50": percentile(lat, 50),
            "p99": percentile(lat, 99)}


def main() -> int:
    """Run the benchmark and print each run and the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--issue", type=int, default=2000)
    parser.add_argument("--queue", type=int, default=5000)
    parser.add_argument("--paced-seconds", type=int, default=20)
    args = parser.parse_args()
    os.environ["TURNOS_KIOSK_RATE_LIMIT"] = "[100000, 60]"  # the bench is the flood
    issue, calls, paced = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        layout = Path(tmp) / "layout.toml"
        layout_with_desks(layout)
        for run in range(1, args.runs + 1):
            with Server(str(layout)) as server:
                admin = server.token()
                kiosks = []
                for k in range(KIOSKS):
                    status, body = request(server.port, "POST", "/api/v1/devices",
                                           {"site": "cam-centro", "kind": "kiosk",
                                            "name": f"Kiosco {k}"}, admin)
                    kiosks.append(body["token"])
                i = issue_run(server, kiosks, args.issue)
                issue_run(server, kiosks, args.queue - args.issue)  # fill to 5,000 waiting
                c = call_run(server, admin)
                issue_run(server, kiosks, 1200)
                p = call_run(server, admin, paced_seconds=args.paced_seconds)
                issue.append(i)
                calls.append(c)
                paced.append(p)
                print(f"run {run}: issue {i['rate']:.0f}/s p50 {i['p50']:.1f} ms p99 {i['p99']:.1f} ms"
                      f" | calls {c['rate']:.0f}/s over {c['calls']} dup {c['duplicates']}"
                      f" next p50 {c['p50']:.1f} ms p99 {c['p99']:.1f} ms"
                      f" | paced {p['calls'] / args.paced_seconds:.0f} calls/s next p50 {p['p50']:.1f} ms"
                      f" p99 {p['p99']:.1f} ms", flush=True)
    print("\nmedians of", args.runs, "runs")
    print(f"  issuing, 8 kiosk clients:     {median([r['rate'] for r in issue]):.0f} tickets/s, "
          f"p50 {median([r['p50'] for r in issue]):.1f} ms, p99 {median([r['p99'] for r in issue]):.1f} ms"
          "   (target >= 500/s)")
    print(f"  calling, 50 desks flat out:   {median([r['rate'] for r in calls]):.0f} calls/s, "
          f"duplicates {max(r['duplicates'] for r in calls)} (max over runs), "
          f"next p99 {median([r['p99'] for r in calls]):.1f} ms   (target >= 300/s, 0 duplicates)")
    print(f"  realistic 50 calls/s:         next p50 {median([r['p50'] for r in paced]):.1f} ms, "
          f"p99 {median([r['p99'] for r in paced]):.1f} ms   (target p99 <= 20 ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
