"""An administrator sets up and runs a centre from the command line."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from server.cli import main
from shared import layout
from shared.db import connect


@pytest.fixture
def instance(tmp_path):
    """An empty instance folder."""
    return str(tmp_path / "instance")


@pytest.fixture
def where(instance, database):
    """The options that point a command at the instance folder and its database."""
    return ["--instance", instance, "--database", database]


def run(*args, input=None):
    """Run a CLI command in-process and return the result."""
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "run.py", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for command in ("serve", "migrate", "create-user", "load-layout", "close-day",
                    "printer-test", "export-layout"):
        assert command in out
    serve = subprocess.run([sys.executable, "run.py", "serve", "--help"], capture_output=True,
                           text=True, check=True).stdout
    for option in ("--host", "--port", "--instance", "--demo"):
        assert option in serve


def test_migrate_creates_the_schema_and_tells_what_was_applied(instance, where):
    result = run("migrate", *where)
    assert result.exit_code == 0
    assert "0001_" in result.output


def test_a_layout_file_configures_sites_services_desks_and_categories(instance, tmp_path, where, database):
    result = run("load-layout", str(layout.DEMO_LAYOUT), *where)
    assert result.exit_code == 0, result.output
    assert "2 sites" in result.output and "8 services" in result.output
    db = connect(database)
    assert db.execute("SELECT policy FROM sites WHERE code = 'cam-norte'").fetchone()[0] == "ratio"
    desks = db.execute("SELECT count(*) FROM desks").fetchone()[0]
    assert desks == 8
    # Loading again updates, never duplicates.
    assert run("load-layout", str(layout.DEMO_LAYOUT), *where).exit_code == 0
    assert db.execute("SELECT count(*) FROM desks").fetchone()[0] == 8


def test_a_broken_layout_names_the_problem_and_changes_nothing(instance, tmp_path, where, database):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[sites]]\ncode = "x"\nname = "X"\n[[sites.desks]]\ncode = "1"\n'
                   'services = ["Q"]\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["load-layout", str(bad), *where])
    assert result.exit_code != 0
    assert "sites[0].desks[0].services" in result.output and "Q" in result.output
    db = connect(database)
    assert db.execute("SELECT count(*) FROM sites").fetchone()[0] == 0


def test_a_layout_whose_prefixes_would_print_one_code_twice_is_refused(instance, tmp_path, where,
                                                                       database):
    # A preferential "A" ticket prints PA-001: a service "PA" beside "A" would print another PA-001.
    clash = tmp_path / "clash.toml"
    clash.write_text('[[sites]]\ncode = "x"\nname = "X"\n'
                     '[[sites.services]]\ncode = "A"\nname = "Predial"\n'
                     '[[sites.services]]\ncode = "PA"\nname = "Pagos"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["load-layout", str(clash), *where])
    assert result.exit_code != 0
    assert "«A» y «PA» se confundirían" in result.output
    assert connect(database).execute("SELECT count(*) FROM sites").fetchone()[0] == 0
    # Nor against the services a site already has: the demo centre has a service "A".
    run("load-layout", str(layout.DEMO_LAYOUT), *where)
    later = tmp_path / "later.toml"
    later.write_text('[[sites]]\ncode = "cam-centro"\nname = "CAM Centro"\n'
                     '[[sites.services]]\ncode = "PAGOS"\nprefix = "PA"\nname = "Pagos"\n',
                     encoding="utf-8")
    result = CliRunner().invoke(main, ["load-layout", str(later), *where])
    assert result.exit_code != 0 and "se confundirían" in result.output
    assert connect(database).execute("SELECT count(*) FROM services WHERE prefix = 'PA'").fetchone()[0] == 0


def test_an_exported_layout_loads_back_the_same(instance, tmp_path, where):
    run("load-layout", str(layout.DEMO_LAYOUT), *where)
    exported = run("export-layout", *where).output
    parsed = layout.parse(exported)
    original = layout.parse(layout.DEMO_LAYOUT.read_text(encoding="utf-8"))
    assert parsed["sites"] == original["sites"]


def test_create_user_with_a_password_or_asking_for_it(instance, where, database):
    result = run("create-user", "maria", "--role", "supervisor", "--password", "clave-segura-1",
                 *where)
    assert result.exit_code == 0 and "maria" in result.output
    asked = run("create-user", "jose", "--role", "official", *where,
                input="clave-segura-2\nclave-segura-2\n")
    assert asked.exit_code == 0, asked.output
    db = connect(database)
    rows = db.execute("SELECT username, role, password_hash FROM users ORDER BY id").fetchall()
    assert [(r[0], r[1]) for r in rows] == [("maria", "supervisor"), ("jose", "official")]
    assert all(r[2].startswith("scrypt:") for r in rows)


def test_create_user_refuses_a_short_password_a_duplicate_and_a_wrong_role(instance, where, database):
    short = CliRunner().invoke(main, ["create-user", "x", "--role", "admin", "--password", "123",
                                      *where])
    assert short.exit_code != 0 and "8" in short.output
    run("create-user", "maria", "--role", "admin", "--password", "clave-segura-1",
        *where)
    dup = CliRunner().invoke(main, ["create-user", "MARIA", "--role", "admin", "--password",
                                    "clave-segura-1", *where])
    assert dup.exit_code != 0 and "Ya existe" in dup.output
    role = CliRunner().invoke(main, ["create-user", "z", "--role", "boss", "--password",
                                     "clave-segura-1", *where])
    assert role.exit_code != 0
    db = connect(database)
    assert db.execute("SELECT count(*) FROM users").fetchone()[0] == 1


def test_close_day_abandons_never_called_tickets(instance, where, database):
    from server import create_app
    from shared.db import get_db
    from shared.queue import QueueEngine

    run("load-layout", str(layout.DEMO_LAYOUT), *where)
    app = create_app({"DATABASE_URL": database}, instance=instance)
    with app.app_context():
        engine = QueueEngine(get_db(), app.extensions["turnos.clock"])
        engine.issue("cam-centro", "A")
        engine.issue("cam-norte", "E")
    result = run("close-day", "--yes", *where)
    assert result.exit_code == 0
    assert "cam-centro: 1 abandoned" in result.output and "cam-norte: 1 abandoned" in result.output
    db = connect(database)
    assert db.execute("SELECT DISTINCT status FROM tickets").fetchall()[0][0] == "abandoned"


def test_the_secret_key_is_made_once_and_kept_in_the_instance(instance, where):
    from pathlib import Path

    run("migrate", *where)
    key = (Path(instance) / "secret_key").read_text()
    run("migrate", *where)
    assert (Path(instance) / "secret_key").read_text() == key and len(key) == 64


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["migrate"]])
def test_a_database_that_does_not_answer_is_named_in_one_line_not_a_traceback(tmp_path, command):
    # After a power cut the Turnos service may start before PostgreSQL does: its log says
    # what is wrong and the process exits (systemd starts it again two seconds later).
    from tests.conftest import free_port

    nowhere = f"postgresql://turnos@127.0.0.1:{free_port()}/turnos"
    done = subprocess.run([sys.executable, "run.py", *command, "--instance", str(tmp_path / "i"),
                           "--database", nowhere], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert f"the database at postgresql://turnos@127.0.0.1:{nowhere.split(':')[-1].split('/')[0]}" \
           f"/turnos does not answer" in done.stderr
    assert "connection refused" in done.stderr.lower()


def _without_turnos_settings() -> dict:
    """This shell's environment without any TURNOS_* setting (as an administrator's root shell)."""
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("TURNOS_")}


def test_an_env_file_points_the_commands_at_the_servers_instance_and_database(tmp_path, database):
    served = tmp_path / "var-lib-turnos"
    env_file = tmp_path / "turnos.env"
    env_file.write_text(f"# the units' settings\nTURNOS_INSTANCE={served}\n"
                        f"TURNOS_DATABASE_URL={database}\n", encoding="utf-8")
    made = subprocess.run([sys.executable, "run.py", "--env-file", str(env_file), "create-user", "ana",
                           "--role", "admin", "--password", "clave-segura-1"],
                          capture_output=True, text=True, env=_without_turnos_settings(), timeout=60)
    assert made.returncode == 0, made.stderr
    assert (served / "secret_key").exists()  # the server's instance folder, not ./instance
    db = connect(database)
    assert db.execute("SELECT username FROM users").fetchall()[0][0] == "ana"

    # A variable set in the shell wins over the file.
    other = tmp_path / "elsewhere"
    migrated = subprocess.run([sys.executable, "run.py", "--env-file", str(env_file), "migrate"],
                              capture_output=True, text=True, timeout=60,
                              env=dict(_without_turnos_settings(), TURNOS_INSTANCE=str(other)))
    assert migrated.returncode == 0, migrated.stderr
    assert (other / "secret_key").exists()

    missing = subprocess.run([sys.executable, "run.py", "--env-file", str(tmp_path / "nope.env"), "migrate"],
                             capture_output=True, text=True, env=_without_turnos_settings(), timeout=60)
    assert missing.returncode == 2 and "nope.env" in missing.stderr and "does not exist" in missing.stderr


def test_the_nightly_close_ends_a_sites_day_only_once_its_hours_are_over(instance, where, database,
                                                                       monkeypatch):
    """The timer fires at 23:00 of the server's clock, which is 18:00 in Bogotá on a server left in UTC."""
    import json

    from server import cli, create_app
    from shared import auth, store
    from shared.clock import FrozenClock
    from shared.db import get_db
    from shared.queue import QueueEngine

    run("load-layout", str(layout.DEMO_LAYOUT), *where)
    weekdays = {day: [["07:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
    db = connect(database)
    db.execute("UPDATE sites SET opening_hours = ? WHERE code = 'cam-centro'", [json.dumps(weekdays)])
    db.close()  # cam-centro serves 07:00-17:00 on weekdays; cam-norte is always open (the demo's)
    clock = FrozenClock("2026-11-23T10:00:00-05:00")  # a Monday morning in Bogotá
    monkeypatch.setattr(cli, "current_clock", lambda app=None: clock)
    app = create_app({"DATABASE_URL": database}, instance=instance, clock=clock)

    def issue(site, service):
        with app.app_context():
            return QueueEngine(get_db(), clock).issue(site, service)["id"]

    def column(sql, params=()):
        """Read one column of a query on a connection of its own, as another process would."""
        db = connect(database)
        try:
            return [r[0] for r in db.execute(sql, params)]
        finally:
            db.close()

    def status(ticket_id):
        return column("SELECT status FROM tickets WHERE id = ?", [ticket_id])[0]

    def open_sessions():
        return column("SELECT d.code FROM desk_sessions s JOIN desks d ON d.id = s.desk_id "
                      "WHERE s.ended_at IS NULL ORDER BY d.code")

    def take_desk(site, code, username):
        with app.app_context():
            db = get_db()
            desk = store.find_desk(db, code, store.find_site(db, site)["id"])
            user_id = auth.create_user(db, username, "clave-segura-1", "official", clock)
            store.start_session(db, desk["id"], user_id, clock.now_ms())
            return desk["code"]

    monday = [issue("cam-centro", "A"), issue("cam-norte", "E")]
    take_desk("cam-norte", "1", "ana")  # an official who never signed off on Monday
    clock.set("2026-11-24T10:00:00-05:00")
    tuesday_centro, tuesday_norte = issue("cam-centro", "A"), issue("cam-norte", "E")
    serving_now = take_desk("cam-norte", "2", "beto")

    clock.set("2026-11-24T16:00:00-05:00")  # cam-centro still serving
    early = run("close-day", "--yes", "--ended", *where)
    assert early.exit_code == 0, early.output
    assert [status(t) for t in monday] == ["abandoned", "abandoned"]
    assert status(tuesday_centro) == status(tuesday_norte) == "waiting"
    assert "cam-centro: will close up to 2026-11-23" in early.output
    assert open_sessions() == [serving_now], "only Monday's forgotten desk session ends"

    clock.set("2026-11-24T17:30:00-05:00")  # cam-centro has closed; cam-norte never does
    late = run("close-day", "--yes", "--ended", *where)
    assert late.exit_code == 0, late.output
    assert status(tuesday_centro) == "abandoned" and status(tuesday_norte) == "waiting"
    assert "cam-centro: will close up to 2026-11-24" in late.output
    assert "cam-norte: will close up to 2026-11-23" in late.output

    both = CliRunner().invoke(main, ["close-day", "--yes", "--ended", "--day", "2026-11-24", *where])
    assert both.exit_code != 0 and "--ended" in both.output


def test_a_command_whose_instance_folder_cannot_be_written_says_so_in_one_line(tmp_path):
    """The turnos user running an administrator's command without --env-file, in root's /opt/turnos."""
    from tests.conftest import ROOT, read_only

    locked = tmp_path / "locked"
    locked.mkdir()
    ran = subprocess.run(read_only(locked, [sys.executable, str(ROOT / "run.py"), "migrate",
                                            "--instance", str(locked / "instance")]),
                         capture_output=True, text=True, env=_without_turnos_settings(), timeout=60)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "Traceback" not in ran.stderr
    assert str(locked / "instance") in ran.stderr and "--env-file /etc/turnos/turnos.env" in ran.stderr
    assert "Nothing was changed" in ran.stderr and not (locked / "instance").exists()


@pytest.mark.parametrize("form", ["percent-encoded host", "host parameter"])
def test_a_database_on_this_machine_is_reached_through_its_unix_socket(instance, postgres_server,
                                                                      form):
    # PostgreSQL beside Turnos on one server is reached through its socket folder (Debian's
    # /var/run/postgresql, peer authentication): libpq's two ways to write that in a URL.
    from urllib.parse import quote, urlsplit

    with postgres_server.admin() as conn:
        folder = conn.execute("SHOW unix_socket_directories").fetchone()[0].split(",")[0].strip()
        port = conn.execute("SHOW port").fetchone()[0]
    assert folder.startswith("/"), "the test server listens on no socket folder"
    bare = postgres_server.fresh(template="template0")
    name, user = urlsplit(bare).path[1:], urlsplit(bare).username
    url = (f"postgresql://{user}@{quote(folder, safe='')}:{port}/{name}"
           if form == "percent-encoded host" else f"postgresql://{user}@/{name}?host={folder}&port={port}")
    try:
        migrated = run("migrate", "--instance", instance, "--database", url)
        assert migrated.exit_code == 0, migrated.output
        loaded = run("load-layout", str(layout.DEMO_LAYOUT), "--instance", instance, "--database", url)
        assert loaded.exit_code == 0, loaded.output
        assert connect(bare).execute("SELECT count(*) FROM desks").fetchone()[0] == 8
    finally:
        postgres_server.drop(bare)
