"""A city's IT moves its data between engines and takes backups it can restore.

The realistic instance is the known day of the reports (tickets with recalls,
a transfer, a no-show, an abandoned and a cancelled ticket, desk sessions and
a pause, ratings, sealed report figures), plus a kiosk's printed ticket.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

import pytest
from click.testing import CliRunner

from server.cli import main
from shared.db import connect
from tests.reports.conftest import known_day, room  # noqa: F401  (fixtures)

pytestmark = pytest.mark.engines("sqlite")  # the instance starts on the embedded default


def snapshot(target: str) -> dict[str, list[tuple]]:
    """Return every row of every data table, booleans as 0/1, in a stable order."""
    from shared import copydata

    db = connect(target)
    try:
        out = {}
        for table in copydata.tables_in_order(db):
            rows = db.execute(f'SELECT * FROM "{table}"').fetchall()
            out[table] = sorted(tuple(int(v) if isinstance(v, bool) else v for v in r) for r in rows)
        return out
    finally:
        db.close()


def run(*args) -> object:
    """Run a CLI command in-process."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def busy_instance(app, api, clock, known_day):  # noqa: F811
    """The known day on SQLite with its figures sealed, plus a kiosk's ticket and its print job."""
    from reports import summary
    from shared.printing.dispatch import wait_idle
    from tests.printing.helpers import Kiosk

    db = connect(app.config["DATABASE"])
    assert summary.seal_recent(db, clock.now_ms()) > 0
    db.close()
    Kiosk(api).issue("A")
    assert wait_idle(10)
    return app.config["DATABASE"]


def test_a_city_moves_to_postgresql_and_back_with_every_row_and_id_intact(
        busy_instance, postgres_server, tmp_path):
    before = snapshot(busy_instance)
    assert len(before["tickets"]) >= 8 and before["ratings"] and before["print_jobs"]
    assert before["report_partials"] and before["desk_pauses"] and before["ticket_events"]

    postgres = postgres_server.fresh()
    try:
        moved = run("copy-data", "--from", f"sqlite:{busy_instance}", "--to", postgres)
        assert moved.exit_code == 0, moved.output
        assert "tickets: " in moved.output and "Done:" in moved.output
        assert snapshot(postgres) == before

        back = tmp_path / "back" / "turnos.sqlite3"
        back.parent.mkdir()
        returned = run("copy-data", "--from", postgres, "--to", f"sqlite:{back}")
        assert returned.exit_code == 0, returned.output
        assert snapshot(str(back)) == before

        # The copy serves: the next ticket takes the next id, and the day's counts are right.
        for target in (postgres, str(back)):
            _serves_after_the_copy(target, before, tmp_path)
    finally:
        postgres_server.drop(postgres)


def _serves_after_the_copy(target: str, before: dict, tmp_path) -> None:
    """Open a copied database in the application and issue a ticket on it."""
    from server import create_app
    from shared.clock import FrozenClock
    from shared.db import get_db
    from shared.queue import QueueEngine
    from tests.conftest import START

    app = create_app({"TESTING": True, "DATABASE_URL": target, "SOCKETIO_ASYNC_MODE": "threading"},
                     instance=tmp_path / "served", clock=FrozenClock(START))
    with app.app_context():
        ticket = QueueEngine(get_db(), app.extensions["turnos.clock"]).issue("cam-centro", "F")
    assert ticket["id"] == max(row[0] for row in before["tickets"]) + 1


def test_citizen_ids_recorded_before_a_move_are_recognised_after_it(app, api, postgres_server, tmp_path):
    """The ID key stays out of the database (a leaked copy must not reveal IDs); the move says what to do.

    Done as it says, the new server hashes an ID to the hash recorded before the move.
    """
    from server import create_app
    from shared import auth, store
    from shared.db import get_db

    with app.app_context():
        db = get_db()
        site = store.find_site(db, "cam-centro")
        db.execute("UPDATE sites SET id_capture = 1 WHERE id = ?", [site["id"]])
        ticket = api.issue("A")
        auth.record_citizen_id(db, store.find_site(db, "cam-centro"), store.ticket_by_id(db, ticket["id"]),
                               "1.020.304.050", 1)
    key_file = tmp_path / "instance" / auth.ID_KEY_FILE
    assert key_file.exists()

    postgres = postgres_server.fresh()
    try:
        moved = run("copy-data", "--from", f"sqlite:{app.config['DATABASE']}", "--to", postgres)
        assert moved.exit_code == 0, moved.output
        assert str(key_file) in moved.output and "TURNOS_ID_HASH_KEY" in moved.output

        # Done as it says: the new server hashes the same ID to the hash recorded before the move.
        served = create_app({"DATABASE_URL": postgres, "ID_HASH_KEY": key_file.read_text().strip()},
                            instance=tmp_path / "new-server")
        with served.app_context():
            recorded = get_db().execute("SELECT id_hash FROM ticket_id_hashes").fetchall()
            assert [r[0] for r in recorded] == [auth.keyed_id_hash("1020304050")]
    finally:
        postgres_server.drop(postgres)


def test_copy_data_from_a_folder_it_may_not_write_says_whom_to_run_it_as(tmp_path, postgres_server):
    """The embedded instance belongs to root (scripts/start); copy-data brings its schema up to date first."""
    import subprocess
    import sys

    from shared import copydata
    from tests.conftest import ROOT, read_only

    old = tmp_path / "old-instance"
    assert run("migrate", "--instance", str(old), "--database", str(old / "turnos.sqlite3")).exit_code == 0
    postgres = postgres_server.fresh()
    try:
        moved = subprocess.run(read_only(old, [sys.executable, str(ROOT / "run.py"), "copy-data", "--from",
                                                f"sqlite:{old / 'turnos.sqlite3'}", "--to", postgres]),
                               capture_output=True, text=True, timeout=60)
        assert moved.returncode == 1, moved.stdout + moved.stderr
        assert "Traceback" not in moved.stderr
        assert str(old / "turnos.sqlite3") in moved.stderr and "owns" in moved.stderr
        assert "Nothing was copied" in moved.stderr
        target = connect(postgres)
        assert copydata.occupied(target) == {}
        target.close()
    finally:
        postgres_server.drop(postgres)


def test_copy_data_refuses_to_write_into_a_database_that_holds_data(busy_instance, postgres_server):
    postgres = postgres_server.fresh()
    try:
        assert run("copy-data", "--from", f"sqlite:{busy_instance}", "--to", postgres).exit_code == 0
        before = snapshot(postgres)
        again = CliRunner().invoke(main, ["copy-data", "--from", f"sqlite:{busy_instance}",
                                          "--to", postgres])
        assert again.exit_code != 0
        assert "already holds data" in again.output and "tickets" in again.output
        assert snapshot(postgres) == before
    finally:
        postgres_server.drop(postgres)


def test_a_backup_taken_while_tickets_are_issued_restores_and_serves(live_server, tmp_path):
    token = live_server.token("admin", "admin-demo-2026")
    issued: list[dict] = []
    errors: list[str] = []
    progress = threading.Condition()
    stop = threading.Event()

    def kiosk_rush():
        while not stop.is_set():
            r = live_server.call(token, "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"})
            with progress:
                if r.status_code != 201:
                    errors.append(r.text)
                    return
                issued.append(r.json())
                progress.notify_all()

    rush = threading.Thread(target=kiosk_rush)
    rush.start()
    try:
        with progress:
            assert progress.wait_for(lambda: len(issued) >= 20 or errors, 30)
            before_backup = len(issued)
        folder = tmp_path / "backups"
        folder.mkdir()
        result = run("backup", str(folder), "--instance", str(live_server.instance),
                     "--database", live_server.database)
        assert result.exit_code == 0, result.output
        with progress:  # the rush went on while the backup was taken
            assert progress.wait_for(lambda: len(issued) > before_backup + 5 or errors, 30)
            after_backup = len(issued)
    finally:
        stop.set()
        rush.join(30)
    assert not errors, errors[:3]
    copies = sorted(folder.glob("turnos-*.sqlite3"))
    assert len(copies) == 1 and not list(folder.glob("*.partial"))

    # Restore: the copy becomes the database of a new instance, which migrates and serves.
    from tests.conftest import LiveServer

    restored_instance = tmp_path / "restored"
    restored_instance.mkdir()
    copies[0].rename(restored_instance / "turnos.sqlite3")
    db = connect(str(restored_instance / "turnos.sqlite3"))
    in_copy = db.execute("SELECT count(*) FROM tickets").fetchone()[0]
    db.close()
    assert before_backup <= in_copy <= after_backup
    restored = LiveServer(restored_instance, demo=False)
    restored.start()
    try:
        r = restored.call(restored.token("admin", "admin-demo-2026"), "POST", "/api/v1/tickets",
                          {"site": "cam-centro", "service": "A"})
        assert r.status_code == 201, r.text
        assert r.json()["code"] == f"A-{in_copy + 1:03d}"  # the day's numbering goes on
    finally:
        restored.close()


def test_a_backup_of_an_instance_without_a_database_says_so_and_makes_none(tmp_path):
    # It made a new, empty database and backed that up, as if all were well.
    copies = tmp_path / "copies"
    copies.mkdir()
    result = CliRunner().invoke(main, ["backup", str(copies), "--instance", str(tmp_path / "new")])
    assert result.exit_code == 1 and "no database at" in result.output, result.output
    assert not (tmp_path / "new" / "turnos.sqlite3").exists() and not list(copies.iterdir())


def test_the_nightly_backup_keeps_only_the_newest_copies(app, tmp_path):
    folder = tmp_path / "nightly"
    folder.mkdir()
    for stamp in ("20261101T020000Z", "20261102T020000Z", "20261103T020000Z"):
        (folder / f"turnos-{stamp}.sqlite3").write_bytes(b"old")
    (folder / "notes.txt").write_text("not a backup")
    result = run("backup", str(folder), "--keep", "2", "--instance", app.config["INSTANCE"],
                 "--database", app.config["DATABASE"])
    assert result.exit_code == 0, result.output
    kept = sorted(p.name for p in folder.iterdir())
    assert len(kept) == 3 and "notes.txt" in kept and "turnos-20261103T020000Z.sqlite3" in kept
    newest = sorted(folder.glob("turnos-*.sqlite3"))[-1]
    db = connect(str(newest))
    assert db.execute("SELECT count(*) FROM sites").fetchone()[0] == 2
    db.close()


@pytest.mark.engines("sqlite", "postgresql")
def test_the_administrator_sees_the_last_backup_and_is_warned_when_they_stop(app, clock, database, tmp_path):
    """A nightly timer that stopped (a full disk, a broken unit) must not go unnoticed for months."""
    import json

    from shared import store
    from shared.db import get_db
    from tests.admin.pages import StaffBrowser

    admin = StaffBrowser(app, "admin")
    home = admin.get("/admin/").text
    assert 'id="backups"' in home and "Turnos no ha registrado ninguna copia de seguridad" in home

    folder = tmp_path / "backups"
    folder.mkdir()  # mkdir -p /var/backups/turnos (deploy/README.md)
    taken = run("backup", str(folder), "--keep", "14", "--instance", app.instance_path,
                "--database", database)
    assert taken.exit_code == 0, taken.output
    [copy] = folder.iterdir()
    home = admin.get("/admin/").text
    assert "Última copia de seguridad" in home and str(copy) in home
    assert 'class="card warn" id="backups"' not in home
    assert StaffBrowser(app, "supervisor").get("/admin/").text.count('id="backups"') == 0  # admins' matter

    # Two days later, no backup since: the overview says so, and what to look at.
    with app.app_context():
        at = json.loads(store.get_setting(get_db(), "last_backup"))["at"]
    clock.advance(seconds=(at - clock.now_ms()) / 1000 + 2 * 24 * 3600)
    home = StaffBrowser(app, "admin").get("/admin/").text  # signed in again: two days went by
    assert 'class="card warn" id="backups"' in home and "turnos-backup.timer" in home


@pytest.mark.engines("postgresql")
def test_a_postgresql_backup_restores_into_an_empty_database_that_serves(
        app, api, database, postgres_server, tmp_path):
    api.issue("A")
    api.issue("B", priority="gestante")
    dump = tmp_path / "city.dump"
    result = run("backup", str(dump), "--instance", app.config["INSTANCE"], "--database", database)
    assert result.exit_code == 0, result.output
    import shutil
    import subprocess

    restored = postgres_server.fresh(template="template0")
    try:
        subprocess.run([shutil.which("pg_restore"), "--no-owner", "--dbname", restored, str(dump)],
                       check=True, capture_output=True)
        # Everything but the note of the copy itself, written once the copy was whole.
        live = snapshot(database)
        live["settings"] = [row for row in live["settings"] if row[0] != "last_backup"]
        assert snapshot(restored) == live
        _serves_after_the_copy(restored, live, tmp_path)
    finally:
        postgres_server.drop(restored)


@pytest.mark.engines("postgresql")
def test_a_role_that_may_only_read_takes_the_backup_and_is_told_plainly_it_cannot_migrate(
        app, api, database, postgres_server, tmp_path):
    # Backups are often taken by a role that may only read. A backup copies the database as it
    # is: it migrated first before, and such a role waited a minute for yoyo's lock, then read
    # "Database locked (run yoyo break-lock ...)".
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    api.issue("A")
    role = f"turnos_reader_{os.getpid()}"
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute(f'GRANT pg_read_all_data TO "{role}"')

    def as_reader(url: str) -> str:
        parts = urlsplit(url)
        return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}"))

    empty = postgres_server.fresh(template="template0")
    try:
        dump = tmp_path / "city.dump"
        result = run("backup", str(dump), "--instance", app.config["INSTANCE"], "--database",
                     as_reader(database))
        assert result.exit_code == 0, result.output
        assert "Backup written" in result.output and "could not be told" in result.output
        listing = subprocess.run([shutil.which("pg_restore"), "--list", str(dump)], check=True,
                                 capture_output=True, text=True).stdout
        assert "TABLE DATA public tickets" in listing

        result = CliRunner().invoke(main, ["migrate", "--instance", app.config["INSTANCE"],
                                           "--database", as_reader(empty)])
        assert result.exit_code == 1
        assert f"the role {role} may not change its schema" in result.output
        assert "URL of the database's owner" in result.output and "Traceback" not in result.output
        with psycopg.connect(empty) as conn:
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            assert tables.fetchone()[0] == 0  # nothing was changed
    finally:
        postgres_server.drop(empty)
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(f'DROP ROLE "{role}"')
