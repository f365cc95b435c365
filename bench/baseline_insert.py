"""Baseline for the issuing figure: a bare Flask endpoint doing one SQLite insert.

    python bench/baseline_insert.py [--runs 3] [--tickets 2000]

Serves the bare endpoint with the same stack as Turnos (gevent pywsgi,
TCP_NODELAY, one process, SQLite in WAL with synchronous=NORMAL, as every
Turnos connection) and loads it with the same 8 client
processes as ``bench/core_throughput.py``, then issues the same number of
real tickets through Turnos. Prints both rates and their ratio: on a shared,
noisy machine the ratio says more than either figure alone.
"""

import argparse
import multiprocessing as mp
import os
import subprocess
import sys
import tempfile
import textwrap
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
    return 0


if __name__ == "__main__":
    mp.set_start_method("fork")
    sys.exit(main())
