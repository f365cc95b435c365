"""Helpers for benchmarks: a real server process on loopback and lean HTTP clients."""

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADMIN = ("admin", "admin-demo-2026")


def free_port() -> int:
    """Return a free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``run.py serve --demo`` on a temporary instance (gevent, as in production)."""

    def __init__(self, layout: str | None = None):
        self.dir = tempfile.TemporaryDirectory(prefix="turnos-bench-")
        self.instance = Path(self.dir.name) / "instance"
        self.port = free_port()
        self.layout = layout
        self.process = None

    def __enter__(self):
        if self.layout:
            subprocess.run([sys.executable, str(ROOT / "run.py"), "load-layout", self.layout,
                            "--instance", str(self.instance)], check=True, capture_output=True)
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "serve", "--demo", "--port", str(self.port),
             "--instance", str(self.instance)], cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        wait_healthy(self.port, 30, "server")
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(10)
        self.dir.cleanup()

    def rss_mb(self) -> float:
        """Return the server's resident memory in MB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def token(self, username=ADMIN[0], password=ADMIN[1]) -> str:
        """Return a staff bearer token."""
        status, body = request(self.port, "POST", "/api/v1/auth/token",
                               {"username": username, "password": password})
        assert status == 201, body
        return body["token"]


def request(port: int, method: str, path: str, body=None, token: str | None = None,
            conn: http.client.HTTPConnection | None = None):
    """Send one request (on a kept-alive connection when given); return (status, json)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body)
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    raw = response.read()
    if own:
        conn.close()
    return response.status, (json.loads(raw) if raw else None)


def wait_healthy(port: int, seconds: float, what: str) -> None:
    """Wait until a server answers ``GET /healthz`` with 200, or raise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if request(port, "GET", "/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not start")


def run_processes(target, argsets: list[tuple], timeout: float) -> tuple[list, float]:
    """Run one process per argument tuple, released together by a barrier.

    ``target(*args, start, out)`` waits on ``start`` and puts one result on
    ``out``. Returns the results and the moment they were released.
    """
    import multiprocessing as mp

    ctx = mp.get_context("fork")
    start = ctx.Barrier(len(argsets) + 1)
    out = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, start, out)) for args in argsets]
    for p in procs:
        p.start()
    start.wait()
    t0 = time.perf_counter()
    results = [out.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join()
    return results, t0


def percentile(values: list[float], p: float) -> float:
    """Return the p-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def median(values):
    """Return the median."""
    return statistics.median(values)


def cpu_count() -> int:
    """Return the number of cores."""
    return os.cpu_count() or 1
