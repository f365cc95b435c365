"""Optional ID capture keeps only a keyed hash; close-day purges data past the retention period."""

import hashlib
import hmac
import os
import stat
from pathlib import Path

from shared.events import socketio

NOTICE = "Su documento se guarda cifrado y solo para estadística (Ley 1581 de 2012)."


def _ask_for_ids(app, on=True, retention=None):
    """Turn a site's ID capture on (with its notice) and set its retention."""
    from shared import store
    from shared.db import get_db

    with app.app_context():
        db = get_db()
        site = store.find_site(db, "cam-centro")
        store.update_site(db, site["id"], {"id_capture": int(on), "privacy_notice": NOTICE,
                                           "retention_days": retention})


def _rows(app, sql, params=()):
    """Run a read query on the test database."""
    from shared.db import get_db

    with app.app_context():
        return [tuple(r) for r in get_db().execute(sql, params).fetchall()]


def test_a_kiosk_learns_whether_to_ask_for_the_id_and_the_notice_to_show(app, api):
    kiosk = api.device("kiosk")
    off = api.call(kiosk, "GET", "/api/v1/sites/cam-centro/privacy").get_json()
    assert off == {"site": "cam-centro", "id_capture": False, "privacy_notice": ""}
    _ask_for_ids(app)
    on = api.call(kiosk, "GET", "/api/v1/sites/cam-centro/privacy").get_json()
    assert on == {"site": "cam-centro", "id_capture": True, "privacy_notice": NOTICE}


def test_an_id_is_kept_only_as_a_keyed_hash_and_never_reaches_screens(app, api):
    _ask_for_ids(app)
    kiosk = api.device("kiosk")
    display = socketio.test_client(app, auth={"token": api.device("display")})
    ticket = api.issue("A", who=kiosk)
    r = api.call(kiosk, "POST", f"/api/v1/tickets/{ticket['id']}/citizen-id",
                 {"id_number": "1.023.456.789"})
    assert r.status_code == 204
    key_file = Path(app.config["INSTANCE"]) / "id_hash_key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    expected = hmac.new(bytes.fromhex(key_file.read_text()), b"1023456789",
                        hashlib.sha256).hexdigest()
    assert _rows(app, "SELECT id_hash FROM ticket_id_hashes") == [(expected,)]
    dump = "\n".join(str(r) for table in ("tickets", "ticket_events", "audit_log", "ticket_id_hashes")
                     for r in _rows(app, f"SELECT * FROM {table}"))
    assert "1023456789" not in dump and "1.023.456.789" not in dump
    api.take_desk("ana")
    api.next("ana")
    shown = str(display.get_received()) + str(api.call("admin", "GET",
                                                       f"/api/v1/tickets/{ticket['id']}").get_json())
    assert "1023456789" not in shown and expected not in shown


def test_ids_are_refused_where_the_site_does_not_ask_or_from_another_kiosk(app, api, clock):
    kiosk, other = api.device("kiosk"), api.device("kiosk", name="otro")
    ticket = api.issue("A", who=kiosk)
    path = f"/api/v1/tickets/{ticket['id']}/citizen-id"
    r = api.call(kiosk, "POST", path, {"id_number": "123456"})
    assert r.status_code == 409 and r.get_json()["error"] == "id_capture_off"
    _ask_for_ids(app)
    assert api.call(other, "POST", path, {"id_number": "123456"}).get_json()["error"] == "not_your_ticket"
    assert api.call("ana", "POST", path, {"id_number": "123456"}).status_code == 403
    bad = api.call(kiosk, "POST", path, {"id_number": "12"})
    assert bad.status_code == 400 and bad.get_json()["message"] == (
        "El documento debe tener entre 3 y 20 letras o números.")
    assert api.call(kiosk, "POST", path, {"id_number": "123456"}).status_code == 204
    again = api.call(kiosk, "POST", path, {"id_number": "654321"})
    assert again.status_code == 409 and again.get_json()["error"] == "id_already_recorded"
    late = api.issue("B", who=kiosk)
    clock.advance(minutes=6)
    r = api.call(kiosk, "POST", f"/api/v1/tickets/{late['id']}/citizen-id", {"id_number": "123456"})
    assert r.get_json()["error"] == "too_late"
    assert len(_rows(app, "SELECT * FROM ticket_id_hashes")) == 1


def _close_day(app, clock) -> str:
    """Do what ``close-day`` does: close every site's day, then what follows it; return its report."""
    from server.cli import after_close_day
    from shared import store
    from shared.db import get_db
    from shared.queue import QueueEngine

    with app.app_context():
        db = get_db()
        engine = QueueEngine(db, clock)
        for site in store.list_sites(db):
            engine.close_day(site)
        return "\n".join(after_close_day(app, db))


def test_close_day_purges_tickets_older_than_the_retention_and_keeps_the_rest(app, api, clock):
    _ask_for_ids(app, retention=30)
    kiosk = api.device("kiosk")
    old = api.issue("A", who=kiosk)
    api.call(kiosk, "POST", f"/api/v1/tickets/{old['id']}/citizen-id", {"id_number": "7777777"})
    api.take_desk("ana")
    api.next("ana")
    api.call("ana", "POST", f"/api/v1/tickets/{old['id']}/start")
    api.call("ana", "POST", f"/api/v1/tickets/{old['id']}/transfer", {"service": "B"})
    norte = api.issue("A", site="cam-norte")  # a site without retention keeps everything
    clock.advance(days=20)
    recent = api.issue("C", who=kiosk)
    clock.advance(days=15)  # the first day is now 35 days old, the second 15

    report = _close_day(app, clock)
    assert ("cam-centro: retention 30 days, data before 2026-11-30 purged (6 ticket_events, "
            "1 ticket_id_hashes, 2 tickets)") in report
    ids = {r[0] for r in _rows(app, "SELECT id FROM tickets")}
    assert old["id"] not in ids and recent["id"] in ids and norte["id"] in ids
    assert len(ids) == 2  # the transfer's second segment went with its visit
    assert _rows(app, "SELECT count(*) FROM ticket_events WHERE ticket_id = ?", [old["id"]]) == [(0,)]
    assert _rows(app, "SELECT count(*) FROM ticket_id_hashes") == [(0,)]
    assert _rows(app, "SELECT action, target FROM audit_log WHERE action = 'retention.purge'") == [
        ("retention.purge", "site:cam-centro")]


def test_the_close_day_command_prints_what_the_retention_purged(app, tmp_path):
    from click.testing import CliRunner

    from server.cli import main

    _ask_for_ids(app, retention=10)
    result = CliRunner().invoke(main, ["close-day", "--yes", "--instance", app.config["INSTANCE"],
                                       "--database", app.config["DATABASE"]])
    assert result.exit_code == 0, result.output
    assert "cam-centro: retention 10 days" in result.output
