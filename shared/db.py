"""Storage engines: SQLite (the embedded default) or PostgreSQL, behind one small interface.

Every SQL statement lives in ``shared/store.py`` and is written once, with ``?``
or ``:name`` placeholders, in the SQL both engines accept. A connection object
(``db``) offers ``db.execute(sql, params)`` returning a cursor whose rows read
by position and by name (``row[0]``, ``row["code"]``, ``dict(row)``) on both
engines. What differs lives in ``shared/dialect.py``.

- **SQLite**: a file in the instance folder (or ``--database sqlite:PATH``),
  WAL, opened through sqlite-utils. One process serves it (the embedded
  default); several processes may share it on one machine.
- **PostgreSQL**: ``--database postgresql://...`` (or ``TURNOS_DATABASE_URL``),
  psycopg 3 with its connection pool. Any number of processes on any number of
  machines.

Transactions: ``with immediate(db):`` runs a block in one write transaction
(nested blocks join the outer one). Work that must happen only once the
change is durable (announcing it, say) is registered with ``on_commit(db, fn)``:
it runs after the outermost commit and is dropped on rollback.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sqlite3
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from flask import current_app, g
from sqlite_utils import Database

from . import dialect

log = logging.getLogger(__name__)

# With a background checkpointer, a connection still checkpoints by itself once
# the WAL holds this many pages (about 80 MB): a safety net, never the routine.
SAFETY_AUTOCHECKPOINT = 20_000
# How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_SECONDS = 30.0

try:  # PostgreSQL's driver; the embedded default runs without it
    import psycopg
    import psycopg_pool
except ImportError:  # pragma: no cover - declared as a dependency
    psycopg = psycopg_pool = None

IntegrityError: tuple = (sqlite3.IntegrityError,) + ((psycopg.IntegrityError,) if psycopg else ())
OperationalError: tuple = (sqlite3.OperationalError,) + ((psycopg.OperationalError,) if psycopg else ())
# What a database that went away (or is locked for too long) raises.
UNAVAILABLE: tuple = OperationalError + ((psycopg_pool.PoolTimeout,) if psycopg_pool else ())


# What the embedded database says when it can take no more writes, though it still reads.
REFUSED_WRITES = ("disk is full", "readonly database")
ROOM_TO_WRITE = 16 * 1024 * 1024  # bytes free on its disk before health says it writes again


def is_unavailable(exc: BaseException) -> bool:
    """Tell whether an error means the database cannot answer now (not a bug of ours)."""
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        # Locked or busy: another writer. The rest: the file or its disk (gone, full, read-only).
        return any(word in text for word in ("locked", "busy", "unable to open", "disk I/O",
                                             *REFUSED_WRITES))
    return isinstance(exc, UNAVAILABLE) or refuses_writes(exc)


def refuses_writes(exc: BaseException) -> bool:
    """Tell whether an error says the database reads but takes no writes.

    Its disk is full, its file is read-only, or (PostgreSQL) it is a standby or was
    set read-only (after a failover, for maintenance).
    """
    if isinstance(exc, sqlite3.OperationalError):
        return any(word in str(exc) for word in REFUSED_WRITES)
    return psycopg is not None and isinstance(exc, (psycopg.errors.ReadOnlySqlTransaction,
                                                    psycopg.errors.DiskFull))


def takes_writes(app) -> bool:
    """Tell whether the database takes writes again: what the next ticket needs works.

    Tries it (a table and 64 KB that make the file grow), then undoes it; for the
    embedded database its disk must also have room. Only asked after a write was
    refused (see ``/healthz``): a full disk reads as well as ever, so a health check
    that only reads would say all is well.
    """
    target = app.config["DATABASE"]
    if not is_postgresql(target) and shutil.disk_usage(Path(target).resolve().parent).free \
            < ROOM_TO_WRITE:
        return False
    with connection(app) as db:
        try:
            db.begin()
            try:
                for statement in db.dialect.write_probe:
                    db.execute(statement)
            finally:
                db.rollback()
        except Exception as exc:
            if refuses_writes(exc):
                return False
            raise
    return True


# --- where the data lives ------------------------------------------------------------------

def is_postgresql(target: str | None) -> bool:
    """Tell whether a database target is a PostgreSQL URL."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def resolve(url: str | None, instance: str | Path) -> str:
    """Return the database target of a ``--database`` value: a PostgreSQL URL or a SQLite file path.

    Nothing (or an empty value) means ``turnos.sqlite3`` in the instance folder;
    ``sqlite:PATH`` (or ``sqlite:///PATH``) or a plain path means that SQLite file.
    """
    if not url:
        return str(Path(instance) / "turnos.sqlite3")
    if is_postgresql(url):
        return url
    if url.startswith("sqlite:"):
        path = url[len("sqlite:"):]
        if path.startswith("///"):
            path = path[2:]
        elif path.startswith("//"):
            raise ValueError(f"not a SQLite address (use sqlite:PATH): {url}")
        return str(Path(path).resolve())
    if "://" in url:
        raise ValueError(f"unknown database address (use postgresql://... or sqlite:PATH): {url}")
    return str(Path(url).resolve())


def safe_url(target: str) -> str:
    """Return a database target fit for logs and pages: a URL without its password."""
    if not is_postgresql(target):
        return target
    parts = urlsplit(target)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return target


# --- connections -----------------------------------------------------------------------------

class SQLiteDatabase(Database):
    """A sqlite-utils ``Database`` with the interface the store and the transaction helper use."""

    dialect = dialect.SQLITE

    def __init__(self, conn: sqlite3.Connection, path: str, cooperative: bool = False):
        self.cooperative = cooperative
        self.after_commit: list | None = None
        super().__init__(conn, execute_plugins=False)
        self.path = path

    @property
    def in_transaction(self) -> bool:
        """Tell whether a transaction is open on this connection."""
        return self.conn.in_transaction

    def execute(self, sql, parameters=None):
        """Run one statement; outside a transaction, wait politely for another process's write lock."""
        if not self.cooperative or self.conn.in_transaction:
            return super().execute(sql, parameters)
        return _retry_busy(lambda: super(SQLiteDatabase, self).execute(sql, parameters))

    def executemany(self, sql, seq):
        """Run one statement for every parameter row."""
        return self.conn.executemany(sql, seq)

    def send(self, sql, parameters=None):
        """Run a statement now (SQLite has no round trips to save; see ``PgDatabase.send``)."""
        return self.execute(sql, parameters)

    def answered(self, cursor):
        """Return a sent statement's cursor (on SQLite its rows are already there)."""
        return cursor

    def lock(self, namespace: int, key: int) -> None:
        """Nothing: SQLite's single writer already serializes every write transaction."""

    def begin(self) -> None:
        """Open a write transaction at once (BEGIN IMMEDIATE).

        A deferred transaction that reads then writes fails with "database is
        locked" under contention in WAL mode; taking the write lock first makes
        concurrent writers queue instead. Under gevent the wait for another
        process's lock yields to other requests instead of blocking the loop.
        """
        if self.cooperative:
            _retry_busy(lambda: self.conn.execute("BEGIN IMMEDIATE"))
        else:
            self.conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        """Commit the open transaction."""
        self.conn.execute("COMMIT")

    def rollback(self) -> None:
        """Roll back the open transaction, if any."""
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


_turns: dict[tuple[str, int, int], threading.Lock] = {}


def _turn(database: str, namespace: int, key: int) -> threading.Lock:
    """Return this process's turn for a named lock (a gevent lock under ``serve``)."""
    slot = (database, namespace, key)
    turn = _turns.get(slot)
    if turn is None:
        turn = _turns.setdefault(slot, threading.Lock())
    return turn


def _retry_busy(run, timeout: float = BUSY_TIMEOUT_SECONDS):
    """Run a SQLite call, retrying with short cooperative sleeps while another process writes.

    SQLite's own busy handler sleeps inside C: under gevent that would freeze
    every request of this process while another process holds the write lock
    (a close-day or a purge). Connections opened for gevent have no busy
    timeout; this loop waits instead, yielding between tries.
    """
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            return run()
        except sqlite3.OperationalError as exc:
            text = str(exc)
            if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                raise
        _cooperative_sleep(pause)
        pause = min(pause * 2, 0.05)


class TakeTurns:
    """Lets the other requests of the process run now and then during a long computation.

    gevent does not preempt: a report that merges a year of 300 sites for seconds
    would hold every kiosk, desk and screen of its process for as long. Called in a
    long loop, it yields once every ``every_ms`` (a clock read otherwise).
    """

    def __init__(self, every_ms: float = 20):
        # Threads (the CLI, tests) are preempted anyway: there it never sleeps.
        self.every = every_ms / 1000 if under_gevent() else float("inf")
        self.next = time.monotonic() + self.every

    def __call__(self) -> None:
        if time.monotonic() >= self.next:
            # A zero sleep only runs greenlets already ready; a short one lets the event loop
            # look at the sockets too (a kiosk's request waiting to be read).
            _cooperative_sleep(0.001)
            self.next = time.monotonic() + self.every


def under_gevent() -> bool:
    """Tell whether gevent patched this process's standard library (``run.py serve`` does)."""
    if "gevent" not in sys.modules:
        return False
    from gevent import monkey

    return monkey.is_module_patched("socket") and monkey.is_module_patched("time")


def _cooperative_sleep(seconds: float) -> None:
    """Sleep, letting other greenlets run under gevent."""
    time.sleep(seconds)  # patched by gevent's monkey.patch_all() in `run.py serve`


class PgDatabase:
    """A PostgreSQL connection with the interface of the SQLite one (execute, rows by name)."""

    dialect = dialect.POSTGRESQL

    def __init__(self, conn, path: str):
        self.conn = conn
        self.path = path
        self.after_commit: list | None = None
        self._open = False  # a write transaction is open (``begin``), pipelined or not yet
        self._held = None  # its only statement so far, not sent yet: (cursor, statement, parameters)
        self._pipeline = None  # psycopg's pipeline once the open transaction has a second statement
        self._pipeline_cm = None  # and the context that entered it
        self._turn = None  # this process's turn for a named lock, held until the transaction ends

    @property
    def in_transaction(self) -> bool:
        """Tell whether a transaction is open on this connection."""
        return (self._open
                or self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE)

    def execute(self, sql: str, parameters=None):
        """Run one statement written with ``?`` or ``:name`` placeholders; return its cursor.

        Inside a write transaction the statement goes out with whatever was sent
        before it (``send``) and its answer, or its error, is read at once.
        """
        self._pipelined()
        cursor = self.conn.execute(dialect.postgresql_sql(sql), _params(parameters))
        self._read_answers()
        return cursor

    def send(self, sql: str, parameters=None):
        """Run a statement without waiting for its answer; return its cursor.

        Inside a write transaction it is queued and travels with the next
        statement that is read, or with the commit (the sync): one round trip less while
        the transaction holds its locks. An error it raises surfaces there, still
        inside the transaction, which then rolls back as any other failure does.
        Its rows can be read once that is answered (``answered`` reads them
        sooner). Outside a transaction it runs at once.

        A transaction's first statement is held until a second one comes (then
        both go out in the pipeline) or the commit: a transaction of one
        statement (a ticket's step and its event, most desk actions) runs as that
        one statement, which is its own transaction on the server, with none of
        the pipeline's own work (a third less server CPU for such a transaction).
        """
        if self._open and self._pipeline is None and self._held is None:
            cursor = self.conn.cursor()
            self._held = (cursor, dialect.postgresql_sql(sql), _params(parameters))
            return cursor
        self._pipelined()
        return self.conn.execute(dialect.postgresql_sql(sql), _params(parameters))

    def answered(self, cursor):
        """Return a sent statement's cursor with its answer read (a round trip, inside a transaction)."""
        if self._held is not None and self._held[0] is cursor:
            self._pipelined()
        self._read_answers()
        return cursor

    def _read_answers(self) -> None:
        """Inside a write transaction, read the answers of every statement sent so far.

        The server is asked to flush them (a flush request), not to end the
        pipeline's transaction, as a sync would: the transaction goes on.
        (``_fetch_gen`` is what psycopg's own cursors call to read a pending
        answer; setup.cfg keeps psycopg below 3.4.)
        """
        if self._pipeline is not None:
            with self.conn.lock:
                self.conn.wait(self._pipeline._fetch_gen(flush=True))

    def lock(self, namespace: int, key: int) -> None:
        """Take a named lock (PostgreSQL's advisory lock) until the transaction ends.

        Its requests in this process take turns first, waiting for one another
        cooperatively, until their commit is sent. A request that reads inside its
        transaction while the advisory lock is held elsewhere blocks the process
        (up to ``dialect.PROMPT_WAIT_MS``), and if the holder were a request of the
        same process still reading, it could not run to release it: with two processes and
        fifty desks, each new claim froze its process for those 50 ms behind a holder
        that then waited its turn, and calls fell from 240 to 35 a second (a desk
        waited 1.2 s). Only the first lock of a transaction takes a turn: two turns
        taken in opposite orders would wait for each other with no one to notice.
        """
        if self._turn is None:
            turn = _turn(self.path, namespace, key)
            turn.acquire()
            self._turn = turn
        # Sent at once, never held (see ``send``): the server starts waiting for the lock while
        # this process builds the statements that follow it.
        self._pipelined()
        self.send(self.dialect.lock, [namespace, key])

    def _end_turn(self) -> None:
        """Let this process's next request for the lock go (its commit is on its way)."""
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.release()

    def executemany(self, sql: str, seq):
        """Run one statement for every parameter row."""
        self._pipelined()
        cursor = self.conn.cursor()
        cursor.executemany(dialect.postgresql_sql(sql), [_params(p) for p in seq])
        self._read_answers()
        return cursor

    def begin(self) -> None:
        """Open a write transaction (READ COMMITTED), which waits for the server without yielding.

        Nothing is sent yet (see ``send``): the pipeline below is entered when the
        transaction's second statement comes, or a first one is read or is a lock.
        A transaction of one statement sends it at the commit, alone, and waits for
        its answer cooperatively, as for any commit.

        A write transaction holds locks other requests wait for (its site's
        advisory lock, a service's ticket counter, the waiting-count rows its
        triggers change). While one is open, no other greenlet of this process
        runs: yielding let their Python work stretch each lock by milliseconds
        (with 50 desks calling at once, 22 calls/s), and a second transaction of
        the same process could block the process waiting for a row the first
        one holds, which then never gets to commit (a soak froze a server so).
        Like SQLite's statements, a transaction's statements block this process
        for their round trip instead (sub-millisecond on a local network), up to
        the commit, whose answer is awaited cooperatively once it is sent (see
        ``commit``); reads outside transactions, reports included, still let
        other requests run. A statement the server has not answered within 50 ms
        waits for a lock held elsewhere: the rest of that wait yields
        (``dialect.PROMPT_WAIT_MS``).

        The transaction is psycopg's pipeline: every statement up to the
        pipeline's sync is one transaction on the server (the extended query
        protocol's implicit transaction; each statement still sees what was
        committed before it, as in READ COMMITTED), which the sync commits, or
        rolls back if any of them failed. So no BEGIN and no COMMIT travel, and
        nothing ``send`` queues (the site lock, the event log, a claim and its
        event: ``store.update_logged``) is waited for: a call to a desk or a
        no-show reads nothing inside its transaction, all of it travels with
        the sync, the process never waits for it unyielding, and the site's lock
        is held for no round trip of the process (calls/s +25 % on one process;
        without the BEGIN and the COMMIT, each a message, a wake-up of the
        server and a round of psycopg's work, about 8 % less server CPU per
        call). A statement read inside the transaction (``execute``) asks the
        server to flush its answers.
        """
        self._open = True

    def _pipelined(self) -> None:
        """Inside a write transaction, enter its pipeline if not yet in it, sending a held statement."""
        if not self._open or self._pipeline is not None:
            return
        self.conn.blocking = True
        try:
            self._pipeline_cm = self.conn.pipeline()
            self._pipeline = self._pipeline_cm.__enter__()
        except BaseException:
            self._end_pipeline(failed=True)
            self.conn.blocking = False
            raise
        self._send_held()

    def _send_held(self) -> None:
        """Send the statement ``send`` held, if any, on the cursor it returned."""
        held, self._held = self._held, None
        if held is not None:
            cursor, sql, parameters = held
            cursor.execute(sql, parameters)

    def commit(self) -> None:
        """Commit the open transaction: end the pipeline, whose sync commits (reading every answer).

        The sync blocks the process only until it is sent: the server then
        finishes the transaction by itself (waiting for its disk at
        ``synchronous_commit = on``), and other requests run while this one
        waits for the answer. A statement's error read there raises, and
        nothing of the transaction stays. A transaction of one statement (still
        held, see ``send``) sends it now, alone: its own transaction on the server.
        """
        self._open = False
        if self._pipeline is None:  # one statement or none: it runs as its own transaction
            self._end_turn()
            self._send_held()
            return
        self.conn.committing = True
        # No other request of this process runs before the sync is sent (it blocks until
        # then), and the server releases the advisory lock by itself when it commits.
        self._end_turn()
        try:
            self._end_pipeline(failed=False)
        finally:
            self.conn.committing = False
            self.conn.blocking = False

    def rollback(self) -> None:
        """Roll back the open transaction, if any.

        Inside the pipeline a ROLLBACK goes before its sync: the server drops
        what the transaction did instead of committing it at the sync (after a
        statement's error it drops it anyway, and the ROLLBACK's own answer is
        that error, ignored here). A statement still held was never sent.
        """
        self._held, self._open = None, False
        try:
            if self._pipeline is not None:
                try:
                    self.conn.execute("ROLLBACK")
                except psycopg.Error:
                    pass  # the transaction failed already: the sync rolls it back
            self._end_pipeline(failed=True)
            if self.conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                self.conn.execute("ROLLBACK")
        finally:
            self._end_turn()
            self.conn.blocking = False

    def _end_pipeline(self, *, failed: bool) -> None:
        """Leave pipeline mode, reading what is pending; after a failure its errors are dropped."""
        context, self._pipeline_cm, self._pipeline = self._pipeline_cm, None, None
        if context is None:
            return
        if failed:
            reason = RuntimeError("rolling back")
            context.__exit__(RuntimeError, reason, None)
        else:
            context.__exit__(None, None, None)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def _params(parameters):
    """Return statement parameters in the form psycopg takes (a list or a mapping)."""
    if parameters is None:
        return None
    if isinstance(parameters, dict):
        return parameters
    return list(parameters)


def connect(target: str | Path, autocheckpoint: int | None = None, *,
            cooperative: bool = False):
    """Open a connection to a database target (a SQLite file path or a PostgreSQL URL)."""
    target = str(target)
    if is_postgresql(target):
        return PgDatabase(_pg_connect(target), safe_url(target))
    conn = sqlite3.connect(target, timeout=0 if cooperative else BUSY_TIMEOUT_SECONDS,
                           isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    if not cooperative:
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
    if autocheckpoint is not None:
        conn.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
    return SQLiteDatabase(conn, target, cooperative)


def _pg_connect(url: str):
    """Open a psycopg connection with Turnos's settings (autocommit, rows by name)."""
    if psycopg is None:
        raise RuntimeError("PostgreSQL needs the psycopg package (pip install 'psycopg[binary]')")
    conn = dialect.pg_connection_class().connect(url, autocommit=True,
                                                 row_factory=dialect.pg_row_factory,
                                                 connect_timeout=10)
    dialect.configure_pg(conn)
    return conn


# --- transactions --------------------------------------------------------------------------------

@contextlib.contextmanager
def immediate(db):
    """Run a block in one write transaction; a nested block joins the outer one.

    Functions registered with ``on_commit`` inside the block run once, after
    the outermost commit, in the order registered; a rollback drops them.
    """
    if db.after_commit is not None or db.in_transaction:
        yield db
        return
    db.begin()
    db.after_commit = []
    try:
        yield db
    except BaseException:
        db.after_commit = None
        db.rollback()
        raise
    else:
        try:
            db.commit()
        except BaseException:
            db.after_commit = None
            db.rollback()
            raise
        pending, db.after_commit = db.after_commit, None
        for fn in pending:
            try:
                fn()
            except Exception:  # the change is committed: a failed announcement must not undo the answer
                log.exception("after-commit work failed")


def on_commit(db, fn) -> None:
    """Run ``fn`` after the current transaction commits (at once when none is open)."""
    if db.after_commit is None:
        fn()
    else:
        db.after_commit.append(fn)


# --- storage: pools and the engine's own jobs --------------------------------------------------

class SQLitePool:
    """Keeps a few open connections to one database file for reuse across requests.

    Closing the last connection to a WAL database checkpoints and removes the
    WAL file, which costs milliseconds; reusing connections keeps requests fast.
    """

    def __init__(self, path: str, size: int = 16, autocheckpoint: int | None = None,
                 cooperative: bool = False):
        self.path = path
        self.size = size
        self.autocheckpoint = autocheckpoint
        self.cooperative = cooperative
        self._idle: list[SQLiteDatabase] = []
        self._lock = threading.Lock()

    def acquire(self, timeout: float | None = None) -> SQLiteDatabase:
        """Return an idle connection, or a new one (opening a file does not wait)."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return connect(self.path, self.autocheckpoint, cooperative=self.cooperative)

    def release(self, db: SQLiteDatabase) -> None:
        """Return a connection for reuse (rolling back anything left open), or close it."""
        db.after_commit = None
        db.rollback()
        with self._lock:
            if len(self._idle) < self.size:
                self._idle.append(db)
                return
        db.close()

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, []
        for db in idle:
            db.close()


class PgPool:
    """psycopg's connection pool, handing out ``PgDatabase`` connections.

    A database that goes away (a restart, a failover) and comes back is
    followed within about a second, with no request failing once it answers:

    - a connection the server ended while idle is dropped when it is lent (no
      round trip unless the server said something), instead of failing the
      request that would get it;
    - while the database is away, a request waits at most ``OUTAGE_WAIT_SECONDS``
      for a connection (then 503, saying so), not the pool's 30 s;
    - the pool gives up a series of connection attempts after ``RECONNECT_SECONDS``
      (its delays double from one second), and the next request starts a new
      one: no attempt is ever scheduled minutes after the database is back.
    """

    OUTAGE_WAIT_SECONDS = 2.0
    RECONNECT_SECONDS = 2.0

    def __init__(self, url: str, size: int = 10):
        self.url = url
        self.path = safe_url(url)
        self.away = False  # the database was last seen away: wait briefly for a connection
        self.pool = psycopg_pool.ConnectionPool(
            url, min_size=1, max_size=size, open=True, timeout=30, name="turnos",
            connection_class=dialect.pg_connection_class(),
            kwargs={"autocommit": True, "row_factory": dialect.pg_row_factory,
                    "connect_timeout": 10},
            reconnect_timeout=self.RECONNECT_SECONDS,
            # No check on every loan (a round trip per request): ``acquire`` looks at the
            # socket instead, and a connection lost during a request fails with a 503.
            configure=dialect.configure_pg)

    def acquire(self, timeout: float | None = None) -> PgDatabase:
        """Return a connection from the pool (waiting at most ``timeout`` seconds for one)."""
        for _attempt in range(self.pool.max_size + 1):
            wait = timeout
            if self.away:
                wait = min(self.pool.timeout if timeout is None else timeout, self.OUTAGE_WAIT_SECONDS)
            try:
                conn = self.pool.getconn(timeout=wait)
            except psycopg_pool.PoolTimeout:
                self.away = True
                raise
            if not dialect.ended_by_server(conn):
                self.away = False
                return PgDatabase(conn, self.path)
            self.away = True
            conn.close()
            self.pool.putconn(conn)  # the pool forgets a closed connection and opens another
        raise psycopg_pool.PoolTimeout("every pooled connection was ended by the server")

    def release(self, db: PgDatabase) -> None:
        """Give a connection back (the pool rolls back anything left open)."""
        db.after_commit = None
        if db._open:  # a transaction left open: its sync must not commit it
            db.rollback()
        if db.conn.closed:  # lost during the request: the database may be away
            self.away = True
        self.pool.putconn(db.conn)

    def close(self) -> None:
        """Close every connection of the pool."""
        self.pool.close()


def make_pool(target: str, cooperative: bool = False, size: int | None = None):
    """Return the connection pool for a database target."""
    if is_postgresql(target):
        return PgPool(target, size or 10)
    return SQLitePool(target, cooperative=cooperative)


class Checkpointer:
    """Copies the WAL into the database file from a native thread, off the request path.

    By default SQLite checkpoints inside the commit that crosses 1,000 WAL
    pages: that request copies about 4 MB and waits for two fsyncs, and under
    gevent the whole server waits with it (measured: a quarter of the issuing
    throughput). Here request connections leave checkpoints to this thread,
    which runs a PASSIVE checkpoint every ``interval`` seconds: it never blocks
    readers or writers, and the copying runs on another core, since sqlite3
    releases the GIL.
    """

    def __init__(self, path: str, interval: float = 1.0, listener=None):
        self.path = path
        self.interval = interval
        self.listener = listener  # called with each result (tests wait on it)
        self.last: tuple[int, int, int] | None = None
        self._stop = False

    def run_once(self, conn: sqlite3.Connection) -> tuple[int, int, int]:
        """Checkpoint what no reader still needs; return (busy, wal pages, pages copied)."""
        self.last = tuple(conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone())
        if self.listener is not None:
            self.listener(self.last)
        return self.last

    def start(self) -> Checkpointer:
        """Start the native thread (a real OS thread even when gevent patched threading)."""
        start_thread, sleep = _native_thread_tools()
        self._sleep = sleep
        start_thread(self._loop, ())
        return self

    def stop(self) -> None:
        """Ask the thread to end after its current pause."""
        self._stop = True

    def _loop(self) -> None:
        conn = connect(self.path).conn
        try:
            while not self._stop:
                self._sleep(self.interval)
                try:
                    self.run_once(conn)
                except sqlite3.Error:  # busy or locked for a moment: the next round copies it
                    log.warning("WAL checkpoint of %s failed; retrying", self.path, exc_info=True)
        finally:
            conn.close()


def _native_thread_tools():
    """Return (start_new_thread, sleep) of the standard library, unpatched by gevent."""
    import _thread

    try:
        from gevent import monkey
    except ImportError:
        return _thread.start_new_thread, time.sleep
    return (monkey.get_original("_thread", "start_new_thread"),
            monkey.get_original("time", "sleep"))


def start_checkpointer(app, listener=None) -> Checkpointer | None:
    """Move this app's WAL checkpoints to a background thread (``serve`` does this on SQLite)."""
    interval = app.config.get("WAL_CHECKPOINT_SECONDS") or 0
    if interval <= 0 or is_postgresql(app.config["DATABASE"]):
        return None
    pool = app.extensions["turnos.pool"]
    pool.close()
    pool.autocheckpoint = SAFETY_AUTOCHECKPOINT
    checkpointer = Checkpointer(app.config["DATABASE"], interval, listener).start()
    app.extensions["turnos.checkpointer"] = checkpointer
    return checkpointer


# --- per request -----------------------------------------------------------------------------------

def get_db():
    """Return this request's connection, taking one from the pool on first use.

    When none could be had (the database is away), the rest of the request is told
    so at once instead of waiting for the pool again at every step.
    """
    if "db" not in g:
        if "db_unavailable" in g:
            raise g.db_unavailable
        try:
            g.db = current_app.extensions["turnos.pool"].acquire()
        except UNAVAILABLE as exc:
            g.db_unavailable = exc
            raise
    return g.db


def close_db(_exc=None) -> None:
    """Give this request's connection back to the pool."""
    db = g.pop("db", None)
    if db is not None:
        current_app.extensions["turnos.pool"].release(db)


@contextlib.contextmanager
def connection(app, timeout: float | None = None):
    """Lend a pooled connection for work outside a request (background tasks, the CLI)."""
    pool = app.extensions["turnos.pool"]
    db = pool.acquire(timeout)
    try:
        yield db
    finally:
        pool.release(db)


def ping(app, timeout: float | None = None) -> bool:
    """Run a trivial query on the database; raise when it cannot answer; tell whether it is read-only.

    PostgreSQL says so of a standby or a database set read-only; SQLite only by
    refusing a write (see ``refuses_writes``).
    """
    with connection(app, timeout) as db:
        return bool(db.execute(db.dialect.read_only).fetchone()[0])


def init_app(app) -> None:
    """Open the connection pool and register its teardown (``migrations.init_app`` brings the schema)."""
    target = app.config["DATABASE"]
    app.teardown_appcontext(close_db)
    app.extensions["turnos.pool"] = make_pool(target, cooperative=app.config.get("COOPERATIVE_SQLITE"),
                                              size=app.config.get("DATABASE_POOL_SIZE"))
