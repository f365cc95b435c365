"""Backups a municipality can trust: a consistent copy of the live database (``run.py backup``).

- **SQLite**: SQLite's online backup API copies the database page by page
  while the server goes on serving; the copy is one consistent moment (the
  write-ahead log included) and opens, migrates and serves like the original.
  A restore is: stop the server, put the copy in the instance folder as
  ``turnos.sqlite3``, start the server.
- **PostgreSQL**: ``pg_dump --format=custom`` (a consistent snapshot taken in
  one transaction, without stopping anything); restore with ``pg_restore``
  into an empty database (README, "Backups").

With a folder as destination a dated file is made in it, and ``keep`` removes
the oldest ones beyond that number (the nightly systemd timer uses it).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from . import store
from .db import is_postgresql

PREFIX = "turnos-"
LAST_BACKUP = "last_backup"     # the setting that remembers the last copy taken
STALE_AFTER_MS = 36 * 3600_000  # a nightly copy missed once: the administrator is told the next day


def backup(target: str, destination: Path, *, keep: int | None = None) -> Path:
    """Copy the database at ``target`` to ``destination`` (a file, or a folder); return the file."""
    postgres = is_postgresql(target)
    suffix = ".dump" if postgres else ".sqlite3"
    if destination.is_dir():
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = destination / f"{PREFIX}{stamp}{suffix}"
    else:
        path = destination
        path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    if postgres:
        _pg_dump(target, partial)
    else:
        _sqlite_backup(target, partial)
    partial.replace(path)  # a backup half written is never mistaken for a whole one
    if keep is not None and destination.is_dir():
        prune(destination, suffix, keep)
    return path


def record(db, path: Path, now_ms: int) -> None:
    """Remember the copy just taken, in the database: every process's overview shows it."""
    store.set_setting(db, LAST_BACKUP, json.dumps({"at": now_ms, "path": str(path),
                                                   "bytes": path.stat().st_size}))


def last(db, now_ms: int) -> dict | None:
    """Return the last copy Turnos took (at, path, bytes, and whether it is stale), or None."""
    value = store.get_setting(db, LAST_BACKUP)
    if value is None:
        return None
    taken = json.loads(value)
    return dict(taken, stale=now_ms - taken["at"] > STALE_AFTER_MS)


def _sqlite_backup(source: str, path: Path) -> None:
    """Copy a live SQLite database with its online backup API, a few pages at a time."""
    if not Path(source).exists():
        raise RuntimeError(f"no database at {source}")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(str(path))
    try:
        src.backup(dst)  # in one step: a read transaction, which never blocks WAL writers
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()


def _pg_dump(url: str, path: Path) -> None:
    """Dump a PostgreSQL database in pg_dump's custom format."""
    program = shutil.which("pg_dump")
    if program is None:
        raise RuntimeError("pg_dump is not installed (apt-get install postgresql-client)")
    result = subprocess.run([program, "--format=custom", "--no-owner", "--file", str(path),
                             "--dbname", url], capture_output=True, text=True)
    if result.returncode != 0:
        path.unlink(missing_ok=True)
        raise RuntimeError(f"pg_dump failed: {result.stderr.strip()}")


def prune(folder: Path, suffix: str, keep: int) -> list[Path]:
    """Remove the oldest backups in a folder beyond ``keep``; return those removed."""
    backups = sorted(folder.glob(f"{PREFIX}*{suffix}"))
    doomed = backups[:-keep] if len(backups) > keep else []
    for path in doomed:
        path.unlink()
    return doomed
