"""Baseline for the issuing figure: a bare Flask endpoint doing one SQLite insert.

    python bench/baseline_insert.py [--runs 3] [--tickets 2000]

Serves the bare endpoint with the same stack as Turnos (gevent pywsgi,
TCP_NODELAY, one process, SQLite in WAL with synchronous=NORMAL, as every
Turnos connection) and loads it with the same 8 client
processes as ``bench/core_throughput.py``, then issues the same number of
real tickets through Turnos. Prints both rates and their ratio: on a shared,
noisy machine the ratio says more than either figure alone.

Then the floor under Turnos's figure: the writes an issued ticket needs (its
number, its row with the indexes the desks, screens and reports read, its
event), run in a loop with no HTTP around them, through Turnos's own store on
a connection set up as ``serve`` sets them up (checkpoints in a background
thread), and the bare endpoint's own insert the same way. Were everything else
a ticket costs free (the token, the rate limit, the checks, the wait estimate,
the answer's content and the announcement: a bare request's HTTP and Flask work
with a ticket's writes instead of its insert), Turnos would issue at most at
the rate printed as the ceiling.
"""

import argparse
import multiprocessing as mp
import os
import secrets
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Server, free_port, median, request, wait_healthy  # noqa: E402
from core_throughput import KIOSKS, issue_run  # noqa: E402

BARE_APP = textwrap.dedent('''
    from gevent import monkey; monkey.patch_all()
    import socket, sqlite3, sys
    from flask import Flask, g, jsonify, request
    from gevent import pywsgi
    app = Flask(__name__)
    path = sys.argv[2]
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, site TEXT, service TEXT)")
    setup.commit()
    pool = []
    def connect():
        # The settings every Turnos connection has (shared/db.py): like for like.
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn
    @app.post("/api/v1/tickets")
    def issue():
        conn = pool.pop() if pool else connect()
        body = request.get_json()
        row = conn.execute("INSERT INTO t (site, service) VALUES (?, ?) RETURNING id",
                           [body["site"], body["service"]]).fetchone()
        pool.append(conn)
        return jsonify({"id": row[0]}), 201
    @app.get("/healthz")
    def health():
        return {"ok": True}
    class NoDelay(pywsgi.WSGIHandler):
        def handle(self):
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().handle()
    pywsgi.WSGIServer(("127.0.0.1", int(sys.argv[1])), app, handler_class=NoDelay, log=None).serve_forever()
''')


def ticket_writes_ms(tickets: int) -> float:
    """Return the milliseconds the writes of one issued ticket take alone (median of 3 rounds)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from server import create_app
    from server.cli import seed_demo
    from shared import db as dbmod
    from shared import store

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"INSTANCE": tmp})
        with app.app_context():
            seed_demo(app)
            service = store.list_services(dbmod.get_db(), 1)[0]
        checkpointer = dbmod.start_checkpointer(app)
        conn = dbmod.connect(app.config["DATABASE"], dbmod.SAFETY_AUTOCHECKPOINT)
        now, rounds = 1_780_000_000_000, []
        try:
            for _ in range(3):
                t0 = time.perf_counter()
                for _n in range(tickets):
                    now += 1
                    with dbmod.immediate(conn):
                        number = store.next_number(conn, service["id"], "2026-06-01")
                        public_id = secrets.token_urlsafe(12)
                        ticket = store.insert_ticket(conn, {
                            "public_id": public_id, "visit_id": public_id, "site_id": service["site_id"],
                            "service_id": service["id"], "day": "2026-06-01", "number": number,
                            "code": f"A-{number:03d}", "priority": None, "status": "waiting",
                            "queue_at": now, "issued_at": now, "device_id": None, "user_id": None,
                            "target_wait_seconds": 900, "estimated_wait_ms": 60_000})
                        store.insert_event(conn, ticket, "issued", now)
                rounds.append((time.perf_counter() - t0) * 1000 / tickets)
        finally:
            conn.close()
            if checkpointer:
                checkpointer.stop()
        return median(rounds)


def bare_insert_ms(count: int) -> float:
    """Return the milliseconds of the bare endpoint's own insert alone (median of 3 rounds)."""
    import sqlite3

    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "bare.sqlite3", isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, site TEXT, service TEXT)")
        rounds = []
        for _ in range(3):
            t0 = time.perf_counter()
            for _n in range(count):
                conn.execute("INSERT INTO t (site, service) VALUES (?, ?) RETURNING id",
                             ["cam-centro", "A"]).fetchone()
            rounds.append((time.perf_counter() - t0) * 1000 / count)
        conn.close()
        return median(rounds)


class Bare:
    """The bare endpoint in its own process."""

    def __enter__(self):
        self.dir = tempfile.TemporaryDirectory()
        self.port = free_port()
        script = Path(self.dir.name) / "bare.py"
        script.write_text(BARE_APP)
        self.process = subprocess.Popen([sys.executable, str(script), str(self.port),
                                         str(Path(self.dir.name) / "bare.sqlite3")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_healthy(self.port, 20, "bare server")
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(10)
        self.dir.cleanup()


def main() -> int:
    """Measure both, several times, and print medians and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tickets", type=int, default=2000)
    args = parser.parse_args()
    os.environ["TURNOS_KIOSK_RATE_LIMIT"] = "[100000, 60]"
    bare, turnos = [], []
    for run in range(1, args.runs + 1):
        with Bare() as server:
            b = issue_run(server, ["unused"] * KIOSKS, args.tickets)
        with Server() as server:
            admin = server.token()
            kiosks = [request(server.port, "POST", "/api/v1/devices",
                              {"site": "cam-centro", "kind": "kiosk", "name": f"K{k}"}, admin)[1]["token"]
                      for k in range(KIOSKS)]
            t = issue_run(server, kiosks, args.tickets)
        bare.append(b["rate"])
        turnos.append(t["rate"])
        print(f"run {run}: bare insert {b['rate']:.0f}/s   Turnos issue {t['rate']:.0f}/s "
              f"(p50 {t['p50']:.1f} ms, p99 {t['p99']:.1f} ms)   ratio {t['rate'] / b['rate']:.2f}",
              flush=True)
    print(f"\nmedians of {args.runs} runs: bare insert {median(bare):.0f}/s, Turnos issue "
          f"{median(turnos):.0f}/s, ratio {median([t / b for t, b in zip(turnos, bare)]):.2f}")
    writes, own = ticket_writes_ms(args.tickets), bare_insert_ms(args.tickets)
    # A bare request's time on the loaded machine, its own insert replaced by a ticket's writes.
    ceiling = 1000 / (1000 / median(bare) - own + writes)
    print(f"the writes of one ticket alone: {writes * 1000:.0f} us (the bare endpoint's insert: "
          f"{own * 1000:.0f} us); with everything else free, Turnos would issue at most "
          f"{ceiling:.0f}/s, ratio {ceiling / median(bare):.2f}")
    return 0


if __name__ == "__main__":
    mp.set_start_method("fork")
    sys.exit(main())
