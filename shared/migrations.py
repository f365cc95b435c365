"""Versioned schema migrations for both engines, applied in order at start-up and by ``run.py migrate``.

- **SQLite** (the embedded default): the steps below, sqlite-utils ``Migrations``,
  applied in registration order and recorded in ``_sqlite_migrations``.
- **PostgreSQL**: SQL files in ``shared/migrations_postgresql/``, applied by
  yoyo-migrations (recorded in ``_yoyo_migration``, under yoyo's lock so that
  several processes starting at once apply each step once). The first file
  creates the schema the SQLite steps reach up to ``0006``; every later step is
  written twice, with the same name, once here and once there.

Times are stored as integer milliseconds since the epoch, UTC. A local day
(YYYY-MM-DD in the site's zone) is stored beside the issue time because
numbering restarts every local day. Never edit an applied migration: add one.
"""

import json
import sqlite3
from pathlib import Path

from sqlite_utils.migrations import Migrations
from yoyo import internalmigrations, read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import parse_uri
from yoyo.migrations import default_migration_table

from . import store
from .db import connect, is_postgresql

migrations = Migrations("turnos")
POSTGRESQL_DIR = Path(__file__).resolve().parent / "migrations_postgresql"

def _run(db, script: str) -> None:
    """Run a multi-statement script inside the migration's transaction."""
    # executescript() would COMMIT first and break the migration's transaction.
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            db.execute(buffer)
            buffer = ""
    if buffer.strip():
        db.execute(buffer)


@migrations(name="0001_core")
def m0001_core(db):
    """Sites, services, desks, categories, users, devices, tickets and events."""
    _run(db, """
CREATE TABLE sites (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    timezone TEXT NOT NULL DEFAULT 'America/Bogota',
    policy TEXT NOT NULL DEFAULT 'strict' CHECK (policy IN ('strict', 'ratio', 'aging')),
    policy_params TEXT NOT NULL DEFAULT '{}',
    entity_name TEXT NOT NULL DEFAULT '',
    logo_path TEXT,
    display_message TEXT NOT NULL DEFAULT '',
    opening_hours TEXT NOT NULL DEFAULT '{}',
    holidays TEXT NOT NULL DEFAULT '[]',
    active INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE TABLE services (
    id INTEGER PRIMARY KEY,
    site_id INTEGER NOT NULL REFERENCES sites(id),
    code TEXT NOT NULL,
    prefix TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    requirements TEXT NOT NULL DEFAULT '',
    group_name TEXT NOT NULL DEFAULT '',
    target_wait_seconds INTEGER NOT NULL DEFAULT 900,
    default_service_seconds INTEGER NOT NULL DEFAULT 300,
    daily_cap INTEGER,
    opening_hours TEXT NOT NULL DEFAULT '{}',
    sort_order INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1,
    UNIQUE (site_id, code),
    UNIQUE (site_id, prefix)
);
CREATE TABLE desks (
    id INTEGER PRIMARY KEY,
    site_id INTEGER NOT NULL REFERENCES sites(id),
    code TEXT NOT NULL,
    name TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    UNIQUE (site_id, code)
);
CREATE TABLE desk_services (
    desk_id INTEGER NOT NULL REFERENCES desks(id) ON DELETE CASCADE,
    service_id INTEGER NOT NULL REFERENCES services(id),
    position INTEGER NOT NULL,
    PRIMARY KEY (desk_id, service_id)
);
CREATE TABLE priority_categories (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    legal_note TEXT NOT NULL DEFAULT '',
    pictogram TEXT NOT NULL DEFAULT '',
    kiosk_visible INTEGER NOT NULL DEFAULT 1,
    sort_order INTEGER NOT NULL DEFAULT 0,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'supervisor', 'official')),
    active INTEGER NOT NULL DEFAULT 1,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER,
    created_at INTEGER NOT NULL
);
CREATE TABLE user_sites (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    site_id INTEGER NOT NULL REFERENCES sites(id),
    PRIMARY KEY (user_id, site_id)
);
CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id),
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE TABLE devices (
    id INTEGER PRIMARY KEY,
    site_id INTEGER NOT NULL REFERENCES sites(id),
    kind TEXT NOT NULL CHECK (kind IN ('kiosk', 'display', 'survey')),
    name TEXT NOT NULL,
    token_hash TEXT UNIQUE,
    pairing_code_hash TEXT UNIQUE,
    pairing_expires_at INTEGER,
    config TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER,
    revoked_at INTEGER
);
CREATE TABLE day_counters (
    service_id INTEGER NOT NULL REFERENCES services(id),
    day TEXT NOT NULL,
    last_number INTEGER NOT NULL,
    PRIMARY KEY (service_id, day)
);
CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    public_id TEXT NOT NULL UNIQUE,
    visit_id TEXT NOT NULL,
    site_id INTEGER NOT NULL REFERENCES sites(id),
    service_id INTEGER NOT NULL REFERENCES services(id),
    day TEXT NOT NULL,
    number INTEGER NOT NULL,
    code TEXT NOT NULL,
    priority TEXT REFERENCES priority_categories(code),
    status TEXT NOT NULL CHECK (status IN ('waiting', 'called', 'serving', 'finished',
        'no_show', 'transferred', 'cancelled', 'abandoned')),
    queue_at INTEGER NOT NULL,
    issued_at INTEGER NOT NULL,
    called_at INTEGER,
    last_called_at INTEGER,
    recalls INTEGER NOT NULL DEFAULT 0,
    started_at INTEGER,
    finished_at INTEGER,
    closed_at INTEGER,
    desk_id INTEGER REFERENCES desks(id),
    user_id INTEGER REFERENCES users(id),
    device_id INTEGER REFERENCES devices(id),
    origin_id INTEGER REFERENCES tickets(id),
    previous_id INTEGER REFERENCES tickets(id),
    outcome TEXT,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX tickets_waiting ON tickets (site_id, status, day, service_id, queue_at);
CREATE INDEX tickets_desk ON tickets (desk_id, status);
CREATE INDEX tickets_visit ON tickets (visit_id);
CREATE INDEX tickets_issued ON tickets (site_id, issued_at);
CREATE TABLE ticket_events (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    site_id INTEGER NOT NULL REFERENCES sites(id),
    service_id INTEGER NOT NULL REFERENCES services(id),
    kind TEXT NOT NULL CHECK (kind IN ('issued', 'called', 'recalled', 'started', 'finished',
        'no_show', 'transferred', 'cancelled', 'abandoned', 'marked_preferential')),
    at INTEGER NOT NULL,
    desk_id INTEGER REFERENCES desks(id),
    user_id INTEGER REFERENCES users(id),
    device_id INTEGER REFERENCES devices(id),
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, at);
CREATE INDEX ticket_events_site_at ON ticket_events (site_id, at);
CREATE TRIGGER ticket_events_append_only BEFORE UPDATE ON ticket_events
BEGIN
    SELECT RAISE(ABORT, 'ticket_events is append-only');
END;
CREATE TABLE policy_state (
    site_id INTEGER PRIMARY KEY REFERENCES sites(id),
    state TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE desk_sessions (
    id INTEGER PRIMARY KEY,
    desk_id INTEGER NOT NULL REFERENCES desks(id),
    user_id INTEGER NOT NULL REFERENCES users(id),
    started_at INTEGER NOT NULL,
    ended_at INTEGER,
    end_reason TEXT
);
CREATE UNIQUE INDEX desk_sessions_one_per_desk ON desk_sessions (desk_id) WHERE ended_at IS NULL;
CREATE UNIQUE INDEX desk_sessions_one_per_user ON desk_sessions (user_id) WHERE ended_at IS NULL;
CREATE TABLE desk_pauses (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES desk_sessions(id),
    reason TEXT NOT NULL,
    started_at INTEGER NOT NULL,
    ended_at INTEGER
);
CREATE UNIQUE INDEX desk_pauses_one_open ON desk_pauses (session_id) WHERE ended_at IS NULL;
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    user_id INTEGER REFERENCES users(id),
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
""")
    for row in DEFAULT_CATEGORIES:
        db.execute(
            "INSERT INTO priority_categories (code, label, legal_note, pictogram, kiosk_visible, sort_order) "
            "VALUES (?, ?, ?, ?, ?, ?)", row)


@migrations(name="0001b_queue_indexes")
def m0001b_queue_indexes(db):
    """Partial indexes and trigger-kept waiting counts: fast claims, counts and estimates.

    The counts are kept by triggers on every change of a ticket, so no code path
    can forget them; a test checks them against a full count.
    """
    _run(db, """
DROP INDEX tickets_waiting;
CREATE INDEX tickets_waiting_preferential ON tickets (service_id, day, queue_at, id)
    WHERE status = 'waiting' AND priority IS NOT NULL;
CREATE INDEX tickets_waiting_general ON tickets (service_id, day, queue_at, id)
    WHERE status = 'waiting' AND priority IS NULL;
CREATE INDEX tickets_waiting_counts ON tickets (site_id, day, service_id, priority, queue_at)
    WHERE status = 'waiting';
CREATE INDEX tickets_finished_recent ON tickets (service_id, finished_at)
    WHERE status = 'finished';
CREATE TABLE waiting_counts (
    service_id INTEGER NOT NULL REFERENCES services(id),
    day TEXT NOT NULL,
    preferential INTEGER NOT NULL,
    waiting INTEGER NOT NULL,
    PRIMARY KEY (service_id, day, preferential)
);
CREATE TRIGGER waiting_counts_insert AFTER INSERT ON tickets WHEN NEW.status = 'waiting'
BEGIN
    INSERT INTO waiting_counts (service_id, day, preferential, waiting)
    VALUES (NEW.service_id, NEW.day, NEW.priority IS NOT NULL, 1)
    ON CONFLICT (service_id, day, preferential) DO UPDATE SET waiting = waiting + 1;
END;
CREATE TRIGGER waiting_counts_update AFTER UPDATE OF status, priority, service_id ON tickets
WHEN OLD.status = 'waiting' OR NEW.status = 'waiting'
BEGIN
    UPDATE waiting_counts SET waiting = waiting - 1
    WHERE OLD.status = 'waiting' AND service_id = OLD.service_id AND day = OLD.day
      AND preferential = (OLD.priority IS NOT NULL);
    INSERT INTO waiting_counts (service_id, day, preferential, waiting)
    SELECT NEW.service_id, NEW.day, NEW.priority IS NOT NULL, 1 WHERE NEW.status = 'waiting'
    ON CONFLICT (service_id, day, preferential) DO UPDATE SET waiting = waiting + 1;
END;
CREATE TRIGGER waiting_counts_delete AFTER DELETE ON tickets WHEN OLD.status = 'waiting'
BEGIN
    UPDATE waiting_counts SET waiting = waiting - 1
    WHERE service_id = OLD.service_id AND day = OLD.day AND preferential = (OLD.priority IS NOT NULL);
END;
""")


@migrations(name="0002_print_jobs")
def m0002_print_jobs(db):
    """Print jobs of issued tickets, kiosk request ids (double taps) and each kiosk's printer state."""
    _run(db, """
CREATE TABLE print_jobs (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    site_id INTEGER NOT NULL REFERENCES sites(id),
    device_id INTEGER REFERENCES devices(id),
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'printing', 'printed', 'failed')),
    printer TEXT NOT NULL,
    paper TEXT NOT NULL DEFAULT '80mm',
    profile TEXT NOT NULL DEFAULT 'TM-T20II',
    codepage TEXT NOT NULL DEFAULT 'CP858',
    native_qr INTEGER NOT NULL DEFAULT 1,
    content TEXT NOT NULL DEFAULT '{}',
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    message TEXT NOT NULL DEFAULT '',
    printer_status TEXT,
    warning TEXT,
    detail TEXT,
    bytes_sent INTEGER NOT NULL DEFAULT 0,
    elapsed_ms REAL,
    reprint_of INTEGER REFERENCES print_jobs(id),
    requested_by INTEGER REFERENCES users(id),
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX print_jobs_site ON print_jobs (site_id, status, created_at);
CREATE INDEX print_jobs_device ON print_jobs (device_id, status);
CREATE INDEX print_jobs_ticket ON print_jobs (ticket_id);
CREATE TABLE kiosk_requests (
    device_id INTEGER NOT NULL REFERENCES devices(id),
    request_id TEXT NOT NULL,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    job_id INTEGER REFERENCES print_jobs(id),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (device_id, request_id)
);
CREATE TABLE printer_states (
    device_id INTEGER PRIMARY KEY REFERENCES devices(id),
    status TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL
);
""")


@migrations(name="0004_evaluation")
def m0004_evaluation(db):
    """Satisfaction ratings (one per visit), the reports' index and their sealed daily partials.

    A partial holds one past day's figures of a site for one report dimension
    (counters and sorted times); a day is sealed only when none of its tickets
    or desk sessions can change any more, and a new rating drops its day.
    """
    _run(db, """
CREATE TABLE ratings (
    id INTEGER PRIMARY KEY,
    visit_id TEXT NOT NULL UNIQUE,
    ticket_id INTEGER NOT NULL UNIQUE REFERENCES tickets(id),
    site_id INTEGER NOT NULL REFERENCES sites(id),
    day TEXT NOT NULL,
    desk_id INTEGER REFERENCES desks(id),
    score INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment TEXT NOT NULL DEFAULT '' CHECK (length(comment) <= 500),
    channel TEXT NOT NULL CHECK (channel IN ('survey', 'status')),
    device_id INTEGER REFERENCES devices(id),
    created_at INTEGER NOT NULL
);
CREATE INDEX ratings_site_day ON ratings (site_id, day);
CREATE INDEX ratings_site_created ON ratings (site_id, created_at);
CREATE INDEX tickets_site_day ON tickets (site_id, day);
CREATE TABLE report_partials (
    site_id INTEGER NOT NULL REFERENCES sites(id),
    dimension TEXT NOT NULL,
    day TEXT NOT NULL,
    timezone TEXT NOT NULL,
    data BLOB NOT NULL,
    built_at INTEGER NOT NULL,
    PRIMARY KEY (site_id, dimension, day)
) WITHOUT ROWID;
""")
@migrations(name="0005_admin")
def m0005_admin(db):
    """Site privacy and retention settings, and keyed hashes of optional citizen IDs."""
    _run(db, """
ALTER TABLE sites ADD COLUMN id_capture INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sites ADD COLUMN privacy_notice TEXT NOT NULL DEFAULT '';
ALTER TABLE sites ADD COLUMN retention_days INTEGER;
CREATE TABLE ticket_id_hashes (
    ticket_id INTEGER PRIMARY KEY REFERENCES tickets(id),
    site_id INTEGER NOT NULL REFERENCES sites(id),
    id_hash TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX ticket_id_hashes_hash ON ticket_id_hashes (id_hash);
CREATE INDEX audit_log_at ON audit_log (at);
""")


@migrations(name="0006_one_ticket_per_desk")
def m0006_one_ticket_per_desk(db):
    """A desk holds at most one ticket (called or in service): a rule of the data, not only of the code."""
    _run(db, """
CREATE UNIQUE INDEX tickets_one_open_per_desk ON tickets (desk_id)
    WHERE status IN ('called', 'serving');
""")


@migrations(name="0011a_media")
def m0011a_media(db):
    """Files any server process can serve (site logos, spoken-call clips), by a key naming their content."""
    _run(db, """
CREATE TABLE media (
    key TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    data BLOB NOT NULL,
    created_at INTEGER NOT NULL
);
""")


@migrations(name="0012a_evaluation_integrity")
def m0012a_evaluation_integrity(db):
    """What a control body needs to trust the reports, and bounded per-ticket estimate queries.

    - ``tickets.automatic``: closed by the end-of-day job (not real service).
    - ``tickets.target_wait_seconds``: the service's target in force when the segment joined
      its line (a later change of target never rewrites a past service level).
    - ``tickets.estimated_wait_ms``: the estimate given when the segment joined its line (the
      estimate's range is calibrated on how recent estimates turned out).
    - ``sites.max_wait_seconds``: an optional maximum wait after which a ticket is called first.
    - ``sealed_days``: the days whose figures were stored for good, and who sealed them.
    - indexes that keep every per-ticket estimate query to a short index range.
    """
    _run(db, """
ALTER TABLE tickets ADD COLUMN automatic INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN target_wait_seconds INTEGER;
ALTER TABLE tickets ADD COLUMN estimated_wait_ms INTEGER;
ALTER TABLE sites ADD COLUMN max_wait_seconds INTEGER;
CREATE TABLE sealed_days (
    site_id INTEGER NOT NULL REFERENCES sites(id),
    day TEXT NOT NULL,
    sealed_at INTEGER NOT NULL,
    user_id INTEGER REFERENCES users(id),
    reason TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (site_id, day)
);
CREATE INDEX tickets_handled_recent ON tickets (service_id, closed_at)
    WHERE called_at IS NOT NULL AND status IN ('finished', 'no_show', 'transferred');
CREATE INDEX tickets_estimated_calls ON tickets (site_id, called_at)
    WHERE called_at IS NOT NULL AND estimated_wait_ms IS NOT NULL;
CREATE INDEX tickets_desk_calls ON tickets (desk_id, called_at) WHERE called_at IS NOT NULL;
UPDATE tickets SET target_wait_seconds = (SELECT s.target_wait_seconds FROM services s
    WHERE s.id = tickets.service_id);
UPDATE tickets SET automatic = 1 WHERE id IN (SELECT ticket_id FROM ticket_events
    WHERE kind IN ('finished', 'no_show') AND data LIKE '%"automatic":true%');
""")


@migrations(name="0012b_report_summaries")
def m0012b_report_summaries(db):
    """Mergeable report summaries: sealed days' partials hold histograms, months are rolled up.

    Stored partials of the old format (every time of the day, sorted) are dropped: days are
    sealed again, in the new format, by close-day or ``run.py seal``.
    """
    _run(db, """
DELETE FROM report_partials;
CREATE TABLE report_month_partials (
    site_id INTEGER NOT NULL REFERENCES sites(id),
    dimension TEXT NOT NULL,
    month TEXT NOT NULL,
    timezone TEXT NOT NULL,
    data TEXT NOT NULL,
    built_at INTEGER NOT NULL,
    PRIMARY KEY (site_id, dimension, month)
);
""")


TICKET_EVENT_KINDS_0013A = ("'issued', 'called', 'recalled', 'started', 'finished', 'no_show', "
                            "'transferred', 'cancelled', 'abandoned', 'marked_preferential', "
                            "'no_show_undone'")


@migrations(name="0013a_no_show_undone")
def m0013a_no_show_undone(db):
    """Allow the 'no_show_undone' event: an official took back a no-show within its undo window.

    SQLite cannot change a CHECK constraint in place, so the append-only log is
    copied into a table with the wider check (the documented rebuild: new table,
    copy, drop, rename, then its indexes and trigger again). Nothing refers to it.
    """
    _run(db, f"""
CREATE TABLE ticket_events_0013a (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    site_id INTEGER NOT NULL REFERENCES sites(id),
    service_id INTEGER NOT NULL REFERENCES services(id),
    kind TEXT NOT NULL CHECK (kind IN ({TICKET_EVENT_KINDS_0013A})),
    at INTEGER NOT NULL,
    desk_id INTEGER REFERENCES desks(id),
    user_id INTEGER REFERENCES users(id),
    device_id INTEGER REFERENCES devices(id),
    data TEXT NOT NULL DEFAULT '{{}}'
);
INSERT INTO ticket_events_0013a (id, ticket_id, site_id, service_id, kind, at, desk_id, user_id, device_id, data)
    SELECT id, ticket_id, site_id, service_id, kind, at, desk_id, user_id, device_id, data FROM ticket_events;
DROP TABLE ticket_events;
ALTER TABLE ticket_events_0013a RENAME TO ticket_events;
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, at);
CREATE INDEX ticket_events_site_at ON ticket_events (site_id, at);
CREATE TRIGGER ticket_events_append_only BEFORE UPDATE ON ticket_events
BEGIN
    SELECT RAISE(ABORT, 'ticket_events is append-only');
END;
""")



@migrations(name="0013b_user_preferences")
def m0013b_user_preferences(db):
    """Each user's own settings of the pages they work in (JSON), e.g. desk keyboard shortcuts off."""
    _run(db, "ALTER TABLE users ADD COLUMN preferences TEXT NOT NULL DEFAULT '{}';")



@migrations(name="0013c_kiosk_pictograms_and_ages")
def m0013c_kiosk_pictograms_and_ages(db):
    """A pictogram per service on the kiosk, and the age from which a category applies (older adults: 60)."""
    _run(db, """
ALTER TABLE services ADD COLUMN pictogram TEXT NOT NULL DEFAULT '';
ALTER TABLE priority_categories ADD COLUMN min_age INTEGER;
UPDATE priority_categories SET min_age = 60 WHERE code = 'adulto_mayor';
""")


@migrations(name="0014a_login_throttle")
def m0014a_login_throttle(db):
    """Failed logins counted per source (an address and an account, or a known browser).

    A source that keeps failing is held back, longer each time; the account
    itself never locks, so its owner still logs in from elsewhere.
    """
    _run(db, """
CREATE TABLE login_throttle (
    source TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    failures INTEGER NOT NULL,
    first_failed_at INTEGER NOT NULL,
    last_failed_at INTEGER NOT NULL,
    blocked_until INTEGER
);
CREATE INDEX login_throttle_username ON login_throttle (username);
""")


@migrations(name="0014b_survey_desk_ids")
def m0014b_survey_desk_ids(db):
    """Survey screens name their desk by id: rewrite configurations that held the desk's code.

    Data only (no PostgreSQL twin: copy-data migrates its SQLite source first,
    so a PostgreSQL database never holds the old form).
    """
    for device in store.list_devices(db):
        config = json.loads(device["config"] or "{}")
        code = config.get("desk")
        if device["kind"] != "survey" or not isinstance(code, str) or not code:
            continue
        desk = store.find_desk(db, code, device["site_id"])
        store.set_device_config(db, device["id"], dict(config, desk=desk["id"] if desk else None))



TICKET_EVENT_KINDS_0016A = TICKET_EVENT_KINDS_0013A + ", 'arrived'"


@migrations(name="0016a_channels")
def m0016a_channels(db):
    """Appointments, tickets taken from a phone, notifications and each site's online settings.

    - ``tickets.channel``: how the visit began (``walk_in``, ``appointment``, ``remote``);
      ``tickets.arrived``: false while a ticket taken from a phone waits for its citizen to
      confirm arrival (the claim skips it); ``appointment_at`` (the slot's start) and
      ``arrived_at`` (check-in or confirmation) give punctuality and the wait from slot time.
    - ``sites.appointment_class``: the place of appointment tickets in the queue
      (``shared.priority.APPOINTMENT_CLASSES``), recorded with each call.
    - ``site_channels``: a site's appointment, remote-queue, notification and public settings.
    - ``appointments``, ``contacts`` (deleted once the visit is over), ``notifications``
      (the outbox the background sender works through), ``remote_takers`` (tickets taken per
      phone and day).
    - the event ``arrived`` (a remote ticket's citizen confirmed arrival); the append-only log
      is rebuilt with the wider check, as in ``0013a``.
    """
    _run(db, f"""
ALTER TABLE tickets ADD COLUMN channel TEXT NOT NULL DEFAULT 'walk_in'
    CHECK (channel IN ('walk_in', 'appointment', 'remote'));
ALTER TABLE tickets ADD COLUMN arrived INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tickets ADD COLUMN appointment_at INTEGER;
ALTER TABLE tickets ADD COLUMN arrived_at INTEGER;
ALTER TABLE tickets ADD COLUMN checkin_code TEXT;
CREATE UNIQUE INDEX tickets_checkin_code ON tickets (checkin_code) WHERE checkin_code IS NOT NULL;
ALTER TABLE sites ADD COLUMN appointment_class TEXT NOT NULL DEFAULT 'slot';
CREATE INDEX tickets_waiting_appointments ON tickets (service_id, day, queue_at, id)
    WHERE status = 'waiting' AND priority IS NULL AND channel = 'appointment';
CREATE INDEX tickets_awaiting_arrival ON tickets (site_id, day) WHERE status = 'waiting' AND NOT arrived;
CREATE TABLE site_channels (
    site_id INTEGER PRIMARY KEY REFERENCES sites(id),
    config TEXT NOT NULL DEFAULT '{{}}',
    entrance_token TEXT
);
CREATE TABLE appointments (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    site_id INTEGER NOT NULL REFERENCES sites(id),
    service_id INTEGER NOT NULL REFERENCES services(id),
    day TEXT NOT NULL,
    slot_at INTEGER NOT NULL,
    slot_minutes INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'booked'
        CHECK (status IN ('booked', 'checked_in', 'cancelled', 'no_show')),
    source TEXT NOT NULL DEFAULT 'web' CHECK (source IN ('web', 'api')),
    moves INTEGER NOT NULL DEFAULT 0,
    name TEXT,
    id_hash TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    cancelled_at INTEGER,
    checked_in_at INTEGER,
    ticket_id INTEGER REFERENCES tickets(id),
    reminded_at INTEGER
);
CREATE INDEX appointments_slot ON appointments (service_id, slot_at) WHERE status <> 'cancelled';
CREATE INDEX appointments_site_day ON appointments (site_id, day);
CREATE INDEX appointments_ticket ON appointments (ticket_id);
CREATE TABLE contacts (
    id INTEGER PRIMARY KEY,
    site_id INTEGER NOT NULL REFERENCES sites(id),
    appointment_id INTEGER REFERENCES appointments(id),
    visit_id TEXT,
    email TEXT,
    phone TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX contacts_appointment ON contacts (appointment_id);
CREATE INDEX contacts_visit ON contacts (visit_id);
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    site_id INTEGER NOT NULL REFERENCES sites(id),
    dedupe TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    recipient TEXT,
    subject TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL DEFAULT '{{}}',
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at INTEGER NOT NULL,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER
);
CREATE INDEX notifications_due ON notifications (status, next_at);
CREATE TABLE remote_takers (
    device TEXT NOT NULL,
    site_id INTEGER NOT NULL REFERENCES sites(id),
    day TEXT NOT NULL,
    taken INTEGER NOT NULL,
    PRIMARY KEY (device, site_id, day)
);
CREATE TABLE ticket_events_0016a (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets(id),
    site_id INTEGER NOT NULL REFERENCES sites(id),
    service_id INTEGER NOT NULL REFERENCES services(id),
    kind TEXT NOT NULL CHECK (kind IN ({TICKET_EVENT_KINDS_0016A})),
    at INTEGER NOT NULL,
    desk_id INTEGER REFERENCES desks(id),
    user_id INTEGER REFERENCES users(id),
    device_id INTEGER REFERENCES devices(id),
    data TEXT NOT NULL DEFAULT '{{}}'
);
INSERT INTO ticket_events_0016a (id, ticket_id, site_id, service_id, kind, at, desk_id, user_id, device_id, data)
    SELECT id, ticket_id, site_id, service_id, kind, at, desk_id, user_id, device_id, data FROM ticket_events;
DROP TABLE ticket_events;
ALTER TABLE ticket_events_0016a RENAME TO ticket_events;
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, at);
CREATE INDEX ticket_events_site_at ON ticket_events (site_id, at);
CREATE TRIGGER ticket_events_append_only BEFORE UPDATE ON ticket_events
BEGIN
    SELECT RAISE(ABORT, 'ticket_events is append-only');
END;
""")


DEFAULT_CATEGORIES = [
    ["discapacidad", "Persona con discapacidad",
     "Ley 1437 de 2011 art. 5 num. 6; Decreto-Ley 019 de 2012 art. 13", "discapacidad", 1, 1],
    ["gestante", "Mujer gestante",
     "Ley 1437 de 2011 art. 5 num. 6; Decreto-Ley 019 de 2012 art. 13", "gestante", 1, 2],
    ["infancia", "Niños, niñas o adulto con bebé en brazos",
     "Ley 1437 de 2011 art. 5 num. 6; Decreto-Ley 019 de 2012 art. 13", "infancia", 1, 3],
    ["adulto_mayor", "Adulto mayor",
     "Ley 1251 de 2008 (60 años o más); Ley 1171 de 2007 (ventanilla preferencial, mayores de 62)",
     "adulto_mayor", 1, 4],
    ["veterano", "Veterano de la Fuerza Pública",
     "Decreto-Ley 019 de 2012 art. 13", "veterano", 1, 5],
    ["vulnerabilidad", "Vulnerabilidad manifiesta (criterio del servidor)",
     "Ley 1437 de 2011 art. 5 num. 6: personas en situación de indefensión o debilidad manifiesta",
     "vulnerabilidad", 0, 6],
]


def apply(target) -> list[str]:
    """Bring a database (a SQLite file path or a PostgreSQL URL) up to date; return the steps applied."""
    if is_postgresql(str(target)):
        return _apply_postgresql(str(target))
    db = connect(target)
    try:
        pending = [m.name for m in migrations.pending(db)]
        migrations.apply(db)
    finally:
        db.close()
    return pending


def applied(target) -> list[str]:
    """Return the names of the steps already applied to a database."""
    if is_postgresql(str(target)):
        backend = _yoyo_backend(str(target))
        try:
            return [m.id for m in _yoyo_migrations() if backend.is_applied(m)]
        finally:
            backend.connection.close()
    db = connect(target)
    try:
        return [m.name for m in migrations.applied(db)]
    finally:
        db.close()


def _yoyo_migrations():
    """Return the PostgreSQL migration files, in order."""
    return read_migrations(str(POSTGRESQL_DIR))


class _YoyoBackend(PostgresqlPsycopgBackend):
    """yoyo's psycopg 3 backend, connecting with the URL as libpq reads it.

    yoyo splits a URL into keywords itself and keeps a percent-encoded host as
    it is: ``postgresql://turnos@%2Fvar%2Frun%2Fpostgresql/turnos``, the Unix
    socket of a PostgreSQL on the same machine, failed to resolve as a host
    name while the server's own connections worked.
    """

    url = ""

    def connect(self, dburi):
        """Open the migration connection from the whole URL (autocommit, as yoyo wants it)."""
        self.schema = None
        return self.driver.connect(self.url, autocommit=True)


def _yoyo_backend(url: str):
    """Return yoyo's backend for a PostgreSQL URL (psycopg 3)."""
    # A class per URL: yoyo makes copies of a backend from its parsed URI alone (its lock does).
    backend_class = type("YoyoBackend", (_YoyoBackend,), {"url": url})
    backend = backend_class(parse_uri("postgresql+psycopg://" + url.split("://", 1)[1]),
                            default_migration_table)
    backend.init_database()
    return backend


class SchemaChangeRefused(RuntimeError):
    """Migrations are pending but the database role in the URL may not change the schema."""


def _apply_postgresql(url: str) -> list[str]:
    """Apply the pending PostgreSQL migrations under yoyo's lock; return their names.

    Nothing pending (every start but the first after an upgrade): no lock is taken and
    nothing is written, so a role that may only read (a backup's, a report's) can start.
    """
    migrations = _yoyo_migrations()
    backend = _yoyo_backend(url)
    try:
        role, may_create = backend.execute(
            "SELECT current_user, has_schema_privilege(current_schema(), 'CREATE')").fetchone()
        if not may_create:
            # yoyo would wait a minute for a lock it cannot write, then blame another process.
            if internalmigrations.needs_upgrading(backend) or backend.to_apply(migrations):
                raise SchemaChangeRefused(
                    f"The database needs migrations, and the role {role} may not change its "
                    "schema. Run them once with the URL of the database's owner (run.py migrate "
                    "--database postgresql://OWNER@HOST/DB). Nothing was changed.")
            return []
        if not backend.to_apply(migrations):
            return []
        with backend.lock(timeout=60):  # another process may have applied them meanwhile
            pending = backend.to_apply(migrations)
            backend.apply_migrations(pending)
        return [m.id for m in pending]
    finally:
        backend.connection.close()


def init_app(app) -> None:
    """Bring the app's database up to date at start-up (unless ``MIGRATE_ON_START`` is off)."""
    if app.config.get("MIGRATE_ON_START", True):
        apply(app.config["DATABASE"])
