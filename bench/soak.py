"""Soak benchmark: a compressed busy day at one site, minute by minute.

    python bench/soak.py [--engine sqlite|postgresql|both] [--minutes 15] [--tickets 25000]

One server process (``run.py serve``: gevent, as in production) on a fresh
instance (SQLite, or a throwaway PostgreSQL started here with its production
defaults). For ``--minutes``:

- 4 kiosk clients (kiosk device tokens, each its own process) issue tickets at a
  steady pace, ``--tickets`` in all (25,000 in 15 minutes: 28 a second);
- 20 desk clients (each its own process and official) cycle: ``next``, ``start``,
  ``finish``; when nobody waits they try again a moment later;
- 50 waiting-room screens (real Socket.IO clients) stay connected and count the
  calls they hear.

Each minute prints the p50 and p99 of issuing (kiosk tap to ticket) and of a
desk's ``next``, the tickets issued and called, errors, and the server's
resident memory. At the end: duplicates (a ticket called twice), tickets lost
(issued but neither called nor waiting), whether the first and last minutes
stay within 1.5x (the target), and memory first vs last.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Server, Services, percentile, request, run_processes  # noqa: E402

KIOSKS = 4
DESKS = 20
SCREENS = 50
SITE = "cam-centro"


def layout(path: Path) -> None:
    """Write a layout: one CAM with services A and B and 20 desks serving both."""
    lines = ['[[sites]]', f'code = "{SITE}"', 'name = "CAM Centro"', 'entity_name = "Alcaldía"',
             '[[sites.services]]', 'code = "A"', 'name = "Impuesto predial"',
             '[[sites.services]]', 'code = "B"', 'name = "Industria y comercio"']
    for n in range(1, DESKS + 1):
        lines += ['[[sites.desks]]', f'code = "s{n}"', f'name = "Módulo {n}"',
                  'services = ["A", "B"]' if n % 2 else 'services = ["B", "A"]']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _kiosk(port, token, count, seconds, start, out):
    """Issue ``count`` tickets evenly over ``seconds``; report (time, latency ms, ok)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    records = []
    start.wait()
    t0 = time.time()
    for n in range(count):
        target = t0 + n * seconds / count
        delay = target - time.time()
        if delay > 0:
            time.sleep(delay)  # the kiosk's pace: citizens arrive over the day
        t = time.perf_counter()
        try:
            status, _ = request(port, "POST", "/api/v1/tickets",
                                   {"site": SITE, "service": "A" if n % 3 else "B",
                                    "priority": "gestante" if n % 12 == 0 else None}, token, conn)
        except OSError:
            status = 0
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        records.append((time.time(), (time.perf_counter() - t) * 1000, status == 201))
    out.put(("kiosk", records, []))


def _desk(port, token, desk, seconds, start, out):
    """Cycle next, start, finish at one desk for ``seconds``; report next latencies and tickets."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    request(port, "POST", f"/api/v1/desks/{SITE}:{desk}/session", {}, token, conn)
    records, called = [], []
    start.wait()
    end = time.time() + seconds
    while time.time() < end:
        t = time.perf_counter()
        try:
            status, body = request(port, "POST", f"/api/v1/desks/{SITE}:{desk}/next", None, token, conn)
        except OSError:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            records.append((time.time(), 0.0, False, 0))
            continue
        records.append((time.time(), (time.perf_counter() - t) * 1000, status in (200, 204), status))
        if status == 204:
            time.sleep(1.0)  # nobody waits: the official presses the button again a moment later
            continue
        if status != 200:
            continue
        called.append(body["id"])
        for step in ("start", "finish"):
            request(port, "POST", f"/api/v1/tickets/{body['id']}/{step}", None, token, conn)
    out.put(("desk", records, called))


class Screens:
    """50 waiting-room screens connected with real Socket.IO clients."""

    def __init__(self, server: Server, admin: str):
        import socketio

        self.heard = 0
        self.dropped = 0
        self.lock = threading.Lock()
        self.clients = []
        for n in range(SCREENS):
            status, body = request(server.port, "POST", "/api/v1/devices",
                                   {"site": SITE, "kind": "display", "name": f"Pantalla {n}"}, admin)
            client = socketio.Client(reconnection=True)
            client.on("ticket_called", self._called)
            client.on("disconnect", self._dropped)
            client.connect(f"http://127.0.0.1:{server.port}", auth={"token": body["token"]},
                           transports=["websocket"], wait_timeout=30)
            self.clients.append(client)

    def _called(self, _data):
        with self.lock:
            self.heard += 1

    def _dropped(self, *_args):
        with self.lock:
            self.dropped += 1

    def close(self) -> None:
        """Disconnect every screen."""
        for client in self.clients:
            client.disconnect()


def soak(engine: str, args, services: Services | None) -> dict:
    """Run the day on one engine; print the minutes; return the summary."""
    env = {"TURNOS_SECRET_KEY": secrets.token_hex(32), "TURNOS_KIOSK_RATE_LIMIT": "[1000000, 60]"}
    database = services.new_database() if engine == "postgresql" else None
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "layout.toml"
        layout(path)
        with Server(str(path), database=database, env=env) as server:
            admin = server.token()
            kiosks = []
            for k in range(KIOSKS):
                status, body = request(server.port, "POST", "/api/v1/devices",
                                       {"site": SITE, "kind": "kiosk", "name": f"Kiosco {k}"}, admin)
                kiosks.append(body["token"])
            officials = []
            for n in range(DESKS):  # one official per desk, created as an administrator would
                name = f"soak{n}"
                subprocess.run([sys.executable, str(ROOT / "run.py"), "create-user", name, "--role",
                                "official", "--password", "clave-soak-2026", *server.args()],
                               check=True, capture_output=True, env=server.env)
                officials.append(server.token(name, "clave-soak-2026"))
            screens = Screens(server, admin)
            memory: list[tuple[float, float]] = []
            stop = threading.Event()

            def sample():
                while not stop.wait(10):
                    memory.append((time.time(), server.rss_mb()))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            per_kiosk = args.tickets // KIOSKS
            argsets = ([("kiosk", server.port, t, per_kiosk, seconds) for t in kiosks]
                       + [("desk", server.port, officials[n], f"s{n + 1}", seconds) for n in range(DESKS)])
            results, t0 = run_processes(_dispatch, argsets, seconds + 300)
            stop.set()
            heard, dropped = screens.heard, screens.dropped
            screens.close()
    issued = [r for kind, recs, _ in results if kind == "kiosk" for r in recs]
    nexts = [r for kind, recs, _ in results if kind == "desk" for r in recs]
    called = [c for kind, _, calls in results if kind == "desk" for c in calls]
    start = min(r[0] for r in issued + nexts)
    print(f"\n{engine}: minute | issue p50 / p99 ms | next p50 / p99 ms | issued | called | errors | RSS MB")
    minutes = []
    for m in range(args.minutes):
        lo, hi = start + 60 * m, start + 60 * (m + 1)
        iss = [r for r in issued if lo <= r[0] < hi]
        nxt = [r for r in nexts if lo <= r[0] < hi]
        mem = [mb for at, mb in memory if lo <= at < hi]
        row = {"issue50": percentile([r[1] for r in iss], 50), "issue99": percentile([r[1] for r in iss], 99),
               "next50": percentile([r[1] for r in nxt], 50), "next99": percentile([r[1] for r in nxt], 99),
               "errors": sum(1 for r in iss + nxt if not r[2]), "rss": max(mem) if mem else float("nan")}
        minutes.append(row)
        print(f"  {m + 1:2d} | {row['issue50']:6.1f} / {row['issue99']:6.1f} | {row['next50']:6.1f} / "
              f"{row['next99']:6.1f} | {len(iss):5d} | {sum(1 for r in nxt if r[3] == 200):5d} | "
              f"{row['errors']:3d} | {row['rss']:6.1f}")
    first, last = minutes[0], minutes[-1]
    flat = all(last[k] <= 1.5 * max(first[k], 1.0) for k in ("issue50", "issue99", "next50", "next99"))
    summary = {"engine": engine, "issued": sum(1 for r in issued if r[2]), "called": len(called),
               "duplicates": len(called) - len(set(called)),
               "errors": sum(1 for r in issued + nexts if not r[2]), "flat": flat,
               "rss_first": first["rss"], "rss_last": last["rss"], "screen_calls": heard,
               "screens_dropped": dropped}
    print(f"  {engine}: {summary['issued']} tickets issued, {summary['called']} called, "
          f"duplicates {summary['duplicates']}, errors {summary['errors']}, first vs last minute "
          f"within 1.5x: {'yes' if flat else 'NO'}, memory {first['rss']:.0f} -> {last['rss']:.0f} MB, "
          f"screens heard {heard} calls, dropped {dropped}")
    return summary


def _dispatch(kind, *args):
    """Run a kiosk or a desk client (one process each)."""
    (_kiosk if kind == "kiosk" else _desk)(*args)


def main() -> int:
    """Run the soak on the engines asked for."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--minutes", type=int, default=15)
    parser.add_argument("--tickets", type=int, default=25000)
    args = parser.parse_args()
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    with Services() as services:
        summaries = [soak(engine, args, services) for engine in engines]
    ok = all(s["flat"] and not s["duplicates"] and not s["errors"] for s in summaries)
    print("\ntargets met" if ok else "\nTARGETS NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
