"""Storage: every SQL statement of Turnos lives in this module.

Functions take a sqlite-utils ``Database`` first. They neither commit nor
announce: the engine opens the transaction and emits events after commit.
Rows come back as plain dicts. One exception: a function that changes who a
token or a device cookie belongs to, or what it may do, also has the principals
each server process keeps forgotten once its change commits
(``_credentials_changed``): no caller can forget to.
"""

import json

from sqlite_utils import Database

from . import dialect, kpi
from .db import on_commit

# Flag columns: booleans on PostgreSQL, 0/1 on SQLite; written as Python booleans.
BOOLEAN_COLUMNS = frozenset({"active", "automatic", "id_capture", "kiosk_visible", "native_qr",
                             "arrived"})
# The largest id either engine stores (a signed 64-bit integer).
MAX_ID = 2**63 - 1


def _dict_or_none(row) -> dict | None:
    """Return a fetched row as a dict, or None when there was none."""
    return dialect.as_dict(row) if row is not None else None


def _one(db: Database, sql: str, params=()) -> dict | None:
    """Return the first row of a query as a dict, or None."""
    return _dict_or_none(db.execute(sql, params).fetchone())


def _all(db: Database, sql: str, params=()) -> list[dict]:
    """Return every row of a query as dicts."""
    return [dialect.as_dict(r) for r in db.execute(sql, params).fetchall()]


def _each_limited(db: Database, parts: list[tuple[str, list]], chunk: int = 120) -> list:
    """Run several ``SELECT ... ORDER BY ... LIMIT ?`` queries in one statement; return their rows.

    Each query keeps its own index probe and limit (a UNION ALL of subqueries,
    which both engines accept), so reading the heads of a site's many lines
    costs one round trip instead of one per line. SQLite caps a compound
    statement at 500 terms: longer lists go in chunks.
    """
    rows = []
    for start in range(0, len(parts), chunk):
        some = parts[start:start + chunk]
        sql = " UNION ALL ".join(f"SELECT * FROM ({query}) AS part{n}"
                                 for n, (query, _params) in enumerate(some))
        rows.extend(db.execute(sql, [p for _query, params in some for p in params]).fetchall())
    return rows


def _flags(values: dict) -> dict:
    """Return column values with the flag columns as Python booleans (PostgreSQL wants them so)."""
    return {k: (bool(v) if k in BOOLEAN_COLUMNS and v is not None else v) for k, v in values.items()}


def as_id(ident) -> int | None:
    """Return an identifier as a row id when it is one (ASCII digits within range), else None."""
    # str.isdigit() accepts "³" and "٣"; int() of a huge number overflows the engine's integers.
    text = str(ident)
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def lock_site(db: Database, site_id: int) -> None:
    """Serialize the queue changes of one site until the transaction ends.

    SQLite has one writer at a time, so nothing more is needed there. On
    PostgreSQL, claiming the head of a line under READ COMMITTED without it
    gives false "nobody waiting" answers when desks race (a row changed by a
    concurrent claim is re-checked and dropped); a transaction-level advisory
    lock per site gives none. Changes that move tickets between lines
    (transfers, preferential marks, the close of a day) take it too, so two of
    them never wait for each other's counters in opposite orders. Issuing and
    single-ticket steps (start, finish, no-show) need only their row locks.
    """
    db.lock(dialect.LOCK_NAMESPACE_SITE, site_id)


def lock_kiosk(db: Database, device_id: int) -> None:
    """Serialize the taps of one kiosk until the transaction ends (nothing more on SQLite).

    Two taps of a kiosk with one request id give one ticket: the second waits
    for the first and finds the ticket it remembered. Only the same kiosk can
    repeat a request id, so desks and other kiosks never wait for this lock.
    """
    db.lock(dialect.LOCK_NAMESPACE_KIOSK, device_id)


# --- settings -------------------------------------------------------------

def get_setting(db: Database, key: str) -> str | None:
    """Return an instance-wide setting, or None."""
    row = _one(db, "SELECT value FROM settings WHERE key = ?", [key])
    return row["value"] if row else None


def set_setting(db: Database, key: str, value: str) -> None:
    """Store an instance-wide setting."""
    db.execute("INSERT INTO settings (key, value) VALUES (?, ?) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value])


# --- sites, services, desks, categories ----------------------------------

def find_site(db: Database, ident) -> dict | None:
    """Return a site by code or numeric id."""
    ident = str(ident)
    row = _one(db, "SELECT * FROM sites WHERE code = ?", [ident])
    if row is None and as_id(ident) is not None:
        row = _one(db, "SELECT * FROM sites WHERE id = ?", [as_id(ident)])
    return row


def site_by_id(db: Database, site_id: int) -> dict | None:
    """Return a site by id."""
    return _one(db, "SELECT * FROM sites WHERE id = ?", [site_id])


def list_sites(db: Database, *, only_active: bool = False) -> list[dict]:
    """Return all sites ordered by name."""
    where = "WHERE active" if only_active else ""
    return _all(db, f"SELECT * FROM sites {where} ORDER BY name")


def count_sites(db: Database) -> int:
    """Return how many sites exist."""
    return db.execute("SELECT count(*) FROM sites").fetchone()[0]


def _upsert(db: Database, table: str, keys: dict, values: dict,
            insert_only: dict | None = None) -> int:
    """Insert a row, or update its ``values`` when a row with these ``keys`` exists; return its id."""
    row = _flags({**keys, **values, **(insert_only or {})})
    updated = values or keys
    sets = ", ".join(f"{c} = excluded.{c}" for c in updated)
    return db.execute(
        f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)}) "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets} RETURNING id",
        list(row.values())).fetchone()[0]


def upsert_site(db: Database, values: dict, now_ms: int) -> int:
    """Create or update a site by code; return its id."""
    rest = {k: v for k, v in values.items() if k != "code"}
    return _upsert(db, "sites", {"code": values["code"]}, rest, {"created_at": now_ms})


def find_service(db: Database, site_id: int, ident) -> dict | None:
    """Return a service of a site by code (case-insensitive) or numeric id."""
    ident = str(ident)
    row = _one(db, "SELECT * FROM services WHERE site_id = ? AND upper(code) = upper(?)",
               [site_id, ident])
    if row is None and as_id(ident) is not None:
        row = _one(db, "SELECT * FROM services WHERE site_id = ? AND id = ?", [site_id, as_id(ident)])
    return row


def service_by_id(db: Database, service_id: int) -> dict | None:
    """Return a service by id."""
    return _one(db, "SELECT * FROM services WHERE id = ?", [service_id])


def list_services(db: Database, site_id: int, *, only_active: bool = False) -> list[dict]:
    """Return the services of a site in display order."""
    where = "AND active" if only_active else ""
    return _all(db, f"SELECT * FROM services WHERE site_id = ? {where} "
                    "ORDER BY sort_order, group_name, name", [site_id])


def services_of_sites(db: Database, site_ids: list[int]) -> list[dict]:
    """Return the services of several sites in one query (a national report's names)."""
    if not site_ids:
        return []
    sites, params = _in_list("site", site_ids)
    return _all(db, f"SELECT * FROM services WHERE site_id IN ({sites}) ORDER BY site_id, sort_order",
                params)


def upsert_service(db: Database, site_id: int, values: dict) -> int:
    """Create or update a service of a site by code; return its id."""
    rest = {k: v for k, v in values.items() if k != "code"}
    return _upsert(db, "services", {"site_id": site_id, "code": values["code"]}, rest)


def find_desk(db: Database, ident, site_id: int | None = None) -> dict | None:
    """Return a desk by numeric id, by ``site:code``, or by code within a site."""
    ident = str(ident)
    if site_id is not None:
        return _one(db, "SELECT * FROM desks WHERE site_id = ? AND code = ?", [site_id, ident])
    if ":" in ident:
        site_code, code = ident.split(":", 1)
        return _one(db, "SELECT d.* FROM desks d JOIN sites s ON s.id = d.site_id "
                        "WHERE s.code = ? AND d.code = ?", [site_code, code])
    if as_id(ident) is not None:
        return _one(db, "SELECT * FROM desks WHERE id = ?", [as_id(ident)])
    return None


def desk_by_id(db: Database, desk_id: int) -> dict | None:
    """Return a desk by id."""
    return _one(db, "SELECT * FROM desks WHERE id = ?", [desk_id])


def list_desks(db: Database, site_id: int) -> list[dict]:
    """Return the desks of a site with their services (codes, in order) and holder."""
    desks = _all(db, "SELECT d.*, s.user_id AS holder_id, u.username AS holder, "
                     "u.display_name AS holder_name, s.started_at AS session_started_at "
                     "FROM desks d LEFT JOIN desk_sessions s ON s.desk_id = d.id AND s.ended_at IS NULL "
                     "LEFT JOIN users u ON u.id = s.user_id "
                     "WHERE d.site_id = ? ORDER BY length(d.code), d.code", [site_id])
    services = _all(db, "SELECT ds.desk_id, sv.code FROM desk_services ds "
                        "JOIN services sv ON sv.id = ds.service_id JOIN desks d ON d.id = ds.desk_id "
                        "WHERE d.site_id = ? ORDER BY ds.desk_id, ds.position", [site_id])
    by_desk: dict[int, list[str]] = {}
    for row in services:
        by_desk.setdefault(row["desk_id"], []).append(row["code"])
    for desk in desks:
        desk["services"] = by_desk.get(desk["id"], [])
    return desks


def upsert_desk(db: Database, site_id: int, values: dict) -> int:
    """Create or update a desk of a site by code; return its id."""
    return _upsert(db, "desks", {"site_id": site_id, "code": values["code"]},
                   {"name": values["name"], "active": values.get("active", 1)})


def set_desk_services(db: Database, desk_id: int, service_ids: list[int]) -> None:
    """Replace the ordered list of services a desk serves."""
    db.execute("DELETE FROM desk_services WHERE desk_id = ?", [desk_id])
    for position, service_id in enumerate(service_ids, start=1):
        db.execute("INSERT INTO desk_services (desk_id, service_id, position) VALUES (?, ?, ?)",
                   [desk_id, service_id, position])


def desk_service_ids(db: Database, desk_id: int) -> list[int]:
    """Return the ids of the services a desk serves, in order."""
    return [r[0] for r in db.execute(
        "SELECT service_id FROM desk_services WHERE desk_id = ? ORDER BY position", [desk_id])]


def list_categories(db: Database, *, only_active: bool = False) -> list[dict]:
    """Return the priority categories in display order."""
    where = "WHERE active" if only_active else ""
    return _all(db, f"SELECT * FROM priority_categories {where} ORDER BY sort_order, code")


def find_category(db: Database, code: str) -> dict | None:
    """Return a priority category by code."""
    return _one(db, "SELECT * FROM priority_categories WHERE code = ?", [code])


def upsert_category(db: Database, values: dict) -> int:
    """Create or update a priority category by code; return its id."""
    rest = {k: v for k, v in values.items() if k != "code"}
    return _upsert(db, "priority_categories", {"code": values["code"]}, rest)


# --- users, tokens, devices ----------------------------------------------

# What runs once a change of who may do what commits (``shared.auth`` registers here: the
# store imports nothing above it).
CREDENTIALS_LISTENERS: list = []


def _credentials_changed(db: Database) -> None:
    """Have the credentials listeners run once the current transaction commits (at once without one).

    Called by every function that changes a user's role, state, password or
    sites, a staff token, or a device's token, name or settings; not by the
    bookkeeping ones (last seen, failed logins, preferences, pairing codes).
    """
    for listener in CREDENTIALS_LISTENERS:
        if listener not in (db.after_commit or ()):  # once per transaction, however many changes
            on_commit(db, listener)


def find_user(db: Database, username: str) -> dict | None:
    """Return a user by username (case-insensitive)."""
    return _one(db, "SELECT * FROM users WHERE lower(username) = lower(?)", [username])


def user_by_id(db: Database, user_id: int) -> dict | None:
    """Return a user by id."""
    return _one(db, "SELECT * FROM users WHERE id = ?", [user_id])


def list_users(db: Database) -> list[dict]:
    """Return every user, without password hashes."""
    return _all(db, "SELECT id, username, display_name, role, active, created_at, locked_until "
                    "FROM users ORDER BY username")


def insert_user(db: Database, username: str, display_name: str, password_hash: str,
                role: str, now_ms: int) -> int:
    """Create a user and return its id."""
    return db.execute("INSERT INTO users (username, display_name, password_hash, role, created_at) "
                      "VALUES (?, ?, ?, ?, ?) RETURNING id",
                      [username, display_name, password_hash, role, now_ms]).fetchone()[0]


def set_password(db: Database, user_id: int, password_hash: str) -> None:
    """Replace a user's password hash and clear any lockout."""
    db.execute("UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = NULL "
               "WHERE id = ?", [password_hash, user_id])
    _credentials_changed(db)


def user_site_ids(db: Database, user_id: int) -> list[int]:
    """Return the ids of the sites a user works in (empty: all sites)."""
    return [r[0] for r in db.execute("SELECT site_id FROM user_sites WHERE user_id = ?", [user_id])]


def set_user_sites(db: Database, user_id: int, site_ids: list[int]) -> None:
    """Replace the sites a user works in."""
    db.execute("DELETE FROM user_sites WHERE user_id = ?", [user_id])
    for site_id in site_ids:
        db.execute("INSERT INTO user_sites (user_id, site_id) VALUES (?, ?)", [user_id, site_id])
    _credentials_changed(db)


def insert_api_token(db: Database, user_id: int, token_hash: str, now_ms: int,
                     expires_at: int) -> None:
    """Store the hash of a new staff API token."""
    db.execute("INSERT INTO api_tokens (user_id, token_hash, created_at, expires_at) "
               "VALUES (?, ?, ?, ?)", [user_id, token_hash, now_ms, expires_at])


def _user_and_sites(rows: list[dict]) -> dict | None:
    """Fold a user's rows joined to its sites into the user with ``site_ids`` (empty: all sites)."""
    if not rows:
        return None
    user = dict(rows[0])
    del user["member_of"]
    user["site_ids"] = [r["member_of"] for r in rows if r["member_of"] is not None]
    return user


def user_for_token(db: Database, token_hash: str, now_ms: int) -> dict | None:
    """Return the active user owning a live staff token, with ``site_ids`` and the token's
    expiry (``token_expires_at``), in one query."""
    return _user_and_sites(_all(
        db, "SELECT u.*, us.site_id AS member_of, k.expires_at AS token_expires_at "
            "FROM api_tokens k JOIN users u ON u.id = k.user_id "
            "LEFT JOIN user_sites us ON us.user_id = u.id "
            "WHERE k.token_hash = ? AND k.revoked_at IS NULL AND k.expires_at > ? AND u.active",
        [token_hash, now_ms]))


def user_with_sites(db: Database, user_id: int) -> dict | None:
    """Return a user by id with ``site_ids`` (the sites it works in; empty: all), in one query."""
    return _user_and_sites(_all(
        db, "SELECT u.*, us.site_id AS member_of FROM users u "
            "LEFT JOIN user_sites us ON us.user_id = u.id WHERE u.id = ?", [user_id]))


def revoke_user_tokens(db: Database, user_id: int, now_ms: int) -> None:
    """Revoke every API token of a user."""
    db.execute("UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
               [now_ms, user_id])
    _credentials_changed(db)


def insert_device(db: Database, site_id: int, kind: str, name: str, token_hash: str | None,
                  config: dict, now_ms: int) -> int:
    """Create a device and return its id."""
    return db.execute("INSERT INTO devices (site_id, kind, name, token_hash, config, created_at) "
                      "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                      [site_id, kind, name, token_hash, json.dumps(config), now_ms]).fetchone()[0]


def device_by_id(db: Database, device_id: int) -> dict | None:
    """Return a device by id."""
    return _one(db, "SELECT * FROM devices WHERE id = ?", [device_id])


def device_for_token(db: Database, token_hash: str) -> dict | None:
    """Return the unrevoked device whose token has this hash."""
    return _one(db, "SELECT * FROM devices WHERE token_hash = ? AND revoked_at IS NULL",
                [token_hash])


def list_devices(db: Database, site_id: int | None = None) -> list[dict]:
    """Return devices, optionally of one site."""
    if site_id is None:
        return _all(db, "SELECT * FROM devices ORDER BY site_id, kind, name")
    return _all(db, "SELECT * FROM devices WHERE site_id = ? ORDER BY kind, name", [site_id])


def set_device_token(db: Database, device_id: int, token_hash: str) -> None:
    """Give a device a new token hash and consume its pairing code."""
    db.execute("UPDATE devices SET token_hash = ?, pairing_code_hash = NULL, "
               "pairing_expires_at = NULL, revoked_at = NULL WHERE id = ?", [token_hash, device_id])
    _credentials_changed(db)


def set_device_pairing(db: Database, device_id: int, code_hash: str, expires_at: int) -> None:
    """Attach a one-time pairing code to a device."""
    db.execute("UPDATE devices SET pairing_code_hash = ?, pairing_expires_at = ? WHERE id = ?",
               [code_hash, expires_at, device_id])


def device_for_pairing(db: Database, code_hash: str, now_ms: int) -> dict | None:
    """Return the device a live pairing code belongs to."""
    return _one(db, "SELECT * FROM devices WHERE pairing_code_hash = ? AND pairing_expires_at > ? "
                    "AND revoked_at IS NULL", [code_hash, now_ms])


def revoke_device(db: Database, device_id: int, now_ms: int) -> None:
    """Revoke a device's token."""
    db.execute("UPDATE devices SET revoked_at = ?, token_hash = NULL, pairing_code_hash = NULL "
               "WHERE id = ?", [now_ms, device_id])
    _credentials_changed(db)


def touch_device(db: Database, device_id: int, now_ms: int) -> None:
    """Record that a device was seen now."""
    db.execute("UPDATE devices SET last_seen_at = ? WHERE id = ?", [now_ms, device_id])


def set_device_config(db: Database, device_id: int, config: dict) -> None:
    """Replace a device's configuration."""
    db.execute("UPDATE devices SET config = ? WHERE id = ?", [json.dumps(config), device_id])
    _credentials_changed(db)


# --- tickets ---------------------------------------------------------------

def next_number(db: Database, service_id: int, day: str) -> int:
    """Allocate the next ticket number of a service on a local day, atomically."""
    return db.execute(
        "INSERT INTO day_counters (service_id, day, last_number) VALUES (?, ?, 1) "
        "ON CONFLICT (service_id, day) DO UPDATE SET last_number = day_counters.last_number + 1 "
        "RETURNING last_number", [service_id, day]).fetchone()[0]


def insert_ticket(db: Database, values: dict) -> dict:
    """Insert a ticket and return it."""
    names = list(values)
    return dict(db.execute(
        f"INSERT INTO tickets ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "
        "RETURNING *", [values[n] for n in names]).fetchone())


EVENT_COLUMNS = "ticket_id, site_id, service_id, kind, at, desk_id, user_id, device_id, data"


def event_data(data: dict | None) -> str:
    """Return an event's data as stored: compact JSON (reports search it as text)."""
    return json.dumps(data or {}, separators=(",", ":"))


def insert_event(db: Database, ticket: dict, kind: str, at: int, *, desk_id=None, user_id=None,
                 device_id=None, data: dict | None = None) -> None:
    """Append one event to a ticket's log (sent with the transaction's next statement on PostgreSQL)."""
    db.send(f"INSERT INTO ticket_events ({EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [ticket["id"], ticket["site_id"], ticket["service_id"], kind, at, desk_id, user_id,
             device_id, event_data(data)])


class Pending:
    """The ticket a write transaction's statement changed, read when asked (ideally after the COMMIT)."""

    def __init__(self, db: Database, cursor=None, row=None):
        self.db, self.cursor, self._row = db, cursor, row

    def row(self) -> dict | None:
        """Return the changed ticket, or None when the statement changed none."""
        if self.cursor is not None:
            self.cursor, self._row = None, _dict_or_none(self.db.answered(self.cursor).fetchone())
        return self._row


def update_logged(db: Database, update: str, params: dict, *, kind: str, at: int,
                  user_id: int | None, device_id: int | None, data: tuple[str, dict]) -> Pending:
    """Change one ticket (``update``: an UPDATE ... RETURNING *) and log its event, if it changed.

    ``data`` is the event's data as a SQL expression over the changed row ``c``
    (JSON text) with its parameters. On PostgreSQL the change and its event are
    one statement (a WITH that writes), sent without waiting for its answer:
    inside a write transaction it travels with the COMMIT, so the locks it takes
    (a site's lock taken before it, the rows it changes) are held for no round
    trip of this process, and the process waits for the answer cooperatively.
    On SQLite (no writes inside WITH, no round trips to save) the change runs,
    then the event is written from the changed row.
    """
    data_sql, data_params = data
    params = dict(params, _ev_kind=kind, _ev_at=at, _ev_user=user_id, _ev_device=device_id,
                  **data_params)
    log = (f"INSERT INTO ticket_events ({EVENT_COLUMNS}) SELECT c.id, c.site_id, c.service_id, "
           f":_ev_kind, :_ev_at, c.desk_id, :_ev_user, :_ev_device, {data_sql} FROM")
    if db.dialect.writes_in_with:
        return Pending(db, db.send(f"WITH c AS ({update}), logged AS ({log} c) SELECT * FROM c", params))
    row = db.execute(update, params).fetchone()
    if row is not None:
        db.execute(f"{log} tickets c WHERE c.id = :_ev_ticket", dict(params, _ev_ticket=row["id"]))
    return Pending(db, row=_dict_or_none(row))


def ticket_by_id(db: Database, ticket_id: int) -> dict | None:
    """Return a ticket by id."""
    return _one(db, "SELECT * FROM tickets WHERE id = ?", [ticket_id])


def ticket_with_desk_holder(db: Database, ticket_id: int) -> tuple[dict | None, int | None]:
    """Return a ticket and the user whose session holds its desk now (None for none), in one query."""
    row = _one(db, "SELECT t.*, s.user_id AS desk_holder_id FROM tickets t "
                   "LEFT JOIN desk_sessions s ON s.desk_id = t.desk_id AND s.ended_at IS NULL "
                   "WHERE t.id = ?", [ticket_id])
    if row is None:
        return None, None
    return row, row.pop("desk_holder_id")


def latest_segment(db: Database, visit_id: str) -> dict | None:
    """Return the newest segment of a visit (the ticket itself when never transferred)."""
    return _one(db, "SELECT * FROM tickets WHERE visit_id = ? ORDER BY id DESC LIMIT 1", [visit_id])


def ticket_events(db: Database, ticket_id: int) -> list[dict]:
    """Return a ticket's events in order."""
    return _all(db, "SELECT * FROM ticket_events WHERE ticket_id = ? ORDER BY at, id", [ticket_id])


def claim_next(db: Database, *, site_id: int, desk_id: int, day: str, order_by: str,
               order_params: dict, now_ms: int, user_id: int | None,
               record: tuple[str, dict], condition: tuple[str, dict] = ("", {})) -> Pending:
    """Claim the first waiting ticket for a desk in one atomic statement, and log its call.

    The UPDATE picks and changes the row in one statement, so two desks can
    never claim the same ticket even across processes. Candidates are only the
    head of each (service, preferential/general/appointment) line of the desk, among
    tickets whose citizen is there (``arrived``): every policy orders within such a
    line by ``queue_at``, so the winner is always one of them. A desk that holds a
    ticket (called or in service), or whose session is paused, claims nothing: None,
    as when nobody waits (the caller tells which when it gets None). The call's
    event records ``record`` (see ``update_logged``). ``condition``: one more SQL
    condition the claim needs, with its parameters (who may call at the desk:
    ``auth.desk_condition``).
    """
    params = {"site": site_id, "desk": desk_id, "day": day, "now": now_ms, "user": user_id}
    params.update(order_params)
    # The heads are picked first (two index probes per service of the desk), then joined to
    # their rows: the plan cannot turn into a scan of the day's tickets with a probe per row,
    # whatever the planner believes of the table's size (PostgreSQL on a fresh table did so).
    return update_logged(db, (
        "UPDATE tickets SET status = 'called', called_at = :now, last_called_at = :now, "
        "desk_id = :desk, user_id = :user "
        "WHERE id = (SELECT t.id FROM ("
        "    SELECT (SELECT h.id FROM tickets h WHERE h.service_id = d.service_id AND h.day = :day "
        "     AND h.status = 'waiting' AND h.priority IS NOT NULL AND h.arrived "
        "     ORDER BY h.queue_at, h.id LIMIT 1) "
        "     AS head, d.position FROM desk_services d WHERE d.desk_id = :desk "
        "    UNION ALL "
        "    SELECT (SELECT h.id FROM tickets h WHERE h.service_id = d.service_id AND h.day = :day "
        "     AND h.status = 'waiting' AND h.priority IS NULL AND h.channel <> 'appointment' "
        "     AND h.arrived ORDER BY h.queue_at, h.id LIMIT 1), "
        "     d.position FROM desk_services d WHERE d.desk_id = :desk "
        "    UNION ALL "
        "    SELECT (SELECT h.id FROM tickets h WHERE h.service_id = d.service_id AND h.day = :day "
        "     AND h.status = 'waiting' AND h.priority IS NULL AND h.channel = 'appointment' "
        "     AND h.arrived ORDER BY h.queue_at, h.id LIMIT 1), "
        "     d.position FROM desk_services d WHERE d.desk_id = :desk) ds "
        f"  {db.dialect.ticket_of_head} WHERE t.site_id = :site "
        f"  ORDER BY {order_by} LIMIT 1) "
        "AND status = 'waiting' AND NOT EXISTS (SELECT 1 FROM tickets o WHERE o.desk_id = :desk "
        "  AND o.status IN ('called', 'serving')) "
        "AND NOT EXISTS (SELECT 1 FROM desk_sessions s JOIN desk_pauses p ON p.session_id = s.id "
        "  WHERE s.desk_id = :desk AND s.ended_at IS NULL AND p.ended_at IS NULL) "
        f"{_and(condition[0])} RETURNING *"),
        dict(params, **condition[1]), kind="called", at=now_ms, user_id=user_id, device_id=None,
        data=record)


def _transition_sql(from_states: tuple[str, ...], sets: dict, desk_id: int | None,
                    condition: str = "") -> str:
    """Return the UPDATE of a ticket in one of the given states (parameters: the sets, _id, _desk).

    ``condition``: one more SQL condition over the ticket's row (with its own parameters).
    """
    assignments = ", ".join(f"{k} = :{k}" for k in sets)
    states = ", ".join(f"'{s}'" for s in from_states)
    desk_clause = "AND desk_id = :_desk" if desk_id is not None else ""
    return (f"UPDATE tickets SET {assignments} WHERE id = :_id AND status IN ({states}) "
            f"{desk_clause} {_and(condition)} RETURNING *")


def _and(condition: str) -> str:
    """Return ``AND (condition)`` to end a WHERE with, or nothing for no condition."""
    return f"AND ({condition})" if condition else ""


def transition(db: Database, ticket_id: int, from_states: tuple[str, ...], sets: dict,
               *, desk_id: int | None = None) -> dict | None:
    """Change a ticket only if it is in one of the given states; return it, or None."""
    return _one(db, _transition_sql(from_states, sets, desk_id),
                    dict(sets, _id=ticket_id, _desk=desk_id))


def transition_logged(db: Database, ticket_id: int, from_states: tuple[str, ...], sets: dict, *,
                      kind: str, at: int, user_id: int | None, device_id: int | None,
                      data: dict | None = None, condition: tuple[str, dict] = ("", {})) -> Pending:
    """Change a ticket only if it is in one of the given states, and log its event (``kind``).

    ``condition``: one more SQL condition the ticket must meet, with its parameters
    (who may move it: ``auth.ticket_condition``).
    """
    where, where_params = condition
    return update_logged(db, _transition_sql(from_states, sets, None, where),
                         dict(sets, _id=ticket_id, **where_params),
                         kind=kind, at=at, user_id=user_id, device_id=device_id,
                         data=(":_ev_data", {"_ev_data": event_data(data)}))


def recall(db: Database, ticket_id: int, desk_id: int, now_ms: int) -> dict | None:
    """Count one more call of a called ticket at its desk; return it, or None."""
    return _one(db, "UPDATE tickets SET recalls = recalls + 1, last_called_at = ? "
                    "WHERE id = ? AND status = 'called' AND desk_id = ? RETURNING *",
                    [now_ms, ticket_id, desk_id])


def desk_open_ticket(db: Database, desk_id: int) -> dict | None:
    """Return the ticket a desk holds (called or in service), if any."""
    return desks_open_tickets(db, [desk_id]).get(desk_id)


def desks_open_tickets(db: Database, desk_ids: list[int]) -> dict[int, dict]:
    """Return the ticket each of several desks holds (called or in service), by desk id, in one query."""
    if not desk_ids:
        return {}
    desks, params = _in_list("desk", desk_ids)
    return {r["desk_id"]: r for r in _all(  # a desk holds at most one (a unique index)
        db, f"SELECT * FROM tickets WHERE desk_id IN ({desks}) AND status IN ('called', 'serving')",
        params)}


def waiting_counts(db: Database, site_id: int, day: str) -> dict[int, dict]:
    """Return per service id: waiting general, waiting preferential and oldest arrival."""
    counts: dict[int, dict] = {}
    for service_id, preferential, waiting in db.execute(
            "SELECT c.service_id, c.preferential, c.waiting FROM waiting_counts c "
            "JOIN services s ON s.id = c.service_id WHERE s.site_id = ? AND c.day = ? "
            "AND c.waiting > 0", [site_id, day]):
        row = counts.setdefault(service_id, {"general": 0, "preferential": 0})
        row["preferential" if preferential else "general"] = waiting
    oldest = oldest_waiting(db, list(counts), day)
    for service_id, row in counts.items():
        row["oldest_queue_at"] = oldest.get(service_id)
    return counts


def waiting_in_service(db: Database, service_id: int, day: str) -> dict:
    """Return a service's waiting general and preferential tickets on a day (trigger-kept)."""
    counts = {"general": 0, "preferential": 0}
    for preferential, waiting in db.execute(
            "SELECT preferential, waiting FROM waiting_counts WHERE service_id = ? AND day = ?",
            [service_id, day]):
        counts["preferential" if preferential else "general"] = waiting
    return counts


def oldest_waiting(db: Database, service_ids: list[int], day: str) -> dict[int, int]:
    """Return the earliest arrival among each service's waiting tickets (two index probes each, one query)."""
    oldest: dict[int, int] = {}
    for service_id, queue_at in _each_limited(db, [
            ("SELECT service_id, queue_at FROM tickets WHERE service_id = ? AND day = ? "
             f"AND status = 'waiting' AND priority IS {kind} NULL ORDER BY queue_at LIMIT 1",
             [service_id, day]) for service_id in service_ids for kind in ("", "NOT")]):
        oldest[service_id] = min(queue_at, oldest.get(service_id, queue_at))
    return oldest


def count_waiting_slowly(db: Database, site_id: int, day: str) -> dict[int, dict]:
    """Count waiting tickets by scanning them (to check the trigger-kept counts)."""
    rows = db.execute(
        "SELECT service_id, count(*) FILTER (WHERE priority IS NULL), "
        "count(*) FILTER (WHERE priority IS NOT NULL) FROM tickets "
        "WHERE site_id = ? AND status = 'waiting' AND day = ? GROUP BY service_id",
        [site_id, day]).fetchall()
    return {r[0]: {"general": r[1], "preferential": r[2]} for r in rows}


def ahead_of(db: Database, ticket: dict) -> int:
    """Count the waiting tickets of the same service before this one in strict order (a fallback)."""
    line = [ticket["service_id"], ticket["day"]]
    before = [ticket["queue_at"], ticket["queue_at"], ticket["id"]]
    earlier_preferential = db.execute(
        "SELECT count(*) FROM tickets WHERE service_id = ? AND day = ? AND status = 'waiting' "
        "AND priority IS NOT NULL AND (queue_at < ? OR (queue_at = ? AND id < ?))",
        line + before).fetchone()[0]
    if ticket["priority"] is not None:
        return earlier_preferential
    # A general ticket waits behind every preferential one, whenever it arrived.
    all_preferential = db.execute(
        "SELECT count(*) FROM tickets WHERE service_id = ? AND day = ? AND status = 'waiting' "
        "AND priority IS NOT NULL", line).fetchone()[0]
    earlier_general = db.execute(
        "SELECT count(*) FROM tickets WHERE service_id = ? AND day = ? AND status = 'waiting' "
        "AND priority IS NULL AND (queue_at < ? OR (queue_at = ? AND id < ?))",
        line + before).fetchone()[0]
    return all_preferential + earlier_general


def passed_over(db: Database, site_id: int, day: str,
                ticket_id: int | None = None) -> dict[int, tuple[int, int, int]]:
    """Return per waiting ticket: later arrivals called first by its desks, how many preferential, since.

    A ticket is passed over when a desk that serves its service calls a
    ticket that arrived after it, while it waits.
    """
    return {r[0]: (r[1], r[2], r[3]) for r in db.execute(
        "SELECT w.id, count(c.id), count(c.id) FILTER (WHERE c.priority IS NOT NULL), "
        "min(c.called_at) FROM tickets w "
        "JOIN desk_services dw ON dw.service_id = w.service_id "
        "JOIN tickets c ON c.desk_id = dw.desk_id AND c.called_at >= w.issued_at "
        "AND c.called_at IS NOT NULL AND c.queue_at > w.queue_at "
        "WHERE w.site_id = ? AND w.day = ? AND w.status = 'waiting' "
        + ("AND w.id = ? " if ticket_id is not None else "") + "GROUP BY w.id",
        [site_id, day] + ([ticket_id] if ticket_id is not None else []))}


def active_list(db: Database, site_id: int, day: str) -> list[dict]:
    """Return today's called and in-service tickets of a site."""
    return _all(db, "SELECT * FROM tickets WHERE site_id = ? AND day = ? "
                    "AND status IN ('called', 'serving') ORDER BY last_called_at DESC", [site_id, day])


def last_calls(db: Database, site_id: int, limit: int, since_ms: int) -> list[dict]:
    """Return the most recent calls and recalls at a site, newest first."""
    return _all(db, "SELECT e.at, e.kind, e.desk_id, t.* FROM ticket_events e "
                    "JOIN tickets t ON t.id = e.ticket_id "
                    "WHERE e.site_id = ? AND e.kind IN ('called', 'recalled') AND e.at >= ? "
                    "ORDER BY e.at DESC, e.id DESC LIMIT ?", [site_id, since_ms, limit])


def open_desks_for_service(db: Database, service_id: int) -> int:
    """Count desks that serve a service and are held by an official and not paused."""
    return db.execute(
        "SELECT count(*) FROM desk_services ds JOIN desk_sessions s ON s.desk_id = ds.desk_id "
        "AND s.ended_at IS NULL WHERE ds.service_id = ? AND NOT EXISTS (SELECT 1 FROM desk_pauses p "
        "WHERE p.session_id = s.id AND p.ended_at IS NULL)", [service_id]).fetchone()[0]


def close_open_tickets(db: Database, site_id: int, up_to_day: str, from_state: str, to_state: str,
                       now_ms: int) -> list[dict]:
    """Move every ticket of a site still in one state up to a local day into another, flagged automatic."""
    extra = ", finished_at = :now" if to_state == "finished" else ""
    return _all(db, f"UPDATE tickets SET status = :to, closed_at = :now, automatic = :auto {extra} "
                    "WHERE site_id = :site AND status = :from AND day <= :day RETURNING *",
                {"to": to_state, "now": now_ms, "site": site_id, "from": from_state,
                 "day": up_to_day, "auto": True})


def open_ticket_days(db: Database) -> list[dict]:
    """Return each (site, local day) with tickets still waiting, called or in service, and how many.

    Each half reads one partial index, which holds only open tickets (the waiting ones, and
    at most one called or in service per desk), never the sites' history: filtered by
    site, SQLite would read every ticket of the site instead.
    """
    return _all(db, "SELECT site_id, day, count(*) AS open FROM ("
                    "  SELECT site_id, day FROM tickets WHERE status = 'waiting' "
                    "  UNION ALL "
                    "  SELECT site_id, day FROM tickets WHERE status IN ('called', 'serving')"
                    ") AS o GROUP BY site_id, day")


def count_open_tickets(db: Database, site_id: int, up_to_day: str) -> dict[str, int]:
    """Count a site's tickets up to a local day still waiting, called or in service."""
    row = db.execute("SELECT count(*) FILTER (WHERE status = 'waiting'), "
                     "count(*) FILTER (WHERE status = 'called'), "
                     "count(*) FILTER (WHERE status = 'serving') FROM tickets "
                     "WHERE site_id = ? AND day <= ? AND status IN ('waiting', 'called', 'serving')",
                     [site_id, up_to_day]).fetchone()
    return {"waiting": row[0], "called": row[1], "serving": row[2]}


def policy_state(db: Database, site_id: int) -> dict:
    """Return the priority policy's state at a site."""
    row = _one(db, "SELECT state FROM policy_state WHERE site_id = ?", [site_id])
    return json.loads(row["state"]) if row else {}


def set_policy_state(db: Database, site_id: int, state: dict) -> None:
    """Store the priority policy's state at a site."""
    db.execute("INSERT INTO policy_state (site_id, state) VALUES (?, ?) "
               "ON CONFLICT (site_id) DO UPDATE SET state = excluded.state",
               [site_id, json.dumps(state)])


# --- desk sessions ---------------------------------------------------------

def open_session(db: Database, desk_id: int) -> dict | None:
    """Return the open session of a desk, if any."""
    return _one(db, "SELECT s.*, u.username, u.display_name FROM desk_sessions s "
                    "JOIN users u ON u.id = s.user_id WHERE s.desk_id = ? AND s.ended_at IS NULL",
                [desk_id])


def session_of_user(db: Database, user_id: int) -> dict | None:
    """Return the open desk session of a user, if any."""
    return _one(db, "SELECT * FROM desk_sessions WHERE user_id = ? AND ended_at IS NULL", [user_id])


def start_session(db: Database, desk_id: int, user_id: int, now_ms: int) -> dict:
    """Open a desk session (unique indexes refuse a second holder)."""
    return dict(db.execute("INSERT INTO desk_sessions (desk_id, user_id, started_at) "
                           "VALUES (?, ?, ?) RETURNING *", [desk_id, user_id, now_ms]).fetchone())


def end_session(db: Database, session_id: int, now_ms: int, reason: str) -> None:
    """Close a desk session and any pause left open in it."""
    db.execute("UPDATE desk_pauses SET ended_at = ? WHERE session_id = ? AND ended_at IS NULL",
               [now_ms, session_id])
    db.execute("UPDATE desk_sessions SET ended_at = ?, end_reason = ? WHERE id = ? "
               "AND ended_at IS NULL", [now_ms, reason, session_id])


def open_sessions_of_site(db: Database, site_id: int, started_before: int) -> list[dict]:
    """Return the open desk sessions of a site started before a time."""
    return _all(db, "SELECT s.* FROM desk_sessions s JOIN desks d ON d.id = s.desk_id "
                    "WHERE d.site_id = ? AND s.ended_at IS NULL AND s.started_at < ?",
                [site_id, started_before])


def desk_paused(db: Database, desk_id: int) -> bool:
    """Tell whether a desk's open session is paused."""
    row = _one(db, "SELECT 1 AS paused FROM desk_sessions s JOIN desk_pauses p ON p.session_id = s.id "
                   "WHERE s.desk_id = ? AND s.ended_at IS NULL AND p.ended_at IS NULL", [desk_id])
    return row is not None


def open_pause(db: Database, session_id: int) -> dict | None:
    """Return the open pause of a desk session, if any."""
    return _one(db, "SELECT * FROM desk_pauses WHERE session_id = ? AND ended_at IS NULL",
                [session_id])


def start_pause(db: Database, session_id: int, reason: str, now_ms: int) -> dict:
    """Open a pause in a desk session."""
    return dict(db.execute("INSERT INTO desk_pauses (session_id, reason, started_at) "
                           "VALUES (?, ?, ?) RETURNING *", [session_id, reason, now_ms]).fetchone())


def end_pause(db: Database, session_id: int, now_ms: int) -> dict | None:
    """Close the open pause of a desk session; return it, or None."""
    return _one(db, "UPDATE desk_pauses SET ended_at = ? WHERE session_id = ? AND ended_at IS NULL "
                    "RETURNING *", [now_ms, session_id])


# --- audit -----------------------------------------------------------------

def audit(db: Database, at: int, user_id: int | None, action: str, target: str = "",
          detail: dict | None = None) -> None:
    """Append an entry to the administrative audit log."""
    db.execute("INSERT INTO audit_log (at, user_id, action, target, detail) VALUES (?, ?, ?, ?, ?)",
               [at, user_id, action, target, json.dumps(detail or {}, ensure_ascii=False)])


def audit_entries(db: Database, limit: int = 200) -> list[dict]:
    """Return the newest audit entries with the username."""
    return _all(db, "SELECT a.*, u.username FROM audit_log a LEFT JOIN users u ON u.id = a.user_id "
                    "ORDER BY a.at DESC, a.id DESC LIMIT ?", [limit])


# --- desk ---

def desk_line(db: Database, *, site_id: int, desk_id: int, day: str, order_by: str,
              order_params: dict, limit: int) -> list[dict]:
    """Return the waiting tickets a desk could call, in a priority plan's order."""
    params = {"site": site_id, "desk": desk_id, "day": day, "limit": limit}
    params.update(order_params)
    return _all(db, "SELECT t.* FROM tickets t "
                    "JOIN desk_services ds ON ds.service_id = t.service_id AND ds.desk_id = :desk "
                    "WHERE t.site_id = :site AND t.status = 'waiting' AND t.day = :day AND t.arrived "
                    f"ORDER BY {order_by} LIMIT :limit", params)


def count_desk_line(db: Database, *, site_id: int, desk_id: int, day: str) -> int:
    """Count the waiting tickets a desk could call."""
    return db.execute("SELECT count(*) FROM tickets t "
                      "JOIN desk_services ds ON ds.service_id = t.service_id AND ds.desk_id = ? "
                      "WHERE t.site_id = ? AND t.status = 'waiting' AND t.day = ? AND t.arrived",
                      [desk_id, site_id, day]).fetchone()[0]


def latest_session_of_user(db: Database, user_id: int) -> dict | None:
    """Return a user's most recent desk session, open or closed."""
    return _one(db, "SELECT * FROM desk_sessions WHERE user_id = ? "
                    "ORDER BY started_at DESC, id DESC LIMIT 1", [user_id])


def mark_preferential(db: Database, ticket_id: int, priority: str) -> dict | None:
    """Give a waiting general ticket a priority category; return it, or None."""
    return _one(db, "UPDATE tickets SET priority = ? WHERE id = ? AND status = 'waiting' "
                    "AND priority IS NULL RETURNING *", [priority, ticket_id])


def user_events_between(db: Database, site_id: int, user_id: int, start_ms: int, end_ms: int,
                        kinds: tuple[str, ...]) -> list[dict]:
    """Return the events a user caused at a site in [start, end), oldest first."""
    marks = ", ".join("?" for _ in kinds)
    return _all(db, "SELECT * FROM ticket_events WHERE site_id = ? AND at >= ? AND at < ? "
                    f"AND user_id = ? AND kind IN ({marks}) ORDER BY at, id",
                [site_id, start_ms, end_ms, user_id, *kinds])


def events_of_tickets(db: Database, ticket_ids: list[int]) -> list[dict]:
    """Return the events of several tickets, oldest first."""
    if not ticket_ids:
        return []
    marks = ", ".join("?" for _ in ticket_ids)
    return _all(db, f"SELECT * FROM ticket_events WHERE ticket_id IN ({marks}) ORDER BY at, id",
                list(ticket_ids))


def user_sessions_between(db: Database, user_id: int, start_ms: int, end_ms: int) -> list[dict]:
    """Return a user's desk sessions that overlap [start, end)."""
    return _all(db, "SELECT * FROM desk_sessions WHERE user_id = ? AND started_at < ? "
                    "AND (ended_at IS NULL OR ended_at > ?) ORDER BY started_at",
                [user_id, end_ms, start_ms])


def user_pauses_between(db: Database, user_id: int, start_ms: int, end_ms: int) -> list[dict]:
    """Return the pauses of a user's desk sessions that overlap [start, end)."""
    return _all(db, "SELECT p.* FROM desk_pauses p JOIN desk_sessions s ON s.id = p.session_id "
                    "WHERE s.user_id = ? AND p.started_at < ? "
                    "AND (p.ended_at IS NULL OR p.ended_at > ?) ORDER BY p.started_at",
                [user_id, end_ms, start_ms])


# --- admin ---

def _update(db: Database, table: str, row_id: int, values: dict) -> None:
    """Change some columns of one row of a table."""
    values = _flags(values)
    sets = ", ".join(f"{c} = ?" for c in values)
    db.execute(f"UPDATE {table} SET {sets} WHERE id = ?", [*values.values(), row_id])


def update_site(db: Database, site_id: int, values: dict) -> None:
    """Change some columns of a site."""
    _update(db, "sites", site_id, values)


def service_with_prefix(db: Database, site_id: int, prefix: str) -> dict | None:
    """Return the service of a site that uses a ticket prefix, if any."""
    return _one(db, "SELECT * FROM services WHERE site_id = ? AND prefix = ?", [site_id, prefix])


def update_service(db: Database, service_id: int, values: dict) -> None:
    """Change some columns of a service."""
    _update(db, "services", service_id, values)


def update_desk(db: Database, desk_id: int, values: dict) -> None:
    """Change some columns of a desk."""
    _update(db, "desks", desk_id, values)


def update_user(db: Database, user_id: int, values: dict) -> None:
    """Change some columns of a user (display name, role, active)."""
    _update(db, "users", user_id, values)
    _credentials_changed(db)


def unlock_user(db: Database, user_id: int) -> None:
    """Clear a user's failed-login count and lockout."""
    db.execute("UPDATE users SET failed_logins = 0, locked_until = NULL WHERE id = ?", [user_id])


def count_active_admins(db: Database) -> int:
    """Return how many active administrators exist."""
    return db.execute("SELECT count(*) FROM users WHERE role = 'admin' AND active").fetchone()[0]


def user_sites_map(db: Database) -> dict[int, list[int]]:
    """Return the site ids of every user that is limited to some sites."""
    out: dict[int, list[int]] = {}
    for user_id, site_id in db.execute("SELECT user_id, site_id FROM user_sites ORDER BY site_id"):
        out.setdefault(user_id, []).append(site_id)
    return out


def rename_device(db: Database, device_id: int, name: str) -> None:
    """Change a device's name."""
    db.execute("UPDATE devices SET name = ? WHERE id = ?", [name, device_id])
    _credentials_changed(db)


def search_audit(db: Database, action: str = "", limit: int = 200) -> list[dict]:
    """Return the newest audit entries whose action starts with a prefix, with the username."""
    return _all(db, "SELECT a.*, u.username FROM audit_log a LEFT JOIN users u ON u.id = a.user_id "
                    "WHERE a.action LIKE ? ESCAPE '\\' ORDER BY a.at DESC, a.id DESC LIMIT ?",
                [action.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%", limit])


def preferential_marks(db: Database, limit: int = 200) -> list[dict]:
    """Return the newest preferential marks made by officials (who, which ticket, when)."""
    return _all(db, "SELECT e.at, e.data, e.user_id, u.username, t.code, t.priority, "
                    "s.code AS site_code, d.code AS desk_code FROM ticket_events e "
                    "JOIN tickets t ON t.id = e.ticket_id JOIN sites s ON s.id = e.site_id "
                    "LEFT JOIN users u ON u.id = e.user_id LEFT JOIN desks d ON d.id = e.desk_id "
                    "WHERE e.kind = 'marked_preferential' ORDER BY e.at DESC, e.id DESC LIMIT ?",
                [limit])


def record_id_hash(db: Database, ticket_id: int, site_id: int, id_hash: str, now_ms: int) -> bool:
    """Keep the keyed hash of a citizen's ID for a ticket; False when one is already kept."""
    row = db.execute("INSERT INTO ticket_id_hashes (ticket_id, site_id, id_hash, at) "
                     "VALUES (?, ?, ?, ?) ON CONFLICT (ticket_id) DO NOTHING RETURNING ticket_id",
                     [ticket_id, site_id, id_hash, now_ms]).fetchone()
    return row is not None


def tables_referencing(db: Database, table: str) -> list[tuple[str, str, str]]:
    """Return (table, column, referenced column) of every foreign key pointing at a table."""
    return [(child, column, parent_column)
            for child, column, parent, parent_column in db.execute(db.dialect.foreign_keys).fetchall()
            if parent == table and child != table]


def _delete_with_dependants(db: Database, table: str, where: str, params: list, counts: dict,
                            depth: int = 0) -> None:
    """Delete rows and, first, every row of another table that points at them."""
    if depth > 4:
        raise RuntimeError(f"foreign keys nest too deep below {table}")
    for child, column, parent_column in tables_referencing(db, table):
        _delete_with_dependants(
            db, child, f'"{column}" IN (SELECT "{parent_column}" FROM "{table}" WHERE {where})',
            params, counts, depth + 1)
    deleted = db.execute(f'DELETE FROM "{table}" WHERE {where}', params).rowcount
    counts[table] = counts.get(table, 0) + deleted


def purge_site_before(db: Database, site_id: int, before_day: str) -> dict[str, int]:
    """Delete a site's closed visits of local days before a day, with every row that points at them."""
    counts: dict[str, int] = {}
    # Whole visits go together (a transfer's segments point at each other); a
    # visit still open, because its day was never closed, stays.
    _delete_with_dependants(
        db, "tickets", "site_id = ? AND day < ? AND visit_id NOT IN (SELECT visit_id FROM tickets "
        "WHERE site_id = ? AND day < ? AND status IN ('waiting', 'called', 'serving'))",
        [site_id, before_day, site_id, before_day], counts)
    return counts


# --- print jobs (kiosk tickets on paper) ------------------------------------

def insert_print_job(db: Database, values: dict) -> dict:
    """Record a new print job and return it."""
    values = _flags(values)
    names = list(values)
    return dict(db.execute(
        f"INSERT INTO print_jobs ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "
        "RETURNING *", [values[n] for n in names]).fetchone())


def print_job_by_id(db: Database, job_id: int) -> dict | None:
    """Return a print job by id."""
    return _one(db, "SELECT * FROM print_jobs WHERE id = ?", [job_id])


def print_job_by_uid(db: Database, uid: str) -> dict | None:
    """Return a print job by the unique id its printer agent knows it by."""
    return _one(db, "SELECT * FROM print_jobs WHERE uid = ?", [uid])


def claim_print_job(db: Database, job_id: int, now_ms: int, *,
                    from_states: tuple[str, ...] = ("pending",)) -> dict | None:
    """Mark a job as printing (one more attempt) if it is in one of the given states; return it."""
    states = ", ".join(f"'{s}'" for s in from_states)
    return _one(db, f"UPDATE print_jobs SET status = 'printing', attempts = attempts + 1, "
                    f"updated_at = ? WHERE id = ? AND status IN ({states}) RETURNING *",
                    [now_ms, job_id])


def finish_print_job(db: Database, job_id: int, values: dict) -> dict | None:
    """Record the outcome of a job still pending or printing; return it, or None if already done."""
    assignments = ", ".join(f"{k} = :{k}" for k in values)
    return _one(db, f"UPDATE print_jobs SET {assignments} WHERE id = :_id "
                    "AND status IN ('pending', 'printing') RETURNING *",
                    dict(values, _id=job_id))


def open_print_jobs(db: Database, device_id: int) -> list[dict]:
    """Return a device's jobs not yet printed or failed, oldest first."""
    return _all(db, "SELECT * FROM print_jobs WHERE device_id = ? AND status IN ('pending', 'printing') "
                    "ORDER BY id", [device_id])


def list_print_jobs(db: Database, *, site_ids: list[int] | None = None, status: str | None = None,
                    limit: int = 100) -> list[dict]:
    """Return the newest print jobs with ticket code and device name, optionally filtered."""
    where, params = [], []
    if site_ids is not None:
        where.append(f"j.site_id IN ({', '.join('?' for _ in site_ids) or 'NULL'})")
        params.extend(site_ids)
    if status is not None:
        where.append("j.status = ?")
        params.append(status)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    return _all(db, "SELECT j.*, t.code, t.status AS ticket_status, t.visit_id, s.code AS site, "
                    "d.name AS device_name FROM print_jobs j JOIN tickets t ON t.id = j.ticket_id "
                    "JOIN sites s ON s.id = j.site_id LEFT JOIN devices d ON d.id = j.device_id "
                    f"{clause} ORDER BY j.id DESC LIMIT ?", [*params, limit])


def ticket_print_jobs(db: Database, ticket_id: int) -> list[dict]:
    """Return the print jobs of one ticket, oldest first."""
    return _all(db, "SELECT * FROM print_jobs WHERE ticket_id = ? ORDER BY id", [ticket_id])


def kiosk_request(db: Database, device_id: int, request_id: str, since_ms: int) -> dict | None:
    """Return what a kiosk's recent request id already produced (a double tap), or None."""
    return _one(db, "SELECT * FROM kiosk_requests WHERE device_id = ? AND request_id = ? "
                    "AND created_at >= ?", [device_id, request_id, since_ms])


def remember_kiosk_request(db: Database, device_id: int, request_id: str, ticket_id: int,
                           job_id: int | None, now_ms: int, forget_before_ms: int) -> None:
    """Remember the ticket a kiosk request id produced, forgetting that kiosk's old ones."""
    db.execute("DELETE FROM kiosk_requests WHERE device_id = ? AND created_at < ?",
               [device_id, forget_before_ms])
    db.execute("INSERT INTO kiosk_requests (device_id, request_id, ticket_id, job_id, created_at) "
               "VALUES (?, ?, ?, ?, ?) ON CONFLICT (device_id, request_id) DO UPDATE SET "
               "ticket_id = excluded.ticket_id, job_id = excluded.job_id, "
               "created_at = excluded.created_at",
               [device_id, request_id, ticket_id, job_id, now_ms])


def printer_state(db: Database, device_id: int) -> dict | None:
    """Return the last known printer status of a kiosk."""
    return _one(db, "SELECT * FROM printer_states WHERE device_id = ?", [device_id])


def set_printer_state(db: Database, device_id: int, status: str, message: str, now_ms: int) -> None:
    """Store the last known printer status of a kiosk."""
    db.execute("INSERT INTO printer_states (device_id, status, message, updated_at) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (device_id) DO UPDATE SET status = excluded.status, "
               "message = excluded.message, updated_at = excluded.updated_at",
               [device_id, status, message, now_ms])


def printer_states(db: Database, site_ids: list[int] | None = None) -> list[dict]:
    """Return every kiosk with its last known printer status (None when never printed)."""
    where, params = "WHERE d.kind = 'kiosk' AND d.revoked_at IS NULL", []
    if site_ids is not None:
        where += f" AND d.site_id IN ({', '.join('?' for _ in site_ids) or 'NULL'})"
        params = list(site_ids)
    return _all(db, "SELECT d.id AS device_id, d.name AS device_name, d.site_id, d.config, "
                    "d.last_seen_at, p.status, p.message, p.updated_at FROM devices d "
                    f"LEFT JOIN printer_states p ON p.device_id = d.id {where} "
                    "ORDER BY d.site_id, d.name", params)


# --- print problems (issue 13: field readiness) --------------------------------

def print_problems(db: Database, *, site_ids: list[int] | None, stale_before_ms: int,
                   limit: int = 100) -> list[dict]:
    """Return failed, unconfirmed and stalled print jobs no later printed job of their ticket resolved."""
    where, params = "", []
    if site_ids is not None:
        where = f"AND j.site_id IN ({', '.join('?' for _ in site_ids) or 'NULL'}) "
        params = list(site_ids)
    return _all(db, "SELECT j.*, t.code, t.status AS ticket_status, t.visit_id, s.code AS site, "
                    "d.name AS device_name FROM print_jobs j JOIN tickets t ON t.id = j.ticket_id "
                    "JOIN sites s ON s.id = j.site_id LEFT JOIN devices d ON d.id = j.device_id "
                    "WHERE (j.status = 'failed' OR (j.status IN ('pending', 'printing') "
                    "AND j.updated_at < ?)) "
                    "AND NOT EXISTS (SELECT 1 FROM print_jobs r WHERE r.ticket_id = j.ticket_id "
                    "AND r.id > j.id AND r.status = 'printed') "
                    f"{where}ORDER BY j.id DESC LIMIT ?", [stale_before_ms, *params, limit])


# --- user preferences (issue 13: field readiness) --------------------------------

def user_preferences(db: Database, user_id: int) -> dict:
    """Return a user's own page settings (JSON object), empty when none were saved."""
    row = _one(db, "SELECT preferences FROM users WHERE id = ?", [user_id])
    return json.loads(row["preferences"] or "{}") if row else {}


def set_user_preferences(db: Database, user_id: int, preferences: dict) -> None:
    """Store a user's own page settings."""
    db.execute("UPDATE users SET preferences = ? WHERE id = ?",
               [json.dumps(preferences, sort_keys=True), user_id])


# --- display ---------------------------------------------------------------

def display_calls(db: Database, site_id: int, since_ms: int, limit: int, *,
                  service_codes: list[str] | None = None,
                  desk_codes: list[str] | None = None) -> list[dict]:
    """Return the newest call or recall of each ticket at a site, newest first, within a zone.

    A zone limits the calls to some services and/or desks (codes; empty or
    None: no limit). Each ticket appears once, with its latest call.
    """
    where = ["e.site_id = :site", "e.kind IN ('called', 'recalled')", "e.at >= :since",
             "e.id = (SELECT max(e2.id) FROM ticket_events e2 WHERE e2.ticket_id = e.ticket_id "
             "AND e2.kind IN ('called', 'recalled'))"]
    params: dict = {"site": site_id, "since": since_ms, "limit": limit}
    if service_codes:
        marks = ", ".join(f":sv{i}" for i in range(len(service_codes)))
        where.append(f"t.service_id IN (SELECT id FROM services WHERE site_id = :site "
                     f"AND code IN ({marks}))")
        params.update({f"sv{i}": c for i, c in enumerate(service_codes)})
    if desk_codes:
        marks = ", ".join(f":dk{i}" for i in range(len(desk_codes)))
        where.append(f"e.desk_id IN (SELECT id FROM desks WHERE site_id = :site "
                     f"AND code IN ({marks}))")
        params.update({f"dk{i}": c for i, c in enumerate(desk_codes)})
    return _all(db, "SELECT e.at, e.kind, t.* FROM ticket_events e "
                    "JOIN tickets t ON t.id = e.ticket_id WHERE " + " AND ".join(where) +
                    " ORDER BY e.at DESC, e.id DESC LIMIT :limit", params)


# --- evaluation (reports, ratings, monitor, estimates) -----------------------
# The KPI meanings are in shared/kpi.py; these statements only add up columns.

_REPORT_KEYS = {
    "service": "t.service_id", "desk": "t.desk_id", "official": "t.user_id",
    "priority": "t.priority", "total": "NULL",
}


def _in_list(name: str, values: list) -> tuple[str, dict]:
    """Return ``:name0, :name1, ...`` and its parameters for an IN (...) clause."""
    params = {f"{name}{i}": v for i, v in enumerate(values)}
    return ", ".join(f":{k}" for k in params) or "NULL", params


def _offset_sql(column: str, plans: dict[int, tuple]) -> tuple[str, dict]:
    """Return SQL giving a site's UTC offset (ms) at the instant in ``column``.

    ``plans`` maps a site id to ``((until_ms, offset_ms), ..., (None, offset_ms))``:
    the offset in force up to each instant (a zone without daylight saving
    has one entry). Sites sharing a plan share one branch; one plan for all
    sites needs no branch at all.
    """
    tag = column.replace(".", "_")
    params: dict = {}
    by_plan: dict[tuple, list[int]] = {}
    for site_id, plan in plans.items():
        by_plan.setdefault(tuple(plan), []).append(site_id)
    branches = []
    for n, (plan, site_ids) in enumerate(by_plan.items()):
        parts = []
        for i, (until, offset) in enumerate(plan):
            params[f"{tag}{n}v{i}"] = offset
            if until is None:
                parts.append(f"ELSE :{tag}{n}v{i}")
            else:
                params[f"{tag}{n}u{i}"] = until
                parts.append(f"WHEN {column} < :{tag}{n}u{i} THEN :{tag}{n}v{i}")
        expr = f"(CASE {' '.join(parts)} END)" if len(parts) > 1 else f":{tag}{n}v0"
        marks, site_params = _in_list(f"{tag}{n}s", site_ids)
        params.update(site_params)
        branches.append((marks, expr))
    if len(branches) == 1:
        return branches[0][1], params
    cases = " ".join(f"WHEN t.site_id IN ({marks}) THEN {expr}" for marks, expr in branches)
    return f"(CASE {cases} END)", params


def report_key_sql(dimension: str, plans: dict) -> tuple[str, dict]:
    """Return the SQL expression grouping segments by a report dimension, and its parameters."""
    if dimension == "hour":
        offset, params = _offset_sql("t.issued_at", plans)
        return f"(((t.issued_at + {offset}) % 86400000) / 3600000)", params
    return _REPORT_KEYS[dimension], {}


def report_counters(db: Database, site_ids: list[int], day_from: str, day_to: str,
                    dimension: str, plans: dict, now_ms: int, bands_ms: list[int]):
    """Yield per site, issue day, group key and service days: the additive counters of kpi.COUNTERS.

    Each row reads by name: site_id, day, k, d0, d1 (local day numbers, days
    since 1970-01-01, of the start and end of service; NULL when not started),
    then every counter of ``kpi.COUNTERS`` up to ``wait_max_ms`` and the
    service times, one ``wait_below_<minutes>`` per band edge, then serve_n,
    serve_start_sum, serve_end_sum (desk time of services that are not
    automatic closes; a service in progress ends now).
    """
    key, params = report_key_sql(dimension, plans)
    start_off, start_params = _offset_sql("t.started_at", plans)
    end_off, end_params = _offset_sql("t.ended", plans)
    sites, site_params = _in_list("site", site_ids)
    params.update(start_params, **end_params, **site_params, day_from=day_from, day_to=day_to,
                  now=now_ms)
    real = "NOT t.automatic"
    walk, centre, service = kpi.sql(kpi.WALK_SQL), kpi.sql(kpi.CENTRE_SQL), kpi.sql(kpi.SERVICE_SQL)
    counters = [
        ("issued", "count(*)"),
        ("visits", "count(*) FILTER (WHERE t.origin_id IS NULL)"),
        ("transferred_in", "count(*) FILTER (WHERE t.previous_id IS NOT NULL)"),
        ("called", "count(*) FILTER (WHERE t.called_at IS NOT NULL)"),
        ("served", f"count(*) FILTER (WHERE t.status = 'finished' AND {real})"),
        ("no_shows", f"count(*) FILTER (WHERE t.status = 'no_show' AND {real})"),
        ("abandoned", "count(*) FILTER (WHERE t.status = 'abandoned')"),
        ("cancelled", "count(*) FILTER (WHERE t.status = 'cancelled')"),
        ("transferred", "count(*) FILTER (WHERE t.status = 'transferred')"),
        ("recalls", "coalesce(sum(t.recalls), 0)"),
        ("automatic_finished", "count(*) FILTER (WHERE t.status = 'finished' AND t.automatic)"),
        ("automatic_no_shows", "count(*) FILTER (WHERE t.status = 'no_show' AND t.automatic)"),
        ("walk_ms", f"coalesce(sum({walk}) FILTER (WHERE {real}), 0)"),
        ("walk_n", f"count({walk}) FILTER (WHERE {real})"),
        ("centre_ms", f"coalesce(sum({centre}) FILTER (WHERE t.status = 'finished' AND {real}), 0)"),
        ("centre_n", f"count(t.finished_at) FILTER (WHERE t.status = 'finished' AND {real})"),
        ("wait_ms", "coalesce(sum(t.wait), 0)"),
        ("segment_wait_ms", f"coalesce(sum({kpi.sql(kpi.SEGMENT_WAIT_SQL)}), 0)"),
        ("wait_met", "count(*) FILTER (WHERE t.wait <= 1000 * t.target)"),
        ("wait_max_ms", "coalesce(max(t.wait), 0)"),
        ("service_ms", f"coalesce(sum({service}) FILTER (WHERE {real}), 0)"),
        ("service_n", f"count({service}) FILTER (WHERE {real})"),
    ]
    for i, edge in enumerate(bands_ms):
        params[f"band{i}"] = edge
        counters.append((f"wait_below_{edge // 60_000}", f"count(*) FILTER (WHERE t.wait < :band{i})"))
    counters += [
        ("serve_n", f"count(t.ended) FILTER (WHERE {real})"),
        ("serve_start_sum", f"coalesce(sum(t.started_at) FILTER (WHERE t.ended IS NOT NULL AND {real}), 0)"),
        ("serve_end_sum", f"coalesce(sum(t.ended) FILTER (WHERE {real}), 0)"),
    ]
    columns = ", ".join(f"{expression} AS {name}" for name, expression in counters)
    return db.execute(
        f"SELECT t.site_id, t.day, {key} AS k, "
        f"(t.started_at + {start_off}) / 86400000 AS d0, (t.ended + {end_off}) / 86400000 AS d1, "
        f"{columns} "
        "FROM (SELECT x.site_id, x.day, x.service_id, x.desk_id, x.user_id, x.priority, x.status, "
        "x.automatic, x.origin_id, x.previous_id, x.recalls, x.queue_at, x.issued_at, x.called_at, "
        f"x.started_at, x.finished_at, {kpi.sql(kpi.WAIT_SQL, 'x')} AS wait, "
        "coalesce(x.target_wait_seconds, sv.target_wait_seconds) AS target, "
        "CASE WHEN x.started_at IS NOT NULL THEN coalesce(x.finished_at, "
        "CASE WHEN x.status = 'serving' THEN :now END) END AS ended "
        "FROM tickets x JOIN services sv ON sv.id = x.service_id "
        f"WHERE x.site_id IN ({sites}) AND x.day BETWEEN :day_from AND :day_to) t "
        "GROUP BY t.site_id, t.day, k, d0, d1", params)


def report_times(db: Database, site_ids: list[int], day_from: str, day_to: str, plans: dict):
    """Yield every called segment of a period with its group columns, wait and service time (ms).

    Each row: site_id, day, service_id, desk_id, user_id, priority, local issue
    hour, wait (first call − arrival), service time (NULL when not served or
    closed automatically).
    """
    hour, params = report_key_sql("hour", plans)
    sites, site_params = _in_list("site", site_ids)
    params.update(site_params, day_from=day_from, day_to=day_to)
    return db.execute(
        f"SELECT t.site_id, t.day, t.service_id, t.desk_id, t.user_id, t.priority, {hour} AS hour, "
        f"{kpi.sql(kpi.WAIT_SQL)} AS wait, "
        f"CASE WHEN NOT t.automatic THEN {kpi.sql(kpi.SERVICE_SQL)} END AS service "
        f"FROM tickets t WHERE t.site_id IN ({sites}) AND t.day BETWEEN :day_from AND :day_to "
        "AND t.called_at IS NOT NULL", params)


def report_ratings(db: Database, site_ids: list[int], day_from: str, day_to: str,
                   dimension: str, plans: dict) -> list[tuple]:
    """Return per site, visit day and group key: ratings, their score sum and count per score 1..5."""
    key, params = report_key_sql(dimension, plans)
    sites, site_params = _in_list("site", site_ids)
    params.update(site_params, day_from=day_from, day_to=day_to)
    per_score = ", ".join(f"count(*) FILTER (WHERE r.score = {n})" for n in range(1, 6))
    return db.execute(
        f"SELECT t.site_id, t.day, {key} AS k, count(*), sum(r.score), {per_score} FROM ratings r "
        "JOIN tickets t ON t.id = r.ticket_id "
        f"WHERE r.site_id IN ({sites}) AND t.day BETWEEN :day_from AND :day_to "
        "GROUP BY t.site_id, t.day, k", params).fetchall()


def report_desk_time(db: Database, site_ids: list[int], start_ms: int, end_ms: int,
                     now_ms: int) -> tuple[list[dict], list[dict]]:
    """Return the desk sessions and pauses overlapping [start, end) (open ones end now)."""
    sites, params = _in_list("site", site_ids)
    params.update(start=start_ms, end=end_ms, now=now_ms)
    sessions = _all(db, "SELECT d.site_id, s.desk_id, s.user_id, s.started_at, "
                        "coalesce(s.ended_at, :now) AS ended_at FROM desk_sessions s "
                        f"JOIN desks d ON d.id = s.desk_id WHERE d.site_id IN ({sites}) "
                        "AND s.started_at < :end AND coalesce(s.ended_at, :now) > :start", params)
    pauses = _all(db, "SELECT d.site_id, s.desk_id, s.user_id, p.started_at, "
                      "coalesce(p.ended_at, s.ended_at, :now) AS ended_at FROM desk_pauses p "
                      "JOIN desk_sessions s ON s.id = p.session_id JOIN desks d ON d.id = s.desk_id "
                      f"WHERE d.site_id IN ({sites}) AND p.started_at < :end "
                      "AND coalesce(p.ended_at, s.ended_at, :now) > :start", params)
    return sessions, pauses


def open_work_horizon(db: Database, site_ids: list[int]) -> dict[int, dict]:
    """Return per site the first local day with an open ticket and the oldest open session start."""
    sites, params = _in_list("site", site_ids)
    out: dict[int, dict] = {s: {"open_day": None, "open_session_ms": None} for s in site_ids}
    for site_id, day in db.execute(
            "SELECT site_id, min(day) FROM tickets WHERE status IN ('waiting', 'called', 'serving') "
            f"AND site_id IN ({sites}) GROUP BY site_id", params):
        out[site_id]["open_day"] = day
    for site_id, started in db.execute(
            "SELECT d.site_id, min(s.started_at) FROM desk_sessions s JOIN desks d ON d.id = s.desk_id "
            f"WHERE s.ended_at IS NULL AND d.site_id IN ({sites}) GROUP BY d.site_id", params):
        out[site_id]["open_session_ms"] = started
    return out


def report_partials(db: Database, site_ids: list[int], dimension: str, day_from: str,
                    day_to: str):
    """Return the stored partial reports (site_id, day, timezone, data) of sealed days.

    The rows come as the cursor reads them (a year's are hundreds of megabytes of text).
    """
    sites, params = _in_list("site", site_ids)
    params.update(dimension=dimension, day_from=day_from, day_to=day_to)
    return db.execute(f"SELECT site_id, day, timezone, data FROM report_partials "
                      f"WHERE site_id IN ({sites}) AND dimension = :dimension "
                      "AND day BETWEEN :day_from AND :day_to", params)


def save_report_partials(db: Database, rows: list[tuple]) -> None:
    """Store partial reports: (site_id, day, dimension, timezone, data, built_at) rows."""
    db.executemany("INSERT INTO report_partials (site_id, day, dimension, timezone, data, built_at) "
                   "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site_id, dimension, day) DO UPDATE SET "
                   "timezone = excluded.timezone, data = excluded.data, built_at = excluded.built_at",
                   rows)


def month_partials(db: Database, site_ids: list[int], dimension: str, months: list[str]):
    """Return the stored month roll-ups (site_id, month, timezone, data) of some months, as read."""
    sites, params = _in_list("site", site_ids)
    marks, month_params = _in_list("month", months)
    params.update(month_params, dimension=dimension)
    return db.execute(f"SELECT site_id, month, timezone, data FROM report_month_partials "
                      f"WHERE site_id IN ({sites}) AND dimension = :dimension "
                      f"AND month IN ({marks})", params)


def save_month_partials(db: Database, rows: list[tuple]) -> None:
    """Store month roll-ups: (site_id, month, dimension, timezone, data, built_at) rows."""
    for row in rows:
        db.execute("INSERT INTO report_month_partials (site_id, month, dimension, timezone, data, "
                   "built_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site_id, dimension, month) "
                   "DO UPDATE SET timezone = excluded.timezone, data = excluded.data, "
                   "built_at = excluded.built_at", list(row))


def forget_month_partials(db: Database, site_id: int, month: str) -> None:
    """Drop a site's month roll-ups (a day of the month is being sealed again)."""
    db.execute("DELETE FROM report_month_partials WHERE site_id = ? AND month = ?", [site_id, month])


def sealed_days(db: Database, site_ids: list[int], day_from: str, day_to: str) -> set[tuple]:
    """Return the (site_id, day) pairs of a period whose figures are sealed."""
    sites, params = _in_list("site", site_ids)
    params.update(day_from=day_from, day_to=day_to)
    return {(r[0], r[1]) for r in db.execute(
        f"SELECT site_id, day FROM sealed_days WHERE site_id IN ({sites}) "
        "AND day BETWEEN :day_from AND :day_to", params)}


def is_day_sealed(db: Database, site_id: int, day: str) -> bool:
    """Tell whether a site's day has sealed figures."""
    return db.execute("SELECT 1 FROM sealed_days WHERE site_id = ? AND day = ?",
                      [site_id, day]).fetchone() is not None


def seal_days(db: Database, rows: list[tuple], *, again: bool = False) -> set[tuple]:
    """Record sealed days: (site_id, day, sealed_at, user_id, reason) rows; return the pairs recorded.

    A day already sealed is left as it was sealed (another run sealed it meanwhile: the
    end of the day started on two machines), unless ``again`` (an audited reseal)
    records it anew.
    """
    conflict = ("DO UPDATE SET sealed_at = excluded.sealed_at, user_id = excluded.user_id, "
                "reason = excluded.reason") if again else "DO NOTHING"
    recorded = set()
    for row in rows:
        got = db.execute("INSERT INTO sealed_days (site_id, day, sealed_at, user_id, reason) "
                         f"VALUES (?, ?, ?, ?, ?) ON CONFLICT (site_id, day) {conflict} "
                         "RETURNING site_id, day", list(row)).fetchone()
        if got is not None:
            recorded.add((got[0], got[1]))
    return recorded


def count_sealed_days(db: Database, site_id: int, day_from: str, day_to: str) -> int:
    """Count a site's sealed days in a period."""
    return db.execute("SELECT count(*) FROM sealed_days WHERE site_id = ? AND day BETWEEN ? AND ?",
                      [site_id, day_from, day_to]).fetchone()[0]


def export_segments(db: Database, site_ids: list[int], day_from: str, day_to: str):
    """Return a cursor over every segment of the period, with names, in issue order."""
    sites, params = _in_list("site", site_ids)
    params.update(day_from=day_from, day_to=day_to)
    return db.execute(
        "SELECT s.code AS site, t.day, t.id, t.code, sv.code AS service, sv.name AS service_name, "
        "t.priority, t.status, t.automatic, t.issued_at, t.called_at, t.recalls, t.started_at, "
        "t.finished_at, t.closed_at, d.code AS desk, u.username AS official, t.origin_id, "
        "t.previous_id, t.queue_at, t.target_wait_seconds, t.outcome, r.score, s.timezone "
        "FROM tickets t JOIN sites s ON s.id = t.site_id JOIN services sv ON sv.id = t.service_id "
        "LEFT JOIN desks d ON d.id = t.desk_id LEFT JOIN users u ON u.id = t.user_id "
        "LEFT JOIN ratings r ON r.ticket_id = t.id "
        f"WHERE t.site_id IN ({sites}) AND t.day BETWEEN :day_from AND :day_to "
        "ORDER BY t.site_id, t.day, t.id", params)


def export_events(db: Database, site_ids: list[int], day_from: str, day_to: str):
    """Return a cursor over every event of the period's segments, with names, in time order."""
    sites, params = _in_list("site", site_ids)
    params.update(day_from=day_from, day_to=day_to)
    return db.execute(
        "SELECT s.code AS site, t.day, t.code, e.ticket_id, sv.code AS service, e.kind, e.at, "
        "d.code AS desk, u.username AS official, e.data, s.timezone "
        "FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id JOIN sites s ON s.id = t.site_id "
        "JOIN services sv ON sv.id = e.service_id LEFT JOIN desks d ON d.id = e.desk_id "
        "LEFT JOIN users u ON u.id = e.user_id "
        f"WHERE t.site_id IN ({sites}) AND t.day BETWEEN :day_from AND :day_to "
        "ORDER BY t.site_id, e.at, e.id", params)


def insert_rating(db: Database, ticket: dict, score: int, comment: str, channel: str,
                  device_id: int | None, now_ms: int) -> dict:
    """Store a visit's rating (it belongs to the day of the visit it rates)."""
    row = dict(db.execute(
        "INSERT INTO ratings (visit_id, ticket_id, site_id, day, desk_id, score, comment, channel, "
        "device_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        [ticket["visit_id"], ticket["id"], ticket["site_id"], ticket["day"], ticket["desk_id"],
         score, comment, channel, device_id, now_ms]).fetchone())
    return row


def rating_of_visit(db: Database, visit_id: str) -> dict | None:
    """Return the rating of a visit, if it was rated."""
    return _one(db, "SELECT * FROM ratings WHERE visit_id = ?", [visit_id])


def desks_for_estimate(db: Database, site_id: int) -> list[dict]:
    """Return a site's active desks with their service ids in order, holder and open pause."""
    desks = _all(db, "SELECT d.id, d.code, s.id AS session_id, p.id IS NOT NULL AS paused, "
                     "p.reason AS pause_reason, p.started_at AS paused_at FROM desks d "
                     "LEFT JOIN desk_sessions s ON s.desk_id = d.id AND s.ended_at IS NULL "
                     "LEFT JOIN desk_pauses p ON p.session_id = s.id AND p.ended_at IS NULL "
                     "WHERE d.site_id = ? AND d.active ORDER BY d.id", [site_id])
    services: dict[int, list[int]] = {}
    for desk_id, service_id in db.execute(
            "SELECT ds.desk_id, ds.service_id FROM desk_services ds JOIN desks d ON d.id = ds.desk_id "
            "WHERE d.site_id = ? ORDER BY ds.desk_id, ds.position", [site_id]):
        services.setdefault(desk_id, []).append(service_id)
    for desk in desks:
        desk["services"] = services.get(desk["id"], [])
    return desks


def recent_handling_ms(db: Database, service_ids: list[int], since_ms: int,
                       limit: int) -> dict[int, list[int]]:
    """Return each service's latest desk handling times (close − first call, ms), no automatic closes."""
    times: dict[int, list[int]] = {service_id: [] for service_id in service_ids}
    for service_id, ms in _each_limited(db, [
            ("SELECT service_id, closed_at - called_at AS ms FROM tickets WHERE service_id = ? "
             "AND called_at IS NOT NULL AND status IN ('finished', 'no_show', 'transferred') "
             "AND closed_at >= ? AND NOT automatic ORDER BY closed_at DESC LIMIT ?",
             [service_id, since_ms, limit]) for service_id in service_ids]):
        times[service_id].append(ms)
    return times


def visits_today(db: Database, site_id: int, day: str) -> int:
    """Return how many tickets a site printed on a local day (its services' day counters)."""
    return db.execute("SELECT coalesce(sum(c.last_number), 0) FROM day_counters c "
                      "JOIN services s ON s.id = c.service_id WHERE s.site_id = ? AND c.day = ?",
                      [site_id, day]).fetchone()[0]


def first_issue_since(db: Database, site_id: int, since_ms: int) -> int | None:
    """Return when a site's first ticket since an instant was issued (ms), or None."""
    row = db.execute("SELECT issued_at FROM tickets WHERE site_id = ? AND issued_at >= ? "
                     "ORDER BY issued_at LIMIT 1", [site_id, since_ms]).fetchone()
    return row[0] if row else None


def latest_arrivals(db: Database, site_id: int, since_ms: int, until_ms: int,
                    limit: int) -> list[tuple]:
    """Return the latest segments that joined a line in [since, until): (service, preferential, at)."""
    return [tuple(r) for r in db.execute(
        "SELECT service_id, priority IS NOT NULL, issued_at FROM tickets WHERE site_id = ? "
        "AND issued_at >= ? AND issued_at < ? ORDER BY issued_at DESC LIMIT ?",
        [site_id, since_ms, until_ms, limit])]


_LINES = {  # the lines of shared.priority.LINES: who may be called, in arrival order
    "p": "priority IS NOT NULL",
    "g": "priority IS NULL AND channel <> 'appointment'",
    "a": "priority IS NULL AND channel = 'appointment'",
}


def line_heads(db: Database, service_ids: list[int], day: str,
               limit: int) -> dict[tuple[int, str], list[dict]]:
    """Return the first callable tickets of every line (``shared.priority.LINES``) of some services.

    Keyed by (service id, line), in calling order. Tickets from a phone whose
    citizen has not confirmed arrival are not in any line.
    """
    heads: dict[tuple[int, str], list[dict]] = {(s, line): [] for s in service_ids for line in _LINES}
    for row in _each_limited(db, [
            (f"SELECT *, '{line}' AS head_line FROM tickets WHERE service_id = ? AND day = ? "
             f"AND status = 'waiting' AND {condition} AND arrived ORDER BY queue_at, id LIMIT ?",
             [service_id, day, limit])
            for service_id in service_ids for line, condition in _LINES.items()]):
        ticket = dialect.as_dict(row)
        heads[(ticket["service_id"], ticket.pop("head_line"))].append(ticket)
    for rows in heads.values():
        rows.sort(key=lambda t: (t["queue_at"], t["id"]))
    return heads


def shared_open_desks_for_service(db: Database, service_id: int) -> float:
    """Count the open, unpaused desks serving a service, a desk of k services as 1/k."""
    return sum(1.0 / r[0] for r in db.execute(
        "SELECT (SELECT count(*) FROM desk_services o WHERE o.desk_id = ds.desk_id) "
        "FROM desk_services ds JOIN desk_sessions s ON s.desk_id = ds.desk_id "
        "AND s.ended_at IS NULL WHERE ds.service_id = ? AND NOT EXISTS (SELECT 1 FROM desk_pauses p "
        "WHERE p.session_id = s.id AND p.ended_at IS NULL)", [service_id]))


def recent_estimate_outcomes(db: Database, site_id: int, since_ms: int,
                             limit: int) -> list[tuple[int, int]]:
    """Return (estimate at issue, real wait) in ms of a site's latest called tickets."""
    return [(r[0], r[1]) for r in db.execute(
        f"SELECT estimated_wait_ms, {kpi.sql(kpi.SEGMENT_WAIT_SQL, 'tickets')} FROM tickets "
        "WHERE site_id = ? "
        "AND called_at IS NOT NULL AND estimated_wait_ms IS NOT NULL AND called_at >= ? "
        "ORDER BY called_at DESC LIMIT ?", [site_id, since_ms, limit])]


def visits_between(db: Database, site_id: int, windows: list[tuple[int, int]]) -> list[dict[int, int]]:
    """Return, for each [start, end) window, how many visits each service received."""
    out = []
    for start, end in windows:
        out.append({r[0]: r[1] for r in db.execute(
            "SELECT service_id, count(*) FROM tickets WHERE site_id = ? AND issued_at >= ? "
            "AND issued_at < ? AND origin_id IS NULL GROUP BY service_id", [site_id, start, end])})
    return out


def monitor_desks(db: Database, site_id: int, day: str) -> list[dict]:
    """Return a site's desks with holder, open pause, last resume, today's served count and last close."""
    desks = _all(db, "SELECT d.id, d.code, d.name, d.active, s.started_at AS session_started_at, "
                     "u.username, u.display_name, p.reason AS pause_reason, "
                     "p.started_at AS paused_at, (SELECT max(q.ended_at) FROM desk_pauses q "
                     "WHERE q.session_id = s.id) AS resumed_at FROM desks d "
                     "LEFT JOIN desk_sessions s ON s.desk_id = d.id AND s.ended_at IS NULL "
                     "LEFT JOIN users u ON u.id = s.user_id "
                     "LEFT JOIN desk_pauses p ON p.session_id = s.id AND p.ended_at IS NULL "
                     "WHERE d.site_id = ? ORDER BY length(d.code), d.code", [site_id])
    today = {r[0]: (r[1], r[2]) for r in db.execute(
        "SELECT desk_id, count(*) FILTER (WHERE status = 'finished'), max(closed_at) FROM tickets "
        "WHERE site_id = ? AND day = ? AND desk_id IS NOT NULL GROUP BY desk_id", [site_id, day])}
    for desk in desks:
        desk["served_today"], desk["last_closed_at"] = today.get(desk["id"], (0, None))
    return desks


def arrival_profile(db: Database, site_id: int, since_ms: int, until_ms: int,
                    offset_ms: int) -> tuple[int, dict[tuple[int, bool, int], int]]:
    """Return how many days had tickets in [since, until) and the arrivals per line and local hour."""
    days = db.execute("SELECT count(DISTINCT day) FROM tickets WHERE site_id = ? AND issued_at >= ? "
                      "AND issued_at < ?", [site_id, since_ms, until_ms]).fetchone()[0]
    counts = {(r[0], bool(r[1]), r[2]): r[3] for r in db.execute(
        "SELECT service_id, priority IS NOT NULL, ((issued_at + ?) % 86400000) / 3600000, count(*) "
        "FROM tickets WHERE site_id = ? AND issued_at >= ? AND issued_at < ? GROUP BY 1, 2, 3",
        [offset_ms, site_id, since_ms, until_ms])}
    return days, counts


def rating_comments(db: Database, site_ids: list[int], day_from: str, day_to: str,
                    limit: int = 20) -> list[dict]:
    """Return the newest rating comments of a period, with the service and desk they were about."""
    sites, params = _in_list("site", site_ids)
    params.update(day_from=day_from, day_to=day_to, limit=limit)
    return _all(db, "SELECT r.score, r.comment, r.created_at, r.day, sv.name AS service_name, "
                    "d.name AS desk_name, s.timezone FROM ratings r "
                    "JOIN tickets t ON t.id = r.ticket_id JOIN services sv ON sv.id = t.service_id "
                    "JOIN sites s ON s.id = r.site_id LEFT JOIN desks d ON d.id = r.desk_id "
                    f"WHERE r.site_id IN ({sites}) AND r.day BETWEEN :day_from AND :day_to "
                    "AND r.comment != '' ORDER BY r.created_at DESC LIMIT :limit", params)


# --- login throttle (issue 14): failed logins per source, never a locked account ----------

def login_throttle(db: Database, source: str) -> dict | None:
    """Return the failed-login record of one source (an address and account, or a browser)."""
    return _one(db, "SELECT * FROM login_throttle WHERE source = ?", [source])


def record_login_failure_of(db: Database, source: str, username: str, address: str, failures: int,
                            now_ms: int, blocked_until: int | None) -> None:
    """Store a source's failed-login count after one more failure, and how long it is held back."""
    db.execute("INSERT INTO login_throttle (source, username, address, failures, first_failed_at, "
               "last_failed_at, blocked_until) VALUES (?, ?, ?, ?, ?, ?, ?) "
               "ON CONFLICT (source) DO UPDATE SET failures = excluded.failures, "
               "last_failed_at = excluded.last_failed_at, blocked_until = excluded.blocked_until, "
               "first_failed_at = CASE WHEN excluded.failures = 1 THEN excluded.first_failed_at "
               "ELSE login_throttle.first_failed_at END",
               [source, username, address, failures, now_ms, now_ms, blocked_until])


def clear_login_failures(db: Database, source: str) -> None:
    """Forget a source's failed logins (it just logged in)."""
    db.execute("DELETE FROM login_throttle WHERE source = ?", [source])


def clear_login_failures_of_user(db: Database, username: str) -> int:
    """Forget every source's failed logins for an account (an administrator lifted them)."""
    return db.execute("DELETE FROM login_throttle WHERE username = ?", [username]).rowcount


def login_failures_of_user(db: Database, username: str, since_ms: int) -> list[dict]:
    """Return the sources that failed to log in as an account since a time, newest first."""
    return _all(db, "SELECT * FROM login_throttle WHERE username = ? AND last_failed_at >= ? "
                    "ORDER BY last_failed_at DESC", [username, since_ms])


def held_back_logins(db: Database, now_ms: int) -> list[dict]:
    """Return the sources held back right now, with the account they tried, newest first."""
    return _all(db, "SELECT t.*, u.id AS user_id FROM login_throttle t "
                    "LEFT JOIN users u ON u.username = t.username "
                    "WHERE t.blocked_until > ? ORDER BY t.last_failed_at DESC", [now_ms])


# --- media (files every process serves) ------------------------------------------------------

def put_media(db: Database, key: str, content_type: str, data: bytes, now_ms: int) -> None:
    """Keep a file under a key naming its content (the same key twice keeps one)."""
    db.execute("INSERT INTO media (key, content_type, data, created_at) VALUES (?, ?, ?, ?) "
               "ON CONFLICT (key) DO NOTHING", [key, content_type, data, now_ms])


def media(db: Database, key: str) -> dict | None:
    """Return a kept file by key."""
    return _one(db, "SELECT key, content_type, data FROM media WHERE key = ?", [key])


def drop_media(db: Database, key: str) -> None:
    """Forget a kept file."""
    db.execute("DELETE FROM media WHERE key = ?", [key])


# --- channels: appointments, tickets from a phone, notifications, public wait times --------
# (shared/channels.py, shared/appointments.py, shared/remote.py, shared/notify.py,
#  shared/publicwaits.py)

def site_channels(db: Database, site_id: int) -> dict | None:
    """Return a site's channel settings row (config JSON, entrance token), or None."""
    return _one(db, "SELECT * FROM site_channels WHERE site_id = ?", [site_id])


def set_site_channels(db: Database, site_id: int, config: str) -> None:
    """Store a site's channel settings (JSON)."""
    db.execute("INSERT INTO site_channels (site_id, config) VALUES (?, ?) "
               "ON CONFLICT (site_id) DO UPDATE SET config = excluded.config", [site_id, config])


def set_entrance_token(db: Database, site_id: int, token: str) -> None:
    """Store the secret of a site's entrance QR."""
    db.execute("UPDATE site_channels SET entrance_token = ? WHERE site_id = ?", [token, site_id])


def sites_with_channels(db: Database) -> list[dict]:
    """Return every site that has channel settings, with them."""
    return _all(db, "SELECT s.*, c.config, c.entrance_token FROM sites s "
                    "JOIN site_channels c ON c.site_id = s.id ORDER BY s.name")


def desks_serving(db: Database, service_id: int) -> int:
    """Count the active desks that serve a service."""
    return db.execute("SELECT count(*) FROM desk_services ds JOIN desks d ON d.id = ds.desk_id "
                      "WHERE ds.service_id = ? AND d.active", [service_id]).fetchone()[0]


def booked_per_slot(db: Database, service_id: int, start_ms: int, end_ms: int) -> dict[int, int]:
    """Return how many live appointments each slot start of a service holds in [start, end)."""
    return {r[0]: r[1] for r in db.execute(
        "SELECT slot_at, count(*) FROM appointments WHERE service_id = ? AND slot_at >= ? "
        "AND slot_at < ? AND status <> 'cancelled' GROUP BY slot_at",
        [service_id, start_ms, end_ms])}


def insert_appointment(db: Database, values: dict) -> dict:
    """Insert an appointment and return it."""
    names = list(values)
    return dict(db.execute(
        f"INSERT INTO appointments ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "
        "RETURNING *", [values[n] for n in names]).fetchone())


def appointment_by_code(db: Database, code: str) -> dict | None:
    """Return an appointment by its code."""
    return _one(db, "SELECT * FROM appointments WHERE code = ?", [code])


def appointment_by_ticket(db: Database, ticket_id: int) -> dict | None:
    """Return the appointment a ticket was checked in from, if any."""
    return _one(db, "SELECT * FROM appointments WHERE ticket_id = ?", [ticket_id])


def live_appointment_of(db: Database, service_id: int, id_hash: str, since_ms: int) -> dict | None:
    """Return a person's booked appointment for a service from an instant on (by the keyed ID hash)."""
    return _one(db, "SELECT * FROM appointments WHERE service_id = ? AND id_hash = ? "
                    "AND status = 'booked' AND slot_at >= ? LIMIT 1", [service_id, id_hash, since_ms])


def change_appointment(db: Database, appointment_id: int, from_states: tuple[str, ...],
                       sets: dict) -> dict | None:
    """Change an appointment only if it is in one of the given states; return it, or None."""
    assignments = ", ".join(f"{k} = :{k}" for k in sets)
    states = ", ".join(f"'{s}'" for s in from_states)
    return _one(db, f"UPDATE appointments SET {assignments} WHERE id = :_id AND status IN ({states}) "
                    "RETURNING *", dict(sets, _id=appointment_id))


def overdue_appointments(db: Database, before_ms: int, limit: int = 500) -> list[dict]:
    """Return booked appointments whose slot started before an instant (check-in closed for them)."""
    return _all(db, "SELECT * FROM appointments WHERE status = 'booked' AND slot_at < ? "
                    "ORDER BY slot_at LIMIT ?", [before_ms, limit])


def appointments_of_site_day(db: Database, site_id: int, day: str) -> list[dict]:
    """Return a site's appointments of a local day, by slot."""
    return _all(db, "SELECT * FROM appointments WHERE site_id = ? AND day = ? ORDER BY slot_at, id",
                [site_id, day])


def booked_between(db: Database, site_id: int, start_ms: int, end_ms: int) -> dict[int, int]:
    """Return per service the appointments still booked with a slot in [start, end)."""
    return {r[0]: r[1] for r in db.execute(
        "SELECT service_id, count(*) FROM appointments WHERE site_id = ? AND slot_at >= ? "
        "AND slot_at < ? AND status = 'booked' GROUP BY service_id", [site_id, start_ms, end_ms])}


def appointment_show_rate(db: Database, site_id: int, since_ms: int, until_ms: int) -> tuple[int, int]:
    """Return (appointments whose slot passed in [since, until), how many of them checked in)."""
    row = db.execute("SELECT count(*) FILTER (WHERE status IN ('checked_in', 'no_show')), "
                     "count(*) FILTER (WHERE status = 'checked_in') FROM appointments "
                     "WHERE site_id = ? AND slot_at >= ? AND slot_at < ?",
                     [site_id, since_ms, until_ms]).fetchone()
    return row[0], row[1]


def walk_in_visits_between(db: Database, site_id: int,
                           windows: list[tuple[int, int]]) -> list[dict[int, int]]:
    """Return, for each [start, end) window, the visits each service received not by appointment."""
    out = []
    for start, end in windows:
        out.append({r[0]: r[1] for r in db.execute(
            "SELECT service_id, count(*) FROM tickets WHERE site_id = ? AND issued_at >= ? "
            "AND issued_at < ? AND origin_id IS NULL AND channel <> 'appointment' "
            "GROUP BY service_id", [site_id, start, end])})
    return out


def ticket_by_checkin_code(db: Database, code: str) -> dict | None:
    """Return the ticket from a phone that an arrival code names."""
    return _one(db, "SELECT * FROM tickets WHERE checkin_code = ?", [code])


def confirm_arrival(db: Database, ticket_id: int, now_ms: int) -> dict | None:
    """Mark a waiting ticket from a phone as arrived (callable from now on); return it, or None."""
    return _one(db, "UPDATE tickets SET arrived = :yes, arrived_at = :now WHERE id = :id "
                    "AND status = 'waiting' AND NOT arrived RETURNING *",
                    {"yes": True, "now": now_ms, "id": ticket_id})


def awaiting_arrival(db: Database, site_id: int, day: str) -> list[dict]:
    """Return a site's waiting tickets from phones whose citizens have not confirmed arrival."""
    return _all(db, "SELECT * FROM tickets WHERE site_id = ? AND day = ? AND status = 'waiting' "
                    "AND NOT arrived ORDER BY queue_at, id", [site_id, day])


def first_passed_at(db: Database, ticket: dict) -> int | None:
    """Return when a ticket of its service that arrived after this one was first called."""
    return db.execute("SELECT min(called_at) FROM tickets WHERE service_id = ? AND day = ? "
                      "AND called_at IS NOT NULL AND queue_at > ?",
                      [ticket["service_id"], ticket["day"], ticket["queue_at"]]).fetchone()[0]


def abandon_unconfirmed(db: Database, ticket_id: int, now_ms: int) -> dict | None:
    """Close a ticket from a phone never confirmed (abandoned, automatic); return it, or None."""
    return _one(db, "UPDATE tickets SET status = 'abandoned', closed_at = :now, automatic = :yes "
                    "WHERE id = :id AND status = 'waiting' AND NOT arrived RETURNING *",
                    {"now": now_ms, "yes": True, "id": ticket_id})


def count_remote_taken(db: Database, device: str, site_id: int, day: str) -> int:
    """Return how many tickets a phone took at a site on a local day."""
    row = db.execute("SELECT taken FROM remote_takers WHERE device = ? AND site_id = ? AND day = ?",
                     [device, site_id, day]).fetchone()
    return row[0] if row else 0


def add_remote_taken(db: Database, device: str, site_id: int, day: str) -> int:
    """Count one more ticket taken by a phone at a site on a local day; return the count."""
    return db.execute(
        "INSERT INTO remote_takers (device, site_id, day, taken) VALUES (?, ?, ?, 1) "
        "ON CONFLICT (device, site_id, day) DO UPDATE SET taken = remote_takers.taken + 1 "
        "RETURNING taken", [device, site_id, day]).fetchone()[0]


def forget_remote_takers(db: Database, before_day: str) -> None:
    """Drop the per-phone counts of days before a local day."""
    db.execute("DELETE FROM remote_takers WHERE day < ?", [before_day])


def insert_contact(db: Database, site_id: int, now_ms: int, *, email: str | None,
                   phone: str | None, appointment_id: int | None = None,
                   visit_id: str | None = None) -> None:
    """Keep a citizen's optional contact for one appointment or visit."""
    db.execute("INSERT INTO contacts (site_id, appointment_id, visit_id, email, phone, created_at) "
               "VALUES (?, ?, ?, ?, ?, ?)", [site_id, appointment_id, visit_id, email, phone, now_ms])


def contact_of_appointment(db: Database, appointment_id: int) -> dict | None:
    """Return the contact of an appointment, if the citizen gave one."""
    return _one(db, "SELECT * FROM contacts WHERE appointment_id = ? LIMIT 1", [appointment_id])


def contact_of_visit(db: Database, visit_id: str) -> dict | None:
    """Return the contact of a visit, if the citizen gave one."""
    return _one(db, "SELECT * FROM contacts WHERE visit_id = ? LIMIT 1", [visit_id])


def attach_contact_to_visit(db: Database, appointment_id: int, visit_id: str) -> None:
    """Let an appointment's contact follow the visit it became at check-in."""
    db.execute("UPDATE contacts SET visit_id = ? WHERE appointment_id = ?", [visit_id, appointment_id])


def visits_with_contacts(db: Database) -> list[dict]:
    """Return the latest segment of every visit that has a contact (with the contact)."""
    return _all(db, "SELECT c.id AS contact_id, c.email, c.phone, t.* FROM contacts c "
                    "JOIN tickets t ON t.id = (SELECT max(x.id) FROM tickets x "
                    "WHERE x.visit_id = c.visit_id) WHERE c.visit_id IS NOT NULL")


def appointments_with_contacts(db: Database) -> list[dict]:
    """Return every appointment not yet checked in that has a contact (with the contact)."""
    return _all(db, "SELECT c.id AS contact_id, c.email, c.phone, a.* FROM contacts c "
                    "JOIN appointments a ON a.id = c.appointment_id WHERE c.visit_id IS NULL")


def delete_contacts(db: Database, contact_ids: list[int]) -> int:
    """Delete contacts (their visit or appointment is over); return how many."""
    if not contact_ids:
        return 0
    marks, params = _in_list("c", contact_ids)
    return db.execute(f"DELETE FROM contacts WHERE id IN ({marks})", params).rowcount


def set_appointment_reminded(db: Database, appointment_id: int, now_ms: int) -> None:
    """Note that an appointment's reminder was queued."""
    db.execute("UPDATE appointments SET reminded_at = ? WHERE id = ?", [now_ms, appointment_id])


def enqueue_notification(db: Database, values: dict) -> bool:
    """Queue one message unless one with the same ``dedupe`` key exists; tell whether it was queued."""
    names = list(values)
    row = db.execute(
        f"INSERT INTO notifications ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)}) "
        "ON CONFLICT (dedupe) DO NOTHING RETURNING id", [values[n] for n in names]).fetchone()
    return row is not None


def due_notifications(db: Database, now_ms: int, limit: int) -> list[dict]:
    """Return pending messages whose time has come, oldest first."""
    return _all(db, "SELECT * FROM notifications WHERE status = 'pending' AND next_at <= ? "
                    "ORDER BY next_at, id LIMIT ?", [now_ms, limit])


def claim_notification(db: Database, notification_id: int) -> dict | None:
    """Take a pending message for sending (once, whoever else looks at it); return it, or None."""
    return _one(db, "UPDATE notifications SET status = 'sending', attempts = attempts + 1 "
                    "WHERE id = ? AND status = 'pending' RETURNING *", [notification_id])


def finish_notification(db: Database, notification_id: int, values: dict) -> None:
    """Record a message's outcome (sent, retried later, or failed)."""
    _update(db, "notifications", notification_id, values)


def release_stuck_notifications(db: Database, before_ms: int) -> None:
    """Give back messages left 'sending' by a process that died while sending them."""
    db.execute("UPDATE notifications SET status = 'pending' WHERE status = 'sending' AND next_at < ?",
               [before_ms])


def drop_pending_of(db: Database, dedupe_prefix: str) -> None:
    """Forget the recipient of the unsent messages of a visit or appointment that is over."""
    db.execute("UPDATE notifications SET status = 'failed', recipient = NULL, "
               "last_error = 'visit_over' WHERE status = 'pending' AND dedupe LIKE ?",
               [dedupe_prefix + "%"])


def notifications_of_site(db: Database, site_id: int, limit: int = 100) -> list[dict]:
    """Return a site's latest messages (without recipients once sent), newest first."""
    return _all(db, "SELECT * FROM notifications WHERE site_id = ? ORDER BY id DESC LIMIT ?",
                [site_id, limit])


def typical_waits(db: Database, site_id: int, since_ms: int, until_ms: int,
                  offset_ms: int) -> list[tuple]:
    """Return per service, local weekday (Monday 0) and hour of arrival: called tickets and mean wait (ms)."""
    local = "(t.queue_at + :offset)"
    return [tuple(r) for r in db.execute(
        f"SELECT t.service_id, ({local} / 86400000 + 3) % 7 AS weekday, "
        f"({local} % 86400000) / 3600000 AS hour, count(*), avg(t.called_at - t.queue_at), "
        "count(DISTINCT t.day) FROM tickets t WHERE t.site_id = :site AND t.queue_at >= :since "
        "AND t.queue_at < :until AND t.called_at IS NOT NULL AND t.origin_id IS NULL "
        "AND t.channel = 'walk_in' GROUP BY t.service_id, weekday, hour",
        {"offset": offset_ms, "site": site_id, "since": since_ms, "until": until_ms})]


def channel_report(db: Database, site_ids: list[int], day_from: str, day_to: str) -> list[tuple]:
    """Return per site and service the appointment counts of a period (days of their slots).

    Each row: site_id, service_id, booked (not cancelled), cancelled, moved, checked_in,
    no_show, checked in early (before the slot), late (after it), the sum and count of
    check-in − slot (ms), and of first call − the later of slot and check-in (ms).
    """
    sites, params = _in_list("site", site_ids)
    params.update(day_from=day_from, day_to=day_to)
    return [tuple(r) for r in db.execute(
        "SELECT a.site_id, a.service_id, count(*) FILTER (WHERE a.status <> 'cancelled'), "
        "count(*) FILTER (WHERE a.status = 'cancelled'), count(*) FILTER (WHERE a.moves > 0), "
        "count(*) FILTER (WHERE a.status = 'checked_in'), count(*) FILTER (WHERE a.status = 'no_show'), "
        "count(*) FILTER (WHERE a.checked_in_at < a.slot_at), "
        "count(*) FILTER (WHERE a.checked_in_at > a.slot_at), "
        "coalesce(sum(a.checked_in_at - a.slot_at), 0), count(a.checked_in_at), "
        "coalesce(sum(t.called_at - t.queue_at) FILTER (WHERE t.called_at IS NOT NULL), 0), "
        "count(t.called_at) FROM appointments a LEFT JOIN tickets t ON t.id = a.ticket_id "
        f"WHERE a.site_id IN ({sites}) AND a.day BETWEEN :day_from AND :day_to "
        "GROUP BY a.site_id, a.service_id", params)]


def punctuality_values(db: Database, site_ids: list[int], day_from: str, day_to: str) -> list[tuple]:
    """Return (check-in − slot, first call − queue time) in ms of a period's checked-in appointments."""
    sites, params = _in_list("site", site_ids)
    params.update(day_from=day_from, day_to=day_to)
    return [tuple(r) for r in db.execute(
        "SELECT a.checked_in_at - a.slot_at, t.called_at - t.queue_at FROM appointments a "
        "LEFT JOIN tickets t ON t.id = a.ticket_id "
        f"WHERE a.site_id IN ({sites}) AND a.day BETWEEN :day_from AND :day_to "
        "AND a.checked_in_at IS NOT NULL", params)]


def remote_report(db: Database, site_ids: list[int], day_from: str, day_to: str) -> list[tuple]:
    """Return per site and service the tickets taken from phones in a period.

    Each row: site_id, service_id, taken, confirmed, never confirmed (closed unconfirmed),
    awaiting arrival, called, called and not there (no-show).
    """
    sites, params = _in_list("site", site_ids)
    params.update(day_from=day_from, day_to=day_to)
    return [tuple(r) for r in db.execute(
        "SELECT site_id, service_id, count(*), count(arrived_at), "
        "count(*) FILTER (WHERE status = 'abandoned' AND arrived_at IS NULL), "
        "count(*) FILTER (WHERE status = 'waiting' AND NOT arrived), count(called_at), "
        "count(*) FILTER (WHERE status = 'no_show') FROM tickets "
        f"WHERE site_id IN ({sites}) AND day BETWEEN :day_from AND :day_to AND channel = 'remote' "
        "AND origin_id IS NULL GROUP BY site_id, service_id", params)]


def forget_people_of_closed_appointments(db: Database) -> int:
    """Clear the name and ID hash of appointments whose visit is over (or that were cancelled or missed)."""
    return db.execute(
        "UPDATE appointments SET name = NULL, id_hash = NULL "
        "WHERE (name IS NOT NULL OR id_hash IS NOT NULL) AND (status IN ('cancelled', 'no_show') "
        "OR (status = 'checked_in' AND NOT EXISTS (SELECT 1 FROM tickets o JOIN tickets t "
        "ON t.visit_id = o.visit_id WHERE o.id = appointments.ticket_id "
        "AND t.status IN ('waiting', 'called', 'serving'))))").rowcount
