"""Helpers for benchmarks: a real server process on loopback and lean HTTP clients."""

import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ADMIN = ("admin", "admin-demo-2026")


def _exit_on_sigterm(signum, _frame):
    """Leave as on Ctrl-C: the servers and throwaway databases started here stop (their ``__exit__``)."""
    sys.exit(128 + signum)


# A benchmark stopped by ``timeout`` or ``kill`` left its server processes and its throwaway
# PostgreSQL and Redis running: SIGTERM ended Python without unwinding.
signal.signal(signal.SIGTERM, _exit_on_sigterm)


def memory_mb(pid: int | str = "self") -> tuple[float, float]:
    """Return a process's resident memory now and at its peak (VmRSS, VmHWM) in MB; NaN if gone."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(value.split()[0]) / 1024
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


def cpu_seconds(pid: int) -> float:
    """Return a process's CPU seconds so far (user and system, its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """Return a free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``run.py serve`` on a temporary instance (gevent, as in production).

    ``database`` is a PostgreSQL URL (default: SQLite in the instance);
    ``message_queue`` a Redis URL; ``demo`` seeds the demo CAM (the first of
    several processes on one database does, the others join it); ``env`` adds
    environment variables (several processes share ``TURNOS_SECRET_KEY``).
    """

    def __init__(self, layout: str | None = None, *, database: str | None = None,
                 message_queue: str | None = None, demo: bool = True, env: dict | None = None):
        self.dir = tempfile.TemporaryDirectory(prefix="turnos-bench-")
        self.instance = Path(self.dir.name) / "instance"
        self.port = free_port()
        self.layout = layout
        self.database = database
        self.message_queue = message_queue
        self.demo = demo
        self.env = dict(os.environ, **(env or {}))
        self.process = None

    def args(self) -> list[str]:
        """Return the options that point a command at this server's instance and database."""
        where = ["--instance", str(self.instance)]
        return where + (["--database", self.database] if self.database else [])

    def __enter__(self):
        if self.layout:
            subprocess.run([sys.executable, str(ROOT / "run.py"), "load-layout", self.layout,
                            *self.args()], check=True, capture_output=True, env=self.env)
        extra = (["--demo"] if self.demo else []) + (
            ["--message-queue", self.message_queue] if self.message_queue else [])
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "serve", "--port", str(self.port), *self.args(),
             *extra], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env)
        wait_healthy(self.port, 60, "server")
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(10)
        self.dir.cleanup()

    def rss_mb(self) -> float:
        """Return the server's resident memory in MB."""
        return memory_mb(self.process.pid)[0]

    def token(self, username=ADMIN[0], password=ADMIN[1]) -> str:
        """Return a staff bearer token (waiting, as a person would, when logins are rate limited).

        The server takes 20 logins a minute from one address: a benchmark that
        signs in 20 officials and an administrator waits for the next minute.
        """
        for _attempt in range(30):
            status, body = request(self.port, "POST", "/api/v1/auth/token",
                                   {"username": username, "password": password})
            if status != 429:
                break
            time.sleep(3)
        assert status == 201, body
        return body["token"]


class Services:
    """A throwaway PostgreSQL and Redis on loopback, as ``scripts/test`` starts them.

    PostgreSQL keeps its production defaults (fsync and synchronous_commit on):
    the comparison with SQLite is with what a municipality would run. Give
    ``postgres`` (a server URL) or ``redis`` to use running servers instead:
    the databases created there are dropped at the end, and between runs only
    Turnos's keys of that Redis are deleted (rate-limit counters and the
    cluster's leases), never the rest of it.
    """

    def __init__(self, postgres: str | None = None, redis: str | None = None,
                 pg_settings: dict | None = None):
        self.postgres_url = postgres
        self.redis_url = redis
        self.pg_settings = pg_settings or {}
        self.dir = None
        self._redis = None
        self._databases: list[str] = []

    def __enter__(self):
        import shutil

        self.dir = tempfile.mkdtemp(prefix="turnos-bench-services-")
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        if not self.postgres_url:
            bins = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
            if not bins:
                raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
            self.pg_bin = bins[-1]
            port = free_port()
            subprocess.run([*as_postgres, str(self.pg_bin / "initdb"), "-D", f"{self.dir}/pg",
                            "-A", "trust", "-U", "postgres"], check=True, capture_output=True)
            options = f"-p {port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=400"
            options += "".join(f" -c {k}={v}" for k, v in self.pg_settings.items())
            subprocess.run([*as_postgres, str(self.pg_bin / "pg_ctl"), "-D", f"{self.dir}/pg", "-w",
                            "-l", f"{self.dir}/pg.log", "-o", options, "start"],
                           check=True, capture_output=True)
            self.as_postgres = as_postgres
            self.postgres_url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
            self._own_pg = True
        else:
            self._own_pg = False
        if not self.redis_url:
            port = free_port()
            self._redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                                            "--save", "", "--appendonly", "no", "--dir", self.dir],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.redis_url = f"redis://127.0.0.1:{port}/0"
            deadline = time.monotonic() + 10
            while subprocess.run(["redis-cli", "-p", str(port), "ping"],
                                 capture_output=True).returncode != 0:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.1)
        return self

    def new_database(self, settings: dict | None = None) -> str:
        """Create an empty database (with ``settings`` for every connection to it); return its URL."""
        import psycopg

        name = f"turnos_bench_{os.getpid()}_{len(self._databases) + 1}"
        self._databases.append(name)
        with psycopg.connect(self.postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
            for key, value in (settings or {}).items():  # bench-chosen names and values
                conn.execute(f'ALTER DATABASE "{name}" SET {key} = {value}')
        return self.postgres_url.rsplit("/", 1)[0] + f"/{name}"

    def flush_redis(self) -> None:
        """Forget Turnos's keys (rate limits, leases) between runs; all of a Redis started here."""
        import redis

        client = redis.Redis.from_url(self.redis_url)
        if self._redis is not None:
            client.flushall()
            return
        for pattern in ("turnos:*", "LIMITS:*"):  # the cluster's and the rate limits' keys
            keys = list(client.scan_iter(pattern, count=1000))
            for n in range(0, len(keys), 1000):
                client.delete(*keys[n:n + 1000])

    def __exit__(self, *exc):
        if not self._own_pg and self._databases:  # a server of the user's: leave it as it was
            import psycopg

            with psycopg.connect(self.postgres_url, autocommit=True) as conn:
                for name in self._databases:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if self._redis is not None:
            self._redis.terminate()
            self._redis.wait(10)
        if self._own_pg:
            subprocess.run([*self.as_postgres, str(self.pg_bin / "pg_ctl"), "-D", f"{self.dir}/pg",
                            "-m", "fast", "stop"], capture_output=True)
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)


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


class CpuMeter:
    """Where this machine's CPU went while a benchmark ran, from /proc (Linux).

    ``servers`` are the server processes' pids (their threads included); the
    clients are this process's children that ended and were waited for in the
    window (the benchmark's worker processes); the rest is everything else the
    machine did meanwhile: the database and Redis servers, the kernel's network
    work, and anything else running. Figures are CPU seconds.
    """

    def __init__(self, servers: list[int]):
        self.servers = servers

    @staticmethod
    def _busy() -> float:
        """Return the machine's busy CPU seconds since boot, every core (user, system, interrupts)."""
        user, nice, system, _idle, _iowait, irq, softirq = (
            int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8])
        return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")

    def _sample(self) -> tuple[float, float, float, float]:
        import resource

        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (time.perf_counter(), self._busy(), sum(cpu_seconds(p) for p in self.servers),
                children.ru_utime + children.ru_stime)

    def __enter__(self):
        self.start = self._sample()
        return self

    def __exit__(self, *exc):
        end = self._sample()
        wall, busy, servers, clients = (b - a for a, b in zip(self.start, end))
        self.figures = {"wall": wall, "busy": busy, "servers": servers, "clients": clients,
                        "rest": max(0.0, busy - servers - clients)}


def cpu_count() -> int:
    """Return the number of cores."""
    return os.cpu_count() or 1


class Nginx:
    """nginx with the shipped configuration (deploy/nginx/turnos.conf) in front of some ports."""

    def __init__(self, ports: list[int]):
        import re
        import shutil

        self.program = shutil.which("nginx") or "/usr/sbin/nginx"
        self.dir = tempfile.TemporaryDirectory(prefix="turnos-bench-nginx-")
        folder = Path(self.dir.name)
        self.port = free_port()
        site = (ROOT / "deploy" / "nginx" / "turnos.conf").read_text(encoding="utf-8")
        servers = "".join(f"    server 127.0.0.1:{p};\n" for p in ports)
        site = re.sub(r"(    server 127\.0\.0\.1:\d+[^\n]*\n)+", servers, site, count=1)
        site = site.replace("listen 80;", f"listen 127.0.0.1:{self.port};")
        site = site.replace("/var/lib/nginx/turnos-public", str(folder / "public-cache"))
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp = folder / "temp"
        temp.mkdir()
        (folder / "nginx.conf").write_text(
            f"{user}worker_processes 1;\ndaemon off;\npid {folder}/nginx.pid;\n"
            f"error_log {folder}/error.log;\nevents {{ worker_connections 1024; }}\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {temp}/body;\n"
            f"  proxy_temp_path {temp}/proxy;\n  fastcgi_temp_path {temp}/fastcgi;\n"
            f"  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n{site}\n}}\n",
            encoding="utf-8")
        self.folder = folder
        self.process = None

    def __enter__(self):
        self.process = subprocess.Popen([self.program, "-p", str(self.folder), "-c",
                                         str(self.folder / "nginx.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_healthy(self.port, 10, "nginx")
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait(10)
        self.dir.cleanup()
