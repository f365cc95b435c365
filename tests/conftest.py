"""Shared fixtures: a ready site (the demo layout), users, a frozen clock, API and live servers.

Every story starts at 08:00 in Bogotá on a Wednesday, with the demo CAM:
services A..F, desks 1..6, and four staff accounts.
"""

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.clock import FrozenClock

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "secret-pass-1"
USERS = (("admin", "admin"), ("supervisor", "supervisor"), ("ana", "official"),
         ("beto", "official"), ("carla", "official"))
START = "2026-11-25T08:00:00-05:00"
ARTIFACTS = ROOT / "test-artifacts"


def in_ci() -> bool:
    """Tell whether the tests run in CI, where nothing may be skipped."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def login(app, username: str, password: str = PASSWORD):
    """Return a browser-like test client logged in through the login form."""
    browser = app.test_client()
    page = browser.get("/login").get_data(as_text=True)
    csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
    r = browser.post("/login", data={"username": username, "password": password, "csrf_token": csrf})
    assert r.status_code == 302, r.get_data(as_text=True)
    return browser


def require_program(name: str) -> str:
    """Return a program's path; skip locally (fail in CI) when it is missing."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (the test command installs it)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


def read_only(folder: Path, argv: list[str]) -> list[str]:
    """``argv`` run with ``folder`` mounted read-only in a mount namespace of its own.

    What a user sees where a folder is not theirs to write (root's files for the
    turnos user, a unit's ProtectSystem=strict) even when the tests run as root,
    whom file permissions do not stop.
    """
    unshare = require_program("unshare")
    here = shlex.quote(str(folder))
    script = f"mount --bind {here} {here} && mount -o remount,bind,ro {here} && exec {shlex.join(argv)}"
    return [unshare, "--mount", "--propagation", "private", "sh", "-c", script]


# --- the storage engines: every story runs on SQLite and on PostgreSQL -------------------

# A PostgreSQL server for the tests (scripts/test starts a throwaway one on loopback and
# sets this): postgresql://USER@HOST:PORT/DB. Each test gets a database of its own, made
# from a migrated template in a few milliseconds.
POSTGRES = os.environ.get("TURNOS_TEST_POSTGRES", "")
# Limit the engines (e.g. TURNOS_TEST_ENGINES=sqlite while developing); CI runs both.
ENGINES = tuple(e for e in os.environ.get("TURNOS_TEST_ENGINES", "sqlite,postgresql").split(",") if e)


class PostgresServer:
    """The test PostgreSQL server: a migrated template and one throwaway database per test."""

    def __init__(self, url: str):
        self.url = url
        self.template = f"turnos_template_{os.getpid()}"
        self.count = 0

    def admin(self):
        """Return an autocommit connection to the server's maintenance database."""
        import psycopg

        return psycopg.connect(self.url, autocommit=True)

    def url_for(self, name: str) -> str:
        """Return the URL of one database on this server."""
        from urllib.parse import urlsplit, urlunsplit

        return urlunsplit(urlsplit(self.url)._replace(path=f"/{name}"))

    def create_template(self) -> None:
        """Create the template database with every migration applied."""
        from shared import migrations

        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.template}"')
        migrations.apply(self.url_for(self.template))

    def fresh(self, template: str | None = None) -> str:
        """Create a migrated database for one test (or a bare one from ``template``); return its URL."""
        self.count += 1
        name = f"turnos_t{os.getpid()}_{self.count}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template or self.template}"')
        return self.url_for(name)

    def drop(self, url: str) -> None:
        """Drop a test's database, closing what still uses it."""
        name = url.rsplit("/", 1)[1]
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def drop_template(self) -> None:
        """Drop the template at the end of the session."""
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.template}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server():
    """The test PostgreSQL server (fails in CI, skips elsewhere, when none was started)."""
    if not POSTGRES:
        message = "no PostgreSQL server for the tests (bash scripts/test starts one)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(POSTGRES)
    server.create_template()
    yield server
    server.drop_template()


def pytest_generate_tests(metafunc):
    """Run every story that touches the storage once per engine (``engines`` marker: only those)."""
    if "engine_name" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("engines")
        allowed = marker.args if marker else ("sqlite", "postgresql")
        metafunc.parametrize("engine_name", [e for e in allowed if e in ENGINES])


@pytest.fixture
def database(engine_name, tmp_path, request, monkeypatch) -> str:
    """Where a story's data lives: a SQLite file in its instance folder, or a fresh PostgreSQL database.

    It is also the story's ``TURNOS_DATABASE_URL``, so a command the story runs in-process
    (``run.py close-day`` through click's runner) works on the same data, as an
    administrator's shell with that setting would.
    """
    if engine_name == "sqlite":
        (tmp_path / "instance").mkdir(exist_ok=True)
        target = str(tmp_path / "instance" / "turnos.sqlite3")
    else:
        server = request.getfixturevalue("postgres_server")
        target = server.fresh()
        request.addfinalizer(lambda: server.drop(target))
    monkeypatch.setenv("TURNOS_DATABASE_URL", target)
    return target


@pytest.fixture
def clock():
    """A clock frozen at 08:00 Bogotá time; tests move it explicitly."""
    return FrozenClock(START)


@pytest.fixture
def app(tmp_path, clock, database):
    """The application on a fresh instance (and database) with the demo layout and staff accounts."""
    from server import create_app
    from shared import auth, layout
    from shared.db import get_db

    # Estimates are replayed exactly for every ticket in tests, and every change
    # sends its waiting counts at once; the cache and the throttle that serve
    # bursts in production have their own stories in tests/core.
    app = create_app({"TESTING": True, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                      "SOCKETIO_ASYNC_MODE": "threading", "ESTIMATE_CACHE_SECONDS": 0,
                      "QUEUE_EVENT_INTERVAL": 0, "CONFIG_CACHE_SECONDS": 0, "DATABASE_URL": database},
                     instance=tmp_path / "instance", clock=clock)
    with app.app_context():
        db = get_db()
        layout.load_file(db, layout.DEMO_LAYOUT, clock)
        for username, role in USERS:
            auth.create_user(db, username, PASSWORD, role, clock, display_name=username.title())
    return app


@pytest.fixture
def client(app):
    """A test client without credentials."""
    return app.test_client()


class Api:
    """Calls the JSON API as a given user (bearer token) or device."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self.tokens: dict[str, str] = {}

    def token(self, username: str) -> str:
        """Return (and cache) a bearer token for a staff user."""
        if username not in self.tokens:
            r = self.client.post("/api/v1/auth/token",
                                 json={"username": username, "password": PASSWORD})
            assert r.status_code == 201, r.get_json()
            self.tokens[username] = r.get_json()["token"]
        return self.tokens[username]

    def device(self, kind: str = "kiosk", site: str = "cam-centro", name: str | None = None) -> str:
        """Register a device and return its token."""
        r = self.call("admin", "POST", "/api/v1/devices",
                      {"site": site, "kind": kind, "name": name or f"{kind} {len(self.tokens)}"})
        assert r.status_code == 201, r.get_json()
        token = r.get_json()["token"]
        self.tokens[f"device:{token}"] = token
        return token

    def call(self, who: str | None, method: str, path: str, json=None, headers=None):
        """Send one request as ``who`` (a username, a raw token, or None)."""
        headers = dict(headers or {})
        if who:
            token = who if who.startswith(("tst_", "tdv_")) else self.token(who)
            headers["Authorization"] = f"Bearer {token}"
        return self.client.open(path, method=method, json=json, headers=headers)

    def issue(self, service="A", priority=None, who="admin", site="cam-centro") -> dict:
        """Issue a ticket and return it."""
        body = {"site": site, "service": service}
        if priority:
            body["priority"] = priority
        r = self.call(who, "POST", "/api/v1/tickets", body)
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    def take_desk(self, who: str, desk: str = "cam-centro:1") -> dict:
        """Make a user hold a desk."""
        r = self.call(who, "POST", f"/api/v1/desks/{desk}/session")
        assert r.status_code == 201, r.get_json()
        return r.get_json()

    def next(self, who: str, desk: str = "cam-centro:1"):
        """Call the next ticket at a desk; return the response."""
        return self.call(who, "POST", f"/api/v1/desks/{desk}/next")


@pytest.fixture
def api(app):
    """The JSON API, called with bearer tokens."""
    return Api(app)


@pytest.fixture
def engine(app):
    """A queue engine on the test database that records its announcements."""
    from shared.db import get_db
    from shared.events import RecordingAnnouncer
    from shared.queue import QueueEngine

    with app.app_context():
        yield QueueEngine(get_db(), app.extensions["turnos.clock"], RecordingAnnouncer())


# --- live server (a real process, real sockets) -------------------------------

def sessions_waiting(url: str, **wait: str) -> int:
    """Count a PostgreSQL database's sessions waiting as told (``wait_event_type=``, ``wait_event=``)."""
    import psycopg

    where = "".join(f" AND {column} = %({column})s" for column in sorted(wait))
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                            + where, wait).fetchone()[0]


# Each xdist worker hands out ports from a slice of its own, below the kernel's ephemeral
# range (32768-60999 on Debian): a port a story's server frees while it restarts is never
# given to the other worker's next server (whose /healthz would then answer the story's
# kiosk, or take the port before the story's server is back), and no outgoing connection
# is ever given one of them.
PORT_RANGE = (20000, 32768)


def _port_slice() -> range:
    """This worker's ports."""
    workers = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    size = (PORT_RANGE[1] - PORT_RANGE[0]) // workers
    return range(PORT_RANGE[0] + worker * size, PORT_RANGE[0] + (worker + 1) * size)


_next_port = [None]


def free_port() -> int:
    """Return a TCP port of this worker's slice that is free on loopback right now.

    Ports are taken in turn from a random start, so a port is handed out again only
    after the whole slice (thousands) was.
    """
    import random

    ports = _port_slice()
    if _next_port[0] is None:
        _next_port[0] = random.randrange(len(ports))
    for _ in range(len(ports)):
        port = ports[_next_port[0] % len(ports)]
        _next_port[0] += 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {ports}")


class LiveServer:
    """``python run.py serve --demo`` in a subprocess, restartable on the same port and data."""

    def __init__(self, instance: Path, port: int | None = None, extra_args=(), database: str | None = None,
                 env: dict | None = None, demo: bool = True):
        self.instance = instance
        self.database = database or str(instance / "turnos.sqlite3")
        self.env = dict(env or {})
        self.demo = demo
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_args = list(extra_args)
        self.process: subprocess.Popen | None = None
        self.log = instance.parent / f"server-{self.port}.log"
        self._hold: socket.socket | None = None

    def _hold_port(self) -> None:
        """Keep the port bound (not listening) while the server is down.

        Connections to it are refused, as to a dead server, and ``free_port()`` in the
        other xdist worker cannot hand it to a stranger whose ``/healthz`` would answer.
        """
        if self._hold is None:
            hold = socket.socket()
            hold.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            hold.bind(("127.0.0.1", self.port))
            self._hold = hold

    def _release_port(self) -> None:
        if self._hold is not None:
            self._hold.close()
            self._hold = None

    def close(self) -> None:
        """Stop the server for good and let its port go (the story is over)."""
        self._terminate()
        self._release_port()

    def start(self, timeout: float = 30) -> None:
        """Start the server and wait until /healthz answers."""
        import requests

        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        demo = ["--demo"] if self.demo else []
        self._release_port()
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "run.py"), "serve", *demo, "--port", str(self.port),
                 "--instance", str(self.instance), "--database", self.database, *self.extra_args],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)  # polling a readiness probe, not waiting for an outcome
        raise RuntimeError(f"server did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """Kill the server process at once (kill -9: no goodbye to its sockets)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._hold_port()

    def stop(self) -> None:
        """Stop the server process; its port stays held (refusing connections) until it starts again."""
        self._terminate()
        self._hold_port()

    def _terminate(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def token(self, username: str, password: str) -> str:
        """Return a bearer token from the live server."""
        import requests

        r = requests.post(self.url + "/api/v1/auth/token",
                          json={"username": username, "password": password}, timeout=10)
        assert r.status_code == 201, r.text
        return r.json()["token"]

    def call(self, token: str, method: str, path: str, json=None):
        """Send one API request with a bearer token."""
        import requests

        return requests.request(method, self.url + path, json=json, timeout=10,
                                headers={"Authorization": f"Bearer {token}"})


DEMO_ADMIN = ("admin", "admin-demo-2026")
DEMO_OFFICIAL = ("funcionario1", "funcionario-demo-2026")


@pytest.fixture
def demo_logins():
    """The demo accounts a live server seeds (username, password) by role."""
    return {"admin": DEMO_ADMIN, "official": DEMO_OFFICIAL,
            "supervisor": ("supervisor", "supervisor-demo-2026"),
            "official2": ("funcionario2", "funcionario-demo-2026")}


@pytest.fixture
def live_server(tmp_path, database):
    """A real server process on the demo data; stopped after the test."""
    server = LiveServer(tmp_path / "instance", database=database)
    server.start()
    yield server
    server.close()


# --- browser -------------------------------------------------------------------

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--autoplay-policy=no-user-gesture-required"]


@pytest.fixture(scope="session")
def browser():
    """A headless Debian Chromium driven by playwright."""
    chromium = require_program("chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def artifacts():
    """The folder where browser tests keep their screenshots."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
