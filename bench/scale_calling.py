"""Scale benchmark: 50 racing desks on SQLite, on PostgreSQL, and on two processes sharing Redis.

    python bench/scale_calling.py [--runs 3] [--queue 5000] [--rows 1,3,5,6,7] [--clients raw]

Each row starts fresh servers (``run.py serve``: gevent, as in production) on
a temporary instance with 50 desks, fills the queue with 5,000 tickets through
the API (8 kiosk clients), then releases 50 desk clients at once, each its own
process with a kept-alive connection, calling ``next`` then ``no-show`` until
nobody waits. Rows:

1. SQLite, one process (the embedded default).
2. SQLite, one process with a Redis message queue configured.
3. PostgreSQL, one process.
4. PostgreSQL, one process with a Redis message queue configured.
5. PostgreSQL, two processes sharing Redis (desks alternate between them).
6. and 7. Rows 3 and 5 with ``synchronous_commit = off`` on Turnos's database:
   the durability the SQLite rows have. SQLite in WAL with synchronous=NORMAL
   (as Turnos runs it) does not wait for the disk at a commit: a commit
   survives the server process dying, and the last moments may be lost if the
   machine loses power, never corrupted. PostgreSQL's default waits for the
   disk at every commit, while the whole process waits with it (a write
   transaction does not yield); ``synchronous_commit = off`` gives SQLite's
   guarantee. The like-for-like ratio against SQLite is row 6 against row 1;
   row 3 against row 1 compares a stronger guarantee with a weaker one.

For each: calls/s, the CPU each call took in the servers, in the 50 clients
and in the rest of the machine (PostgreSQL, Redis, the kernel; read from /proc)
with the most that cost allows on this machine's cores (every core busy, no
server process past one core), duplicates (a ticket called twice) and false
empties: a ``204 nobody waiting`` that came back before some other request
that got a ticket was sent. No ticket goes back to waiting and none is issued
during the race, so that ticket was waiting when the 204 was answered (the
racing-desks test in tests/cluster checks the same way). A desk that hears a
204 while, by the calls answered so far, more tickets than desks are uncalled
presses ``next`` again, as an official would.

PostgreSQL runs a throwaway server started here with its production defaults
(fsync and synchronous_commit on) unless ``--postgres URL`` names one; SQLite
runs as Turnos runs it (WAL, synchronous=NORMAL). Everything shares this
machine's cores with the 50 clients, so the figures are a floor. The clients
are the standard library's ``http.client`` (as in the README's figures); with
``--clients raw`` they are bare sockets that take a third of that CPU, which
tells how much of a row's figure the clients' own share of the cores costs it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CpuMeter, Server, Services, median, percentile, request, run_processes  # noqa: E402
from core_throughput import DESKS, KIOSKS, issue_run, layout_with_desks  # noqa: E402


class RawConnection:
    """A kept-alive HTTP/1.1 connection on a bare socket: a desk client that costs little CPU.

    ``http.client`` parses every answer's headers with the ``email`` package: in
    the race the 50 such clients took about 0.9 ms of the machine's CPU per call,
    beside the servers and PostgreSQL on the same two cores. This one sends
    prebuilt bytes and reads the status and ``Content-Length`` only (a third of
    that CPU), so the cores go to what is measured.
    """

    def __init__(self, port: int, token: str):
        import socket

        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.headers = (f"Host: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
                        "Accept: application/json\r\nContent-Length: 0\r\n\r\n").encode()
        self.buffer = b""

    def post(self, path: str) -> tuple[int, dict | None]:
        """POST with no body; return the status and the JSON answer (None when empty)."""
        self.sock.sendall(f"POST {path} HTTP/1.1\r\n".encode() + self.headers)
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._received()
        head, _, rest = self.buffer.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += self._received()
        body, self.buffer = rest[:length], rest[length:]
        return int(head[9:12]), (json.loads(body) if body else None)

    def _received(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk


def _desk_worker(port, token, desk, total, raw, counter, start, out):
    """Call next (+ no-show) at one desk until nobody waits.

    Returns what it called, each ``next``'s latency, when each 204 came back and
    when the last request that got a ticket left (``time.monotonic`` is one clock
    for every process of the machine). ``raw``: use a ``RawConnection`` instead
    of ``http.client``.
    """
    import http.client

    if raw:
        post = RawConnection(port, token).post
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def post(path):
            return request(port, "POST", path, None, token, conn)
    called, latencies, empties, last_claim_sent = [], [], [], 0.0
    start.wait()
    while True:
        before = counter.value
        sent = time.monotonic()
        status, body = post(f"/api/v1/desks/cam-centro:{desk}/next")
        heard = time.monotonic()
        latencies.append((heard - sent) * 1000)
        if status == 204:
            empties.append(heard)
            if before < total - DESKS:
                continue  # likely a false empty: a real desk would press the button again
            break
        assert status == 200, (status, body)
        with counter.get_lock():
            counter.value += 1
        called.append(body["id"])
        last_claim_sent = sent
        status, _ = post(f"/api/v1/tickets/{body['id']}/no-show")
        assert status == 200, status
    out.put({"called": called, "latencies": latencies, "empties": empties,
             "last_claim_sent": last_claim_sent, "ended": time.perf_counter()})


def call_run(servers: list[Server], token: str, total: int, raw: bool = False) -> dict:
    """Release 50 desk clients (alternating between the servers); return rate, duplicates, false
    empties, and the CPU milliseconds each call took in the servers, in the clients and elsewhere."""
    import multiprocessing as mp

    counter = mp.get_context("fork").Value("i", 0)
    argsets = [(servers[n % len(servers)].port, token, f"b{n}", total, raw, counter)
               for n in range(1, DESKS + 1)]
    with CpuMeter([s.process.pid for s in servers]) as cpu:
        results, t0 = run_processes(_desk_worker, argsets, 900)
    elapsed = max(r["ended"] for r in results) - t0
    called = [x for r in results for x in r["called"]]
    latencies = [x for r in results for x in r["latencies"]]
    last_claim_sent = max(r["last_claim_sent"] for r in results)
    per_call = {k: cpu.figures[k] * 1000 / max(1, len(called)) for k in ("servers", "clients", "rest")}
    return {"calls": len(called), "rate": len(called) / elapsed,
            "duplicates": len(called) - len(set(called)),
            "false_empty": sum(1 for r in results for heard in r["empties"] if heard < last_claim_sent),
            "p99": percentile(latencies, 99),
            "cpu_ms": per_call, "busy_cores": cpu.figures["busy"] / cpu.figures["wall"],
            "server_cores": cpu.figures["servers"] / cpu.figures["wall"]}


def cpu_text(r: dict) -> str:
    """Describe where a row's CPU went: milliseconds per call, and cores busy."""
    ms = r["cpu_ms"]
    return (f"CPU per call {sum(ms.values()):.2f} ms (servers {ms['servers']:.2f}, clients "
            f"{ms['clients']:.2f}, databases, Redis and kernel {ms['rest']:.2f}); "
            f"machine busy {r['busy_cores']:.2f} cores, servers {r['server_cores']:.2f}")


def kiosk_tokens(server: Server, admin: str) -> list[str]:
    """Register 8 kiosks; return their device tokens."""
    tokens = []
    for k in range(KIOSKS):
        status, body = request(server.port, "POST", "/api/v1/devices",
                               {"site": "cam-centro", "kind": "kiosk", "name": f"Kiosco {k}"}, admin)
        assert status == 201, body
        tokens.append(body["token"])
    return tokens


def one_run(layout: str, services: Services | None, engine: str, processes: int, queue: bool,
            settings: dict, total: int, raw: bool = False) -> dict:
    """Start the servers of one row, fill the queue, race the desks; return the figures."""
    database = services.new_database(settings) if engine == "postgresql" else None
    message_queue = services.redis_url if queue else None
    if services is not None:
        services.flush_redis()
    env = {"TURNOS_SECRET_KEY": secrets.token_hex(32), "TURNOS_KIOSK_RATE_LIMIT": "[1000000, 60]"}
    servers = [Server(layout, database=database, message_queue=message_queue, env=env)]
    for _ in range(processes - 1):
        servers.append(Server(None, database=database, message_queue=message_queue, env=env,
                              demo=False))
    started = []
    try:
        for server in servers:
            started.append(server.__enter__())
        admin = servers[0].token()
        issue_run(servers[0], kiosk_tokens(servers[0], admin), total)
        return call_run(servers, admin, total, raw)
    finally:
        for server in reversed(started):
            server.__exit__(None, None, None)


LIKE_SQLITE = {"synchronous_commit": "off"}
ROWS = (
    ("SQLite, 1 process", "sqlite", 1, False, {}),
    ("SQLite, 1 process + Redis queue", "sqlite", 1, True, {}),
    ("PostgreSQL, 1 process", "postgresql", 1, False, {}),
    ("PostgreSQL, 1 process + Redis queue", "postgresql", 1, True, {}),
    ("PostgreSQL, 2 processes + Redis", "postgresql", 2, True, {}),
    ("PostgreSQL, 1 process, sync. commit off", "postgresql", 1, False, LIKE_SQLITE),
    ("PostgreSQL, 2 processes + Redis, sync. commit off", "postgresql", 2, True, LIKE_SQLITE),
)


def main() -> int:
    """Run every row ``--runs`` times (interleaved) and print the medians and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--queue", type=int, default=5000)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL (default: start one)")
    parser.add_argument("--redis", default=None, help="a Redis URL (default: start one)")
    parser.add_argument("--rows", default="1,2,3,4,5,6,7", help="which rows to run, e.g. 1,3,5")
    parser.add_argument("--clients", choices=("http.client", "raw"), default="http.client",
                        help="the desk clients: the standard library's, or bare sockets (less CPU)")
    args = parser.parse_args()
    wanted = [ROWS[int(n) - 1] for n in args.rows.split(",")]
    results: dict[str, list[dict]] = {row[0]: [] for row in wanted}
    with tempfile.TemporaryDirectory() as tmp, Services(args.postgres, args.redis) as services:
        layout = Path(tmp) / "layout.toml"
        layout_with_desks(layout)
        for run in range(1, args.runs + 1):
            for name, engine, processes, queue, settings in wanted:
                r = one_run(str(layout), services, engine, processes, queue, settings, args.queue,
                            args.clients == "raw")
                results[name].append(r)
                print(f"run {run} {name}: {r['rate']:.0f} calls/s over {r['calls']}, "
                      f"dup {r['duplicates']}, false empty {r['false_empty']}, "
                      f"next p99 {r['p99']:.1f} ms; {cpu_text(r)}", flush=True)
    print(f"\nmedians of {args.runs} runs ({os.cpu_count()} cores shared by servers, databases and "
          f"the 50 clients, {args.clients})")
    rate = {name: median([r["rate"] for r in rs]) for name, rs in results.items()}
    for name, rs in results.items():
        print(f"  {name:50s} {rate[name]:6.0f} calls/s  duplicates {max(r['duplicates'] for r in rs)}"
              f"  false empties {max(r['false_empty'] for r in rs)}  (max over runs)")
    cores = os.cpu_count() or 1
    print(f"\nCPU per call (medians), and the most that cost allows: every one of the {cores} "
          f"cores busy, and no server process past one core")
    ceiling = {}
    for name, _engine, processes, _queue, _settings in wanted:
        rs = results[name]
        row = {"cpu_ms": {k: median([r["cpu_ms"][k] for r in rs])
                          for k in ("servers", "clients", "rest")},
               "busy_cores": median([r["busy_cores"] for r in rs]),
               "server_cores": median([r["server_cores"] for r in rs])}
        ceiling[name] = min(cores * 1000 / sum(row["cpu_ms"].values()),
                            processes * 1000 / row["cpu_ms"]["servers"])
        print(f"  {name:50s} {cpu_text(row)}; ceiling {ceiling[name]:.0f} calls/s")
    print("\nratios")

    def ratio(a: str, b: str, target: str) -> None:
        if a in rate and b in rate:
            print(f"  {a} / {b}: {rate[a] / rate[b]:.2f}x  (target {target}; "
                  f"the first at its ceiling: {ceiling[a] / rate[b]:.2f}x)")

    ratio("PostgreSQL, 1 process", "SQLite, 1 process", ">= 0.7x")
    ratio("PostgreSQL, 1 process, sync. commit off", "SQLite, 1 process",
          ">= 0.7x; same durability")
    ratio("PostgreSQL, 2 processes + Redis", "PostgreSQL, 1 process", ">= 1.3x")
    ratio("PostgreSQL, 2 processes + Redis, sync. commit off",
          "PostgreSQL, 1 process, sync. commit off", ">= 1.3x")
    ratio("SQLite, 1 process + Redis queue", "SQLite, 1 process", ">= 0.8x")
    ratio("PostgreSQL, 1 process + Redis queue", "PostgreSQL, 1 process", ">= 0.8x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
