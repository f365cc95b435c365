"""Benchmark: call-to-screen latency, from a desk's ``next`` request to the LAST display's event.

Starts a real server (``run.py serve --demo``: gevent, as in production) on a
free port with a temporary instance, connects 100 display sockets (each its own
paired device) and 100 desk sockets (staff tokens, as the desk page connects),
then calls ``POST /api/v1/desks/cam-centro:1/next`` one citizen at a time and
measures, on one monotonic clock, from just before the request is written to
the moment the last of the 100 displays has received ``ticket_called``. After
each call the citizen is marked absent (not timed) and the bench waits until
every socket has received the call's last event, so calls never overlap.

Clients: raw WebSocket clients speaking Engine.IO 4 / Socket.IO 5, all on one
asyncio loop in this one process (one client core, one server core on a 2-core
machine). python-socketio clients cost a thread or two each and their own
overhead would be measured rather than the server's. A frame's arrival time is
the kernel's receive timestamp of its bytes (SO_TIMESTAMPNS), so the time this
single client process spends on the other 199 sockets' frames is not counted
as server latency; the send time is taken just before the request is written,
on the same (wall) clock.

The server runs with ``QUEUE_EVENT_INTERVAL`` 0 by default: with the production
throttle (0.2 s) the counts after each call come in a trailing send, the bench
waits for them before the next call, and the server idles in between; on
these virtual machines a call after an idle spell is slower for reasons of the
machine (measured with ``--gap 0.2`` and no throttle: p50 19-20 ms against
9-10 ms back to back). ``--gap`` measures that case on purpose.

Finally 100 more displays connect (300 sockets) and the server's resident
memory is read from /proc/<pid>/status (VmRSS; VmHWM is the peak).

    python bench/call_latency.py                       # 300 calls x 5 runs
    python bench/call_latency.py --gap 0.5             # each call after half a second idle
    python bench/call_latency.py --calls 200 --runs 3 --displays 100 --desks 100
    python bench/call_latency.py --processes 2 --runs 3   # PostgreSQL, two processes sharing Redis
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Server, Services, cpu_seconds, memory_mb, percentile, request  # noqa: E402

DEMO_STAFF = (("admin", "admin-demo-2026"), ("supervisor", "supervisor-demo-2026"),
              ("funcionario1", "funcionario-demo-2026"), ("funcionario2", "funcionario-demo-2026"))
SITE = "cam-centro"
DESK = "cam-centro:1"
TARGET_P50_MS = 10
TARGET_P99_MS = 50
TARGET_RSS_MB = 150
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux: receive times from the kernel
now = time.time  # the kernel's receive timestamps are on the wall clock


class Socket:
    """One Socket.IO client over a raw WebSocket: answers pings, reports events with arrival times."""

    def __init__(self, bench: Bench, kind: str, auth: dict, port: int):
        self.bench = bench
        self.kind = kind            # "display" | "desk" | "extra"
        self.auth = auth
        self.buffer = bytearray()
        self.upgraded = False
        self.fragments: list[bytes] = []
        self.ready = asyncio.get_running_loop().create_future()
        self.snapshots = 0
        self.waiting = None         # people waiting for service A in the last counts heard
        self.heard_call = False
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                           f"Host: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.sock.setblocking(False)
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self.readable)

    def close(self) -> None:
        """Close the socket."""
        asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()

    def readable(self) -> None:
        """Read what arrived, with the kernel's arrival time (SO_TIMESTAMPNS, the wall clock)."""
        try:
            data, ancillary, _flags, _addr = self.sock.recvmsg(1 << 18, socket.CMSG_SPACE(16))
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            data, ancillary = b"", []
            error = exc
        else:
            error = None
        if not data:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            if not self.ready.done():
                self.ready.set_exception(ConnectionError(f"{self.kind} socket closed: {error}"))
            elif not self.bench.closing:
                self.bench.lost += 1
            return
        at = None
        for level, kind, cdata in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanoseconds = struct.unpack("qq", cdata[:16])
                at = seconds + nanoseconds / 1e9
        self.data_received(data, time.time() if at is None else at)

    def data_received(self, data: bytes, at: float) -> None:
        """Split the bytes into WebSocket frames; every frame gets this read's arrival time."""
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(ConnectionError(self.buffer[:200].decode("latin-1")))
                return
            del self.buffer[:end + 4]
            self.upgraded = True
        buf = self.buffer
        while len(buf) >= 2:
            opcode = buf[0] & 0x0F
            fin = buf[0] & 0x80
            length = buf[1] & 0x7F
            start = 2
            if length == 126:
                if len(buf) < 4:
                    break
                length = int.from_bytes(buf[2:4], "big")
                start = 4
            elif length == 127:
                if len(buf) < 10:
                    break
                length = int.from_bytes(buf[2:10], "big")
                start = 10
            if len(buf) < start + length:
                break
            payload = bytes(buf[start:start + length])
            del buf[:start + length]
            if opcode in (0, 1):
                self.fragments.append(payload)
                if fin:
                    text = b"".join(self.fragments).decode()
                    self.fragments = []
                    self.on_packet(text, at)
            elif opcode == 9:
                self.send_frame(0xA, payload)
            elif opcode == 8:
                self.close()

    def on_packet(self, text: str, at: float) -> None:
        """Handle one Engine.IO packet."""
        kind = text[0]
        if kind == "2":                      # Engine.IO ping -> pong
            self.send_frame(0x1, b"3")
        elif kind == "0":                    # Engine.IO open -> Socket.IO connect with auth
            self.send_frame(0x1, ("40" + json.dumps(self.auth)).encode())
        elif text.startswith("44"):
            self.ready.set_exception(ConnectionError(f"refused: {text}"))
        elif text.startswith("42"):
            name = text[4:text.index('"', 4)]
            if name == "snapshot":
                self.snapshots += 1
                if not self.ready.done():
                    self.ready.set_result(True)
            elif name == "queue_changed":
                services = json.loads(text[2:])[1]["services"]
                self.waiting = next((x["waiting"] for x in services if x["code"] == "A"), 0)
            self.bench.on_event(self, name, text, at)

    def send_frame(self, opcode: int, payload: bytes) -> None:
        """Send one masked frame (clients must mask)."""
        mask = os.urandom(4)
        n = len(payload)
        if n < 126:
            header = bytes([0x80 | opcode, 0x80 | n])
        elif n < 65536:
            header = bytes([0x80 | opcode, 0x80 | 126]) + n.to_bytes(2, "big")
        else:
            header = bytes([0x80 | opcode, 0x80 | 127]) + n.to_bytes(8, "big")
        masked = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)  # a few bytes: never blocks


class Http:
    """A kept-alive HTTP/1.1 connection on the same event loop."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def call(self, method: str, path: str, token: str, body=None):
        """Send one request; return (status, json body or None)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Authorization: Bearer {token}\r\nAccept: application/json\r\n"
                f"Content-Length: {len(data)}\r\n")
        if body is not None:
            head += "Content-Type: application/json\r\n"
        self.writer.write(head.encode() + b"\r\n" + data)
        status = int((await self.reader.readline()).split()[1])
        headers = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            raw = b""
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                raw += chunk[:-2]
        else:
            length = int(headers.get("content-length", 0))
            raw = await self.reader.readexactly(length) if length else b""
        if headers.get("connection", "").lower() == "close":
            self.writer.close()
            self.reader = self.writer = None
        return status, (json.loads(raw) if raw else None)


class Call:
    """One measured call: when it was sent and when each socket heard its events."""

    def __init__(self, displays: int, desks: int):
        self.sent = now()
        self.displays = displays
        self.desks = desks
        self.heard: list[float] = []         # display read times of ticket_called
        self.code = None
        self.counted = set()                 # sockets that also got the queue_changed after it
        self.no_shows = set()                # desk sockets that heard the no-show
        self.all_heard = asyncio.Event()
        self.settled = asyncio.Event()

    def check(self) -> None:
        """Wake the waiters when their condition holds."""
        if len(self.heard) >= self.displays:
            self.all_heard.set()
        if (len(self.counted) >= self.displays + self.desks
                and len(self.no_shows) >= self.desks):
            self.settled.set()


class Bench:
    """Sockets, tokens and the measuring loop."""

    def __init__(self, servers: list[Server], args):
        self.servers = servers
        self.port = servers[0].port
        self.args = args
        self.sockets: list[Socket] = []
        self.call: Call | None = None
        self.lost = 0
        self.closing = False
        self.counting = asyncio.Event()
        self.queue_target = 0

    def on_event(self, sock: Socket, name: str, text: str, at: float) -> None:
        """Route the events a measurement waits for."""
        call = self.call
        if name == "queue_changed" and self.queue_target and self._queues_done():
            self.counting.set()
        if call is None:
            return
        if sock.kind == "display" and name == "ticket_called":
            call.heard.append(at)
            if call.code is None:
                call.code = json.loads(text[2:])[1]["code"]
        if name == "ticket_called":
            sock.heard_call = True
        elif name == "queue_changed" and getattr(sock, "heard_call", False):
            # The waiting counts after a call are its last event (sent up to
            # QUEUE_EVENT_INTERVAL later): the next call waits for every socket
            # to have them, so calls never overlap with the previous fan-out.
            call.counted.add(id(sock))
        elif sock.kind == "desk" and name == "ticket_no_show":
            call.no_shows.add(id(sock))
        call.check()

    def _queues_done(self) -> bool:
        """Tell whether every measured socket's last counts show the expected people waiting."""
        return all(s.waiting == self.queue_target for s in self.sockets
                   if s.kind in ("display", "desk"))

    async def connect(self, kind: str, auths: list[dict]) -> None:
        """Open sockets in small batches and wait for each one's snapshot."""
        for i in range(0, len(auths), 25):
            batch = []
            for n, auth in enumerate(auths[i:i + 25], start=i):
                # Several processes: the sockets alternate between them (calls go to the first).
                sock = Socket(self, kind, auth, self.servers[n % len(self.servers)].port)
                self.sockets.append(sock)
                batch.append(sock.ready)
            await asyncio.wait_for(asyncio.gather(*batch), 30)

    async def issue(self, http: Http, token: str, count: int) -> None:
        """Issue tickets and wait until every socket's counts show them all waiting.

        The server throttles ``queue_changed`` (a burst becomes a few sends), so
        the wait is for the final counts, not for one event per ticket.
        """
        self.queue_target = 0
        self.counting.clear()
        body = None
        for _ in range(count):
            status, body = await http.call("POST", "/api/v1/tickets", token,
                                           {"site": SITE, "service": "A"})
            assert status == 201, body
        self.queue_target = body["ahead"] + 1
        if not self._queues_done():
            await asyncio.wait_for(self.counting.wait(), 60)
        self.queue_target = 0

    async def run_calls(self, http: Http, token: str, count: int) -> dict:
        """Measure ``count`` calls one after another; return the latencies in ms."""
        last, first = [], []
        displays = sum(s.kind == "display" for s in self.sockets)
        desks = sum(s.kind == "desk" for s in self.sockets)
        for s in self.sockets:
            s.heard_call = False
        for _ in range(count):
            call = self.call = Call(displays, desks)
            status, ticket = await http.call("POST", f"/api/v1/desks/{DESK}/next", token)
            assert status == 200, ticket
            await asyncio.wait_for(call.all_heard.wait(), 10)
            assert call.code == ticket["code"], (call.code, ticket["code"])
            last.append((max(call.heard) - call.sent) * 1000)
            first.append((min(call.heard) - call.sent) * 1000)
            status, body = await http.call("POST", f"/api/v1/tickets/{ticket['id']}/no-show", token)
            assert status == 200, body
            await asyncio.wait_for(call.settled.wait(), 10)
            if self.args.gap:
                await asyncio.sleep(self.args.gap)  # the server idles, as between real calls
            for s in self.sockets:
                s.heard_call = False
        self.call = None
        return {"last": last, "first": first}


def summary(values: list[float]) -> str:
    """Return p50/p99/max of a list of milliseconds."""
    return (f"p50 {percentile(values, 50):6.2f}  p99 {percentile(values, 99):6.2f}  "
            f"max {max(values):6.2f}")


async def bench(servers: list[Server], args) -> int:
    """Set up the hall, measure, and print the figures; return the exit status."""
    server = servers[0]
    where = "SQLite" if not args.postgres else "PostgreSQL"
    print(f"{len(servers)} server process(es) (run.py serve, gevent) on {where}"
          f"{' sharing Redis' if len(servers) > 1 else ''}: pids "
          f"{', '.join(str(s.process.pid) for s in servers)}; cores: {os.cpu_count()}")
    tokens = [server.token(u, p) for u, p in DEMO_STAFF]
    admin, caller = tokens[0], tokens[2]
    status, body = request(server.port, "POST", f"/api/v1/desks/{DESK}/session", {}, caller)
    assert status == 201, body
    devices = []
    for i in range(args.displays + args.extra):
        status, body = request(server.port, "POST", "/api/v1/devices",
                               {"site": SITE, "kind": "display", "name": f"Pantalla {i + 1}"}, admin)
        assert status == 201, body
        devices.append(body["token"])
    idle_rss = sum(memory_mb(s.process.pid)[0] for s in servers)

    b = Bench(servers, args)
    started = now()
    await b.connect("display", [{"token": t} for t in devices[:args.displays]])
    await b.connect("desk", [{"token": tokens[i % len(tokens)], "site": SITE}
                             for i in range(args.desks)])
    print(f"connected {args.displays} displays + {args.desks} desk sockets in "
          f"{now() - started:.1f} s; server RSS idle {idle_rss:.0f} MB, "
          f"with {len(b.sockets)} sockets {sum(memory_mb(s.process.pid)[0] for s in servers):.0f} MB")

    http = Http(server.port)
    runs = []
    print(f"\n{args.calls} calls per run, one at a time (ms from the next request):")
    for run in range(1, args.runs + 1):
        await b.issue(http, admin, args.calls)
        cpu = sum(cpu_seconds(s.process.pid) for s in servers)
        result = await b.run_calls(http, caller, args.calls)
        cpu = (sum(cpu_seconds(s.process.pid) for s in servers) - cpu) / args.calls * 1000
        runs.append(result)
        print(f"  run {run}: last display {summary(result['last'])} | first display "
              f"p50 {percentile(result['first'], 50):5.2f} | server CPU {cpu:4.1f} ms per "
              f"call + no-show | load {os.getloadavg()[0]:.1f}")

    b_extra = [{"token": t} for t in devices[args.displays:]]
    await b.connect("extra", b_extra)
    total = len(b.sockets)
    rss_now = sum(memory_mb(s.process.pid)[0] for s in servers)
    rss_peak = sum(memory_mb(s.process.pid)[1] for s in servers)
    b.closing = True

    p50 = statistics.median(percentile(r["last"], 50) for r in runs)
    p99 = statistics.median(percentile(r["last"], 99) for r in runs)
    print("\nResult (median of runs), next request -> last of "
          f"{args.displays} displays has ticket_called, {args.desks} desk sockets also connected:")
    shown = (TARGET_P50_MS, TARGET_P99_MS) if len(servers) == 1 else (15, 60)
    print(f"  p50 {p50:.2f} ms (target <= {shown[0]})   p99 {p99:.2f} ms (target <= {shown[1]})")
    print(f"  server memory with {total} sockets: VmRSS {rss_now:.0f} MB "
          f"(target <= {TARGET_RSS_MB}), peak VmHWM {rss_peak:.0f} MB")
    if b.lost:
        print(f"  WARNING: {b.lost} sockets dropped during the benchmark")
    target_p50, target_p99 = (TARGET_P50_MS, TARGET_P99_MS) if len(servers) == 1 else (15, 60)
    ok = p50 <= target_p50 and p99 <= target_p99 and not b.lost
    if len(servers) == 1:
        ok = ok and rss_now <= TARGET_RSS_MB
    print("  targets met" if ok else "  TARGETS NOT MET")
    for sock in b.sockets:
        sock.close()
    return 0 if ok else 1


def main() -> int:
    """Parse the options, start the server, run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="calls per run (default 300)")
    parser.add_argument("--runs", type=int, default=5, help="runs (default 5)")
    parser.add_argument("--displays", type=int, default=100, help="display sockets (default 100)")
    parser.add_argument("--desks", type=int, default=100, help="desk sockets (default 100)")
    parser.add_argument("--extra", type=int, default=100,
                        help="more display sockets for the memory figure (default 100)")
    parser.add_argument("--gap", type=float, default=0.0,
                        help="seconds the server idles between calls (default 0: back to back)")
    parser.add_argument("--queue-interval", type=float, default=0.0,
                        help="the server's QUEUE_EVENT_INTERVAL (default 0: counts sent with "
                             "each call, so the next call need not wait for a trailing send)")
    parser.add_argument("--processes", type=int, default=1,
                        help="server processes sharing a Redis (2: PostgreSQL and Redis, screens "
                             "split between them; the calls go through the first)")
    parser.add_argument("--postgres", action="store_true",
                        help="store on PostgreSQL (a throwaway server) instead of SQLite")
    args = parser.parse_args()
    os.environ["TURNOS_QUEUE_EVENT_INTERVAL"] = str(args.queue_interval)
    if args.processes > 1:
        args.postgres = True
    if not args.postgres:
        with Server() as server:
            return asyncio.run(bench([server], args))
    with Services() as services:
        database = services.new_database()
        queue = services.redis_url if args.processes > 1 else None
        env = {"TURNOS_SECRET_KEY": os.urandom(32).hex()}
        servers = [Server(database=database, message_queue=queue, env=env, demo=(n == 0))
                   for n in range(args.processes)]
        started = []
        try:
            for server in servers:
                started.append(server.__enter__())
            return asyncio.run(bench(servers, args))
        finally:
            for server in reversed(started):
                server.__exit__(None, None, None)


if __name__ == "__main__":
    sys.exit(main())
