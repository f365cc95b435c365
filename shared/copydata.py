"""Move a city's data between engines: every table, ids intact (``run.py copy-data``).

The target gets the same schema (its migrations are applied first) and must
hold no data: only the priority categories its first migration seeds, which
the source's replace. Rows go in foreign-key order, each table in id order (a
transfer's segment points at an earlier one), with booleans and days turned
into what the target engine stores. Identity sequences on PostgreSQL continue
after the highest id copied, so the next ticket gets the next id.

``waiting_counts`` is not copied: the target's triggers rebuild it from the
waiting tickets as they arrive, which is what it is by definition.
"""

from __future__ import annotations

import logging
import sqlite3

from . import migrations, store
from .db import connect, immediate, is_postgresql, safe_url
from .errors import Conflict, Forbidden

log = logging.getLogger(__name__)

DERIVED = {"waiting_counts"}         # rebuilt by the target's own triggers
SEEDED = {"priority_categories"}     # the first migration fills it; the source's replace it
BATCH = 5000


def tables_in_order(db) -> list[str]:
    """Return the data tables, each after every table it points at."""
    tables = [r[0] for r in db.execute(db.dialect.tables).fetchall()]
    parents: dict[str, set[str]] = {t: set() for t in tables}
    for child, _column, parent, _parent_column in db.execute(db.dialect.foreign_keys).fetchall():
        if child in parents and parent != child:
            parents[child].add(parent)
    ordered: list[str] = []
    while parents:
        ready = sorted(t for t, deps in parents.items() if not deps - set(ordered))
        if not ready:
            raise RuntimeError(f"foreign keys form a cycle among {sorted(parents)}")
        ordered.extend(ready)
        for t in ready:
            del parents[t]
    return [t for t in ordered if t not in DERIVED]


def occupied(db) -> dict[str, int]:
    """Return the tables of a database that hold data (and how many rows), seeded categories aside."""
    out = {}
    for table in tables_in_order(db):
        count = db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        if count and not (table in SEEDED and _only_seeded(db)):
            out[table] = count
    return out


def _only_seeded(db) -> bool:
    """Tell whether the priority categories are exactly the ones the first migration seeds."""
    codes = sorted(r[0] for r in db.execute("SELECT code FROM priority_categories").fetchall())
    return codes == sorted(row[0] for row in migrations.DEFAULT_CATEGORIES)


def copy(source_target: str, destination: str, *, echo=None) -> dict[str, int]:
    """Copy every table of one database into another (empty) one; return the rows copied per table."""
    echo = echo or (lambda _line: None)
    _up_to_date(source_target)
    _up_to_date(destination)
    source = connect(source_target)
    target = connect(destination)
    try:
        full = occupied(target)
        if full:
            raise Conflict(f"the target database {safe_url(destination)} already holds data "
                           f"({', '.join(f'{t}: {n}' for t, n in full.items())}); copy-data writes "
                           "only into an empty database", code="target_not_empty")
        tables = tables_in_order(source)
        counts: dict[str, int] = {}
        with immediate(target):
            for table in reversed(tables):
                if table in SEEDED:
                    target.execute(f'DELETE FROM "{table}"')
            for table in tables:
                counts[table] = _copy_table(source, target, table)
                echo(f"{table}: {counts[table]} rows")
            if is_postgresql(destination):
                continue_sequences(target, tables)
        return counts
    finally:
        source.close()
        target.close()


def _up_to_date(target: str) -> None:
    """Bring a database's schema up to date; a SQLite file this user may not write is named."""
    try:
        migrations.apply(target)
    except sqlite3.OperationalError as exc:
        if is_postgresql(target):
            raise
        raise Forbidden(f"{target} cannot be written here ({exc}): copy-data brings its schema up to "
                        "date first, so run it as the user who owns that file and its folder (the "
                        "one that ran scripts/start, usually root). Nothing was copied.",
                        code="database_not_writable") from None


def _copy_table(source, target, table: str) -> int:
    """Copy one table's rows in id order (or as stored); return how many."""
    cursor = source.execute(f'SELECT * FROM "{table}" LIMIT 0')
    names = [d[0] for d in cursor.description]
    order = ' ORDER BY "id"' if "id" in names else ""
    flags = [i for i, n in enumerate(names) if n in store.BOOLEAN_COLUMNS]
    to_bool = is_postgresql(getattr(target, "path", "")) and flags
    quoted = ", ".join(f'"{n}"' for n in names)
    marks = ", ".join("?" for _ in names)
    insert = f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})'
    rows = source.execute(f'SELECT {quoted} FROM "{table}"{order}')
    total = 0
    while True:
        batch = rows.fetchmany(BATCH)
        if not batch:
            return total
        values = [list(r) for r in batch]
        if to_bool:
            for row in values:
                for i in flags:
                    if row[i] is not None:
                        row[i] = bool(row[i])
        target.executemany(insert, values)
        total += len(values)


def continue_sequences(db, tables: list[str]) -> None:
    """Make every identity column continue after the highest id copied (PostgreSQL)."""
    identities = {r[0] for r in db.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND column_name = 'id' AND is_identity = 'YES'").fetchall()}
    for table in tables:
        if table in identities:
            sequence = db.execute("SELECT pg_get_serial_sequence(?, 'id')", [table]).fetchone()[0]
            db.execute(f"SELECT setval(?, coalesce((SELECT max(id) FROM \"{table}\"), 0) + 1, false)",
                       [sequence]).fetchone()
