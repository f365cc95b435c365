"""The deployment in deploy/README.md, run as systemd runs it: the shipped units, env file and steps.

The program folder is a fresh copy of the repository, mounted read-only as
``ProtectSystem=strict`` leaves ``/opt/turnos`` (and as a clone owned by root is
for the ``turnos`` user): only the instance and backup folders can be written.
Each unit's ``ExecStart`` runs verbatim but for the paths of this machine, in its
``WorkingDirectory``, with the settings of its ``EnvironmentFile`` (the example,
its CHANGE-ME values filled in); the administrator's commands run as the README
writes them, reading the same file.
"""

from __future__ import annotations

import re
import secrets
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.conftest import DEMO_ADMIN, ROOT, free_port, read_only, require_program

pytestmark = [pytest.mark.engines("postgresql"), pytest.mark.slow]

UNITS = ROOT / "deploy" / "systemd"


class Machine:
    """A server laid out as deploy/README.md says, under a temporary folder."""

    def __init__(self, folder: Path, database: str, redis_url: str):
        self.program = folder / "opt-turnos"
        self.instance = folder / "var-lib-turnos"
        self.backups = folder / "var-backups-turnos"
        self.env_file = folder / "etc-turnos" / "turnos.env"
        self.units = folder / "etc-systemd-system"
        for made in (self.instance, self.backups, self.env_file.parent, self.units):
            made.mkdir(parents=True)
        # git clone <the repository> /opt/turnos: the tracked files, nothing made by earlier runs.
        tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                                 capture_output=True).stdout.decode().split("\0")
        for name in filter(None, tracked):
            if (ROOT / name).is_file():
                (self.program / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, self.program / name)
        # cp deploy/turnos.env.example /etc/turnos/turnos.env   # edit every CHANGE-ME
        redis_base = redis_url.rsplit("/", 1)[0]
        settings = (ROOT / "deploy" / "turnos.env.example").read_text(encoding="utf-8")
        settings = settings.replace("/var/lib/turnos", str(self.instance))
        if not database.startswith("postgresql://"):  # "leave unset for SQLite in the instance folder"
            settings = re.sub(r"(?m)^TURNOS_DATABASE_URL=", "#TURNOS_DATABASE_URL=", settings)
        for name, value in (("TURNOS_DATABASE_URL", database if database.startswith("postgresql://") else ""),
                            ("TURNOS_SOCKETIO_MESSAGE_QUEUE", f"{redis_base}/0"),
                            ("TURNOS_RATELIMIT_STORAGE_URI", f"{redis_base}/1"),
                            ("TURNOS_SECRET_KEY", secrets.token_hex(32)),
                            ("TURNOS_ID_HASH_KEY", secrets.token_hex(32))):
            if value:
                settings, found = re.subn(rf"(?m)^{name}=.*$", f"{name}={value}", settings)
                assert found == 1, f"the example env file sets {name} once"
        assert "CHANGE-ME" not in "\n".join(line for line in settings.splitlines()
                                            if not line.startswith("#"))
        self.env_file.write_text(settings, encoding="utf-8")
        # cp deploy/systemd/* /etc/systemd/system/   (this machine's paths in place of the README's)
        for unit in UNITS.iterdir():
            (self.units / unit.name).write_text(self.localize(unit.read_text(encoding="utf-8")),
                                                encoding="utf-8")

    def localize(self, text: str) -> str:
        """Return a unit's text with this machine's folders in place of the README's."""
        return (text.replace("/opt/turnos/.venv/bin/python", sys.executable)
                .replace("/opt/turnos", str(self.program))
                .replace("/var/lib/turnos", str(self.instance))
                .replace("/var/backups/turnos", str(self.backups))
                .replace("/etc/turnos/", f"{self.env_file.parent}/"))

    def environment(self, unit: dict[str, str]) -> dict[str, str]:
        """The variables systemd gives a unit from its ``EnvironmentFile=`` (and nothing of this shell's)."""
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        for line in Path(unit["EnvironmentFile"]).read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                name, _, value = line.partition("=")
                env[name.strip()] = value.strip()
        return env

    def unit(self, name: str) -> dict[str, str]:
        """A unit's [Service] settings (the last of each)."""
        settings = {}
        for line in (self.units / name).read_text(encoding="utf-8").splitlines():
            if "=" in line and not line.startswith("#"):
                key, _, value = line.partition("=")
                settings[key.strip()] = value.strip()
        return settings

    def read_only(self, argv: list[str]) -> list[str]:
        """``argv`` run with the program folder mounted read-only (``ProtectSystem=strict``)."""
        return read_only(self.program, argv)

    def start_unit(self, name: str, instance: str = "") -> subprocess.Popen:
        """Start a unit's ExecStart as systemd would; return the process."""
        unit = self.unit(name)
        argv = shlex.split(unit["ExecStart"].replace("%i", instance))
        log = open(self.instance.parent / f"{name}{instance}.log", "ab")  # noqa: SIM115 (the process keeps it)
        return subprocess.Popen(self.read_only(argv), cwd=unit["WorkingDirectory"],
                                env=self.environment(unit), stdout=log, stderr=subprocess.STDOUT)

    def run_unit(self, name: str) -> subprocess.CompletedProcess:
        """Run a oneshot unit to its end."""
        unit = self.unit(name)
        argv = shlex.split(unit["ExecStart"])
        return subprocess.run(self.read_only(argv), cwd=unit["WorkingDirectory"],
                              env=self.environment(unit), capture_output=True, text=True, timeout=120)

    def admin(self, command: str) -> subprocess.CompletedProcess:
        """An administrator's ``run.py`` command from the README, in /opt/turnos, reading the env file."""
        argv = shlex.split(self.localize(command))
        return subprocess.run(self.read_only([sys.executable, *argv[1:]]), cwd=self.program,
                              env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                              capture_output=True, text=True, timeout=120)


def readme_commands(prefix: str) -> list[str]:
    """The commands of deploy/README.md that start with ``prefix`` (continuation lines joined)."""
    text = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = (re.sub(r"\s+", " ", line.strip()) for line in text.splitlines())
    return [line for line in lines if line.startswith(prefix)]


@pytest.fixture
def machine(tmp_path, database, redis_server):
    """A Debian server set up by deploy/README.md's steps on the story's PostgreSQL and Redis."""
    return Machine(tmp_path, database, redis_server.url)


def test_the_shipped_units_pass_systemds_own_check(machine):
    analyze = require_program("systemd-analyze")
    names = [n.replace("@.", "@5001.") for n in sorted(p.name for p in machine.units.iterdir())]
    for name in names:  # an instance of the template is checked as `systemctl enable turnos@5001` makes it
        if "@5001." in name:
            shutil.copy(machine.units / name.replace("@5001.", "@."), machine.units / name)
    checked = subprocess.run([analyze, "verify", *(str(machine.units / n) for n in names)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0 and checked.stdout + checked.stderr == "", checked.stdout + checked.stderr


@pytest.mark.engines("sqlite", "postgresql")  # one machine on the embedded database, or PostgreSQL
def test_a_server_set_up_by_the_readme_serves_backs_up_and_ends_the_day_from_a_read_only_program_folder(
        machine, database):
    # Step 3, starting fresh: the schema and the first administrator, as the README writes them.
    migrate = [c for c in readme_commands("runuser -u turnos --") if " migrate" in c]
    assert migrate, "deploy/README.md shows how to run run.py migrate as the turnos user"
    created = machine.admin(migrate[0].split("runuser -u turnos -- ", 1)[1])
    assert created.returncode == 0, created.stdout + created.stderr
    on_postgresql = database.startswith("postgresql://")
    where = "postgresql://" if on_postgresql else str(machine.instance / "turnos.sqlite3")
    assert f"Database: {where}" in created.stdout
    user = [c for c in readme_commands("runuser -u turnos --") if " create-user" in c]
    assert user, "deploy/README.md shows how to create the first administrator"
    password = "una-clave-larga-2026"
    made = machine.admin(user[0].split("runuser -u turnos -- ", 1)[1] + f" --password {password}")
    assert made.returncode == 0, made.stdout + made.stderr

    # Step 4: systemctl enable --now turnos@5001
    port = free_port()
    server = machine.start_unit("turnos@.service", str(port))
    try:
        deadline, health = time.monotonic() + 60, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.1)  # polling a readiness probe, not waiting for an outcome
        log = (machine.instance.parent / f"turnos@.service{port}.log").read_text(errors="replace")
        assert health is not None, f"turnos@{port} did not start:\n{log[-3000:]}"
        assert health.status_code == 200 and health.json() == {"database": "ok", "ok": True, "queue": "ok"}
        # The administrator made by the command line signs in to the service (one database).
        token = requests.post(f"http://127.0.0.1:{port}/api/v1/auth/token", timeout=10,
                              json={"username": "admin", "password": password})
        assert token.status_code == 201, token.text
        # Both languages: the catalogue was compiled somewhere the service may write.
        login = requests.get(f"http://127.0.0.1:{port}/login?lang=en", timeout=10)
        assert login.status_code == 200 and "Log in" in login.text
        assert "Ingresar" in requests.get(f"http://127.0.0.1:{port}/login", timeout=10).text
    finally:
        server.terminate()
        server.wait(15)

    # The nightly jobs, as their timers start them.
    backup = machine.run_unit("turnos-backup.service")
    assert backup.returncode == 0, backup.stdout + backup.stderr
    assert [p.suffix for p in machine.backups.iterdir()] == [".dump" if on_postgresql else ".sqlite3"]
    ended = machine.run_unit("turnos-close-day.service")
    assert ended.returncode == 0, ended.stdout + ended.stderr


def test_the_nginx_site_starts_on_debians_nginx_without_a_folder_the_steps_do_not_make():
    """nginx makes a cache folder itself, but not its parent: `nginx -t` fails when that is missing."""
    require_program("nginx")  # Debian's package, as step 1 installs it
    site = (ROOT / "deploy" / "nginx" / "turnos.conf").read_text(encoding="utf-8")
    caches = re.findall(r"proxy_cache_path\s+(\S+)", site)
    assert caches
    for cache in caches:
        assert Path(cache).parent.is_dir(), f"nginx -t: mkdir() {cache} failed (its parent does not exist)"


def test_a_kiosk_pcs_printer_agent_runs_from_its_unit_and_prints_the_kiosks_tickets(machine, live_server):
    """A kiosk PC with the printer on its own cable: Turnos installed as step 2 says, the agent's unit."""
    admin = live_server.token(*DEMO_ADMIN)
    kiosk = live_server.call(admin, "POST", "/api/v1/devices",
                             {"site": "cam-centro", "kind": "kiosk", "name": "Kiosco con impresora"}).json()
    agent_printing = live_server.call(admin, "PATCH", f"/api/v1/kiosks/{kiosk['id']}", {"printer": "agent"})
    assert agent_printing.status_code == 200, agent_printing.text
    paper = machine.instance / "paper"  # the virtual printer: what the PC's printer would print
    settings = (ROOT / "deploy" / "printer-agent.env.example").read_text(encoding="utf-8")
    for name, value in (("TURNOS_AGENT_SERVER", live_server.url), ("TURNOS_AGENT_TOKEN", kiosk["token"]),
                        ("TURNOS_AGENT_PRINTER", f"virtual:{paper}")):
        settings, found = re.subn(rf"(?m)^{name}=.*$", f"{name}={value}", settings)
        assert found == 1, f"the example agent env file sets {name} once"
    (machine.env_file.parent / "printer-agent.env").write_text(machine.localize(settings), encoding="utf-8")

    agent = machine.start_unit("turnos-printer-agent.service")
    try:
        deadline = time.monotonic() + 30
        ticket = None
        while time.monotonic() < deadline and agent.poll() is None:
            r = live_server.call(kiosk["token"], "POST", "/kiosk/api/tickets", {"service": "A"})
            if r.status_code == 201 and r.json()["print"]["status"] != "no_agent":
                ticket = r.json()
                break
            time.sleep(0.2)  # polling until the agent is connected, not waiting for an outcome
        log = (machine.instance.parent / "turnos-printer-agent.service.log").read_text(errors="replace")
        assert ticket is not None, f"the agent never connected:\n{log[-3000:]}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            jobs = live_server.call(admin, "GET", "/api/v1/print-jobs").json()["jobs"]
            if any(j["id"] == ticket["print"]["id"] and j["status"] == "printed" for j in jobs):
                break
            time.sleep(0.2)  # polling the job's state until the agent answered
        else:
            raise AssertionError(f"the job was not printed: {jobs}")
        assert list(paper.iterdir()), "nothing reached the printer"
        assert (machine.instance / "printer-agent.json").exists()  # its record of printed jobs
    finally:
        agent.terminate()
        agent.wait(15)
