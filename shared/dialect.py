"""What differs between SQLite and PostgreSQL, in one small place.

The store writes its SQL once, in the subset both engines accept: ``RETURNING``,
``ON CONFLICT``, partial indexes, window functions, ``count(*) FILTER (WHERE
...)``, ``coalesce``. What remains different is here:

1. **Placeholders.** The store writes ``?`` and ``:name`` (sqlite3's styles);
   psycopg wants ``%s`` and ``%(name)s``, and a literal ``%`` (the modulo
   operator) doubled. ``postgresql_sql`` rewrites a statement once and caches it.
2. **Rows.** sqlite3 rows read by position and by name; ``pg_row_factory``
   gives psycopg rows that behave the same.
3. **Types.** PostgreSQL ``numeric`` comes back as ``float`` (as SQLite's REAL)
   and ``date`` as its ISO text (the store keeps local days as ``YYYY-MM-DD``).
   Flags are ``boolean`` on PostgreSQL and ``0/1`` on SQLite: the store writes
   Python booleans and tests them as ``active`` / ``NOT active``.
4. **A handful of statements** (the per-site lock that serializes a site's queue
   changes, the catalogue of tables and foreign keys, how a claim joins its line
   heads): the ``Dialect`` objects.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    """The engine-specific statements of one database engine."""

    name: str
    # Takes a named lock (a namespace and a key: a site's queue, a kiosk's taps) until the
    # transaction ends (None: the engine's write lock already serializes every transaction:
    # SQLite has a single writer).
    lock: str | None
    # Every user table of the schema.
    tables: str
    # (table, column, referenced table, referenced column) of every foreign key.
    foreign_keys: str
    # How a claim reads the rows of its line heads (``ds.head``) as ``t``: by their key, and
    # nothing else. PostgreSQL's plan of the prepared claim, made while the day's table was
    # empty, otherwise scanned every ticket of the site and re-ran the heads for each one (a
    # call took 2.5 ms longer for every 200 tickets of the day); a LATERAL subquery it cannot
    # flatten (OFFSET 0) leaves it one way to join. SQLite has no LATERAL and plans a key join.
    ticket_of_head: str
    # Whether an UPDATE ... RETURNING may sit inside WITH, so that a ticket's change and its
    # event are one statement (``shared.store.update_logged``). SQLite allows only SELECTs there.
    writes_in_with: bool
    # The health check's query: true when the database says it takes no writes now (a
    # standby, or a database set read-only); SQLite says so only by refusing a write.
    read_only: str
    # What the next ticket needs, undone afterwards (``shared.db.takes_writes``): a table
    # and 64 KB of random data (PostgreSQL's hex text compresses to some 32 KB): files must grow.
    write_probe: tuple[str, ...]


SQLITE = Dialect(
    name="sqlite",
    lock=None,
    tables="SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
           "AND name NOT LIKE '\\_%' ESCAPE '\\' ORDER BY name",
    foreign_keys="SELECT m.name, f.\"from\", f.\"table\", coalesce(f.\"to\", 'id') "
                 "FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f "
                 "WHERE m.type = 'table' ORDER BY m.name",
    ticket_of_head="JOIN tickets t ON t.id = ds.head",
    writes_in_with=False,
    read_only="SELECT 0",
    write_probe=("CREATE TABLE write_probe (filler BLOB)",
                 "INSERT INTO write_probe VALUES (randomblob(65536))"),
)

# Advisory lock keys live in namespaces of their own (the first integer).
LOCK_NAMESPACE_SITE = 7301  # a site's queue changes (``shared.store.lock_site``)
LOCK_NAMESPACE_KIOSK = 7302  # a kiosk's taps (``shared.store.lock_kiosk``)

POSTGRESQL = Dialect(
    name="postgresql",
    lock="SELECT pg_advisory_xact_lock(?, ?)",
    tables="SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
           "AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'yoyo%' "
           "AND table_name NOT LIKE '\\_%' ORDER BY table_name",
    foreign_keys="SELECT tc.table_name, kcu.column_name, ccu.table_name, ccu.column_name "
                 "FROM information_schema.table_constraints tc "
                 "JOIN information_schema.key_column_usage kcu "
                 "ON kcu.constraint_name = tc.constraint_name AND kcu.table_schema = tc.table_schema "
                 "JOIN information_schema.constraint_column_usage ccu "
                 "ON ccu.constraint_name = tc.constraint_name AND ccu.table_schema = tc.table_schema "
                 "WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema() "
                 "ORDER BY tc.table_name",
    ticket_of_head="CROSS JOIN LATERAL (SELECT * FROM tickets x WHERE x.id = ds.head OFFSET 0) t",
    writes_in_with=True,
    read_only="SELECT current_setting('transaction_read_only') = 'on'",
    write_probe=("CREATE TABLE write_probe (filler text)",
                 "INSERT INTO write_probe SELECT string_agg(md5(random()::text), '') "
                 "FROM generate_series(1, 2048)"),
)


_TOKEN = re.compile(r"""
      '(?:[^']|'')*'          # a string literal
    | "(?:[^"]|"")*"          # a quoted identifier
    | --[^\n]*                # a comment
    | ::                      # a PostgreSQL cast, left alone
    | :([A-Za-z_]\w*)         # a named placeholder
    | \?                      # a positional placeholder
    | %                       # the modulo operator (psycopg's escape character)
""", re.VERBOSE)


@functools.lru_cache(maxsize=4096)
def postgresql_sql(sql: str) -> str:
    """Rewrite a statement's ``?`` / ``:name`` placeholders (and ``%``) for psycopg."""
    def replace(match: re.Match) -> str:
        token = match.group(0)
        if match.group(1):
            return f"%({match.group(1)})s"
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        return token

    return _TOKEN.sub(replace, sql)


class Row(tuple):
    """A result row read by position or by column name, like ``sqlite3.Row``."""

    __slots__ = ()
    _names: tuple = ()
    _index: dict = {}
    _unique = False  # no column name repeated (``as_dict`` may zip)

    def __getitem__(self, key):
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """Return the column names, in order (as ``sqlite3.Row.keys``)."""
        return list(self._names)


@functools.lru_cache(maxsize=1024)
def _row_class(raw_names: tuple) -> type:
    """Return the row class of one result shape (a repeated name reads its first column)."""
    names = tuple(n.decode("utf-8") for n in raw_names)
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        index.setdefault(name, i)
    return type("Row", (Row,), {"__slots__": (), "_names": names, "_index": index,
                                "_unique": len(index) == len(names)})


def as_dict(row) -> dict:
    """Return a row of either engine as a dict of its columns (a repeated name: its first column).

    ``dict(row)`` asks a ``Row`` for each column by name, a Python call each:
    zipping the names with the values is about three times faster (13 against
    3.5 µs for a ticket's 34 columns), which counts for every ticket a request
    reads and for every row of a report on PostgreSQL.
    """
    if getattr(type(row), "_unique", False):
        return dict(zip(row._names, row))
    return dict(row)


def pg_row_factory(cursor):
    """psycopg row factory: rows that read by position and by name.

    The column names come straight from the result (cached per shape), not from
    ``cursor.description``, which builds a column object per column per query.
    """
    result = cursor.pgresult
    if result is None or not result.nfields or result.status not in _ROWS:
        return tuple  # a command, or COPY: no rows to name
    return _row_class(tuple(result.fname(i) for i in range(result.nfields)))


def _row_statuses() -> frozenset:
    """Return the result statuses that carry rows."""
    from psycopg.pq import ExecStatus

    return frozenset({ExecStatus.TUPLES_OK, ExecStatus.SINGLE_TUPLE,
                      getattr(ExecStatus, "TUPLES_CHUNK", ExecStatus.TUPLES_OK)})


PROMPT_WAIT_MS = 50  # inside a write transaction, how long the process waits for the server unyielding


@functools.lru_cache(maxsize=1)
def pg_connection_class():
    """Return psycopg's connection class, able to wait for the server without yielding.

    Under gevent psycopg waits cooperatively (other greenlets run meanwhile);
    with ``blocking`` set (inside a write transaction, see ``shared.db``) it
    waits without yielding, as long as the server answers promptly.
    """
    import psycopg
    from psycopg import waiting

    blocking_wait = getattr(waiting, "wait_c", None) or waiting.wait_poll  # C, unpatched poll
    # What a wait raises past its timeout (not public API: setup.cfg keeps psycopg below 3.4).
    waited_too_long = psycopg.errors._WaitTimeout

    class Connection(psycopg.Connection):
        blocking = False
        committing = False

        def wait(self, gen, interval=0.1, timeout=None):
            if self.blocking and timeout is None:
                if self.committing:
                    return self._wait_for_commit(gen, interval)
                return self._wait_while_prompt(gen, interval)
            return super().wait(gen, interval=interval, timeout=timeout)

        def _wait_while_prompt(self, gen, interval):
            """Block while the server answers within ``PROMPT_WAIT_MS``; then wait cooperatively.

            A transaction's statements come back in well under a millisecond, unless
            one waits for a lock held elsewhere (a migration, a DBA's maintenance,
            another process's long transaction). Blocking then would stop every
            screen, kiosk and desk of this process for as long as the lock is held,
            so the rest of that wait lets them run.
            """
            try:
                return blocking_wait(gen, self.pgconn.socket, interval, PROMPT_WAIT_MS / 1000)
            except waited_too_long:
                # The generator is left at a wait; whichever way the socket gets ready first,
                # it asks again for what it still needs.
                return super().wait(_resumed(waiting.Wait.RW, gen), interval=interval)

        def _wait_for_commit(self, gen, interval):
            """Block while any of the transaction is unsent; wait for the COMMIT's answer cooperatively.

            Once the COMMIT is on the wire the server finishes the transaction
            (and releases its locks) without this process, so other requests
            may run meanwhile: one that waits for those locks gets them when
            the server commits, not when this greenlet reads the answer.
            """
            try:
                state = next(gen)
                while not (state == waiting.Wait.R and self.pgconn.flush() == 0):
                    state = gen.send(_poll_once(self.pgconn.socket, state))
            except StopIteration as done:
                return done.value
            return super().wait(_resumed(state, gen), interval=interval)

    return Connection


@functools.lru_cache(maxsize=1)
def _blocking_poll():
    """Return the standard library's ``select.poll``, even where gevent patched it."""
    import select

    try:
        from gevent import monkey
        return monkey.get_original("select", "poll")
    except ImportError:  # no gevent: the standard poll already blocks
        return select.poll


def ended_by_server(conn) -> bool:
    """Tell whether an idle psycopg connection was ended by its server, without a round trip.

    An idle connection hears nothing unless the server says goodbye (a FATAL
    message, then the end of the stream) or, rarely, sends a notice. Only when
    something is waiting on its socket is the connection asked once whether it
    still works.
    """
    import select

    import psycopg

    if conn.closed:
        return True
    poll = _blocking_poll()()
    poll.register(conn.pgconn.socket, select.POLLIN)
    if not poll.poll(0):
        return False
    try:
        conn.execute("SELECT 1")
    except psycopg.Error:
        return True
    return False


def _poll_once(fileno: int, state) -> int:
    """Wait, blocking the process, until a socket is ready as a psycopg generator asks; return how."""
    import select

    from psycopg import waiting

    poll = _blocking_poll()()
    mask = {waiting.Wait.R: select.POLLIN, waiting.Wait.W: select.POLLOUT}.get(
        state, select.POLLIN | select.POLLOUT)
    poll.register(fileno, mask)
    events = poll.poll()[0][1]
    ready = (waiting.Ready.R if events & select.POLLIN else 0) | \
        (waiting.Ready.W if events & select.POLLOUT else 0)
    # A closed or broken socket: let libpq try both ways and report the error itself.
    return ready or waiting.Ready.RW


def _resumed(state, gen):
    """Return a generator that asks for ``state`` first, then carries on with ``gen``."""
    ready = yield state
    while True:
        try:
            state = gen.send(ready)
        except StopIteration as done:
            return done.value
        ready = yield state


def configure_pg(conn) -> None:
    """Set the type loaders every Turnos PostgreSQL connection uses."""
    from psycopg.types.string import TextLoader

    conn.adapters.register_loader("numeric", _number_loader())
    conn.adapters.register_loader("date", TextLoader)


@functools.lru_cache(maxsize=1)
def _number_loader():
    """Return a loader reading ``numeric`` as SQLite does: whole numbers as int, others as float.

    ``sum()`` of integers is ``numeric`` on PostgreSQL (an int on SQLite) and
    a division by ``1000.0`` is ``numeric`` too (a float on SQLite).
    """
    from psycopg.adapt import Loader

    class NumberLoader(Loader):
        def load(self, data):
            text = bytes(data)
            if text.isdigit() or (text[:1] == b"-" and text[1:].isdigit()):
                return int(text)
            return float(text)

    return NumberLoader


_ROWS = _row_statuses() if importlib.util.find_spec("psycopg") else frozenset()
