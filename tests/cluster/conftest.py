"""Two server processes on one PostgreSQL database, sharing events through a real Redis.

Each story gets its own Redis server (so one story can stop and restart it),
a fresh PostgreSQL database, and two ``run.py serve`` processes: A seeds the
demo, B joins it. The failover story also puts the nginx configuration that
ships in ``deploy/nginx/turnos.conf`` in front of them.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, LiveServer, free_port, require_program

pytestmark = pytest.mark.engines("postgresql")


class RedisServer:
    """A redis-server of the story's own on loopback; it can be stopped and started again."""

    def __init__(self, folder: Path):
        self.program = require_program("redis-server")
        self.folder = folder
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> None:
        """Start the server and wait until it answers PING."""
        import redis

        self.process = subprocess.Popen(
            [self.program, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.RedisError:
                time.sleep(0.05)  # polling a readiness probe, not waiting for an outcome
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        """Stop the server (its data is gone: it keeps none)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class Nginx:
    """nginx with the shipped Turnos configuration, its upstream pointed at the story's processes."""

    def __init__(self, folder: Path, ports: list[int]):
        self.program = require_program("nginx")
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        site = (ROOT / "deploy" / "nginx" / "turnos.conf").read_text(encoding="utf-8")
        servers = "".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n" for p in ports)
        site = re.sub(r"(    server 127\.0\.0\.1:\d+[^\n]*\n)+", servers, site, count=1)
        site = re.sub(r"listen 80;", f"listen 127.0.0.1:{self.port};", site)
        site = site.replace("/var/lib/nginx/turnos-public", str(folder / "public-cache"))
        user = "user root;\n" if os.geteuid() == 0 else ""
        temp = folder / "temp"
        temp.mkdir(exist_ok=True)
        (folder / "nginx.conf").write_text(
            f"{user}worker_processes 1;\ndaemon off;\npid {folder}/nginx.pid;\n"
            f"error_log {folder}/error.log;\nevents {{ worker_connections 256; }}\n"
            f"http {{\n  access_log off;\n  client_body_temp_path {temp}/body;\n"
            f"  proxy_temp_path {temp}/proxy;\n  fastcgi_temp_path {temp}/fastcgi;\n"
            f"  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n{site}\n}}\n",
            encoding="utf-8")
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        """Start nginx and wait until it forwards /healthz."""
        import requests

        self.process = subprocess.Popen([self.program, "-p", str(self.folder), "-c",
                                         str(self.folder / "nginx.conf")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                time.sleep(0.05)  # polling a readiness probe, not waiting for an outcome
        raise RuntimeError(f"nginx did not start: {(self.folder / 'error.log').read_text()}")

    def stop(self) -> None:
        """Stop nginx."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


class Pair:
    """Processes A and B of one Turnos server, sharing the database and the message queue."""

    def __init__(self, a: LiveServer, b: LiveServer, redis_server: RedisServer, database: str):
        self.a, self.b, self.redis, self.database = a, b, redis_server, database

    @property
    def processes(self) -> list[LiveServer]:
        """Both processes."""
        return [self.a, self.b]


@pytest.fixture
def redis_server(tmp_path):
    """A Redis server of this story's own."""
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def pair(tmp_path, database, redis_server):
    """Two server processes on one PostgreSQL database and one Redis (A seeded the demo)."""
    # Who a token belongs to is kept 300 s here (5 s in production): a change that failed to reach
    # the other process's memory would show in any story, not only within a few seconds.
    env = {"TURNOS_SECRET_KEY": secrets.token_hex(32), "TURNOS_ID_HASH_KEY": secrets.token_hex(32),
           "TURNOS_ALERT_INTERVAL_SECONDS": "1", "TURNOS_AUTH_CACHE_SECONDS": "300"}
    args = ["--message-queue", redis_server.url]
    a = LiveServer(tmp_path / "a", database=database, env=env, extra_args=args)
    b = LiveServer(tmp_path / "b", database=database, env=env, extra_args=args, demo=False)
    a.start()
    b.start()
    yield Pair(a, b, redis_server, database)
    for server in (a, b):
        server.close()


@pytest.fixture
def nginx(tmp_path, pair):
    """nginx in front of both processes, configured as deploy/nginx/turnos.conf ships."""
    folder = tmp_path / "nginx"
    folder.mkdir()
    proxy = Nginx(folder, [pair.a.port, pair.b.port])
    proxy.start()
    yield proxy
    proxy.stop()
