"""Configuration rows every request reads (sites, services, desks, categories), kept seconds per process.

A call or a ticket reads its site, service and desk several times; they change
a few times a day. Each server process keeps the rows it read for
``CONFIG_CACHE_SECONDS`` (5 s by default; 0 turns the cache off, as the tests
do so that a row changed by hand is read again). A change made through the
application (the administration pages announce it as ``config_changed``)
forgets them at once in every process; a change made from outside (a SQL
console, ``run.py load-layout`` in another process) is seen within those
seconds.
"""

from __future__ import annotations

import threading
import time

from flask import current_app, has_app_context

from . import store

_rows: dict[tuple, tuple[float, object]] = {}
_lock = threading.Lock()


def _seconds() -> float:
    """Return how long a row may be kept in this process (0: not at all)."""
    if not has_app_context():
        return 0
    return float(current_app.config.get("CONFIG_CACHE_SECONDS") or 0)


def _kept(db, kind: str, key, load):
    """Return a configuration row (a copy), from this process's memory when still fresh."""
    seconds = _seconds()
    if seconds <= 0:
        return load()
    slot = (db.path, kind, key)
    now = time.monotonic()
    hit = _rows.get(slot)
    if hit is not None and hit[0] > now:
        value = hit[1]
    else:
        value = load()
        with _lock:
            _rows[slot] = (now + seconds, value)
    return dict(value) if isinstance(value, dict) else value


def forget() -> None:
    """Forget every kept row (configuration changed)."""
    with _lock:
        _rows.clear()


def site_by_id(db, site_id: int) -> dict | None:
    """Return a site by id."""
    return _kept(db, "site", site_id, lambda: store.site_by_id(db, site_id))


def service_by_id(db, service_id: int) -> dict | None:
    """Return a service by id."""
    return _kept(db, "service", service_id, lambda: store.service_by_id(db, service_id))


def desk_by_id(db, desk_id: int) -> dict | None:
    """Return a desk by id."""
    return _kept(db, "desk", desk_id, lambda: store.desk_by_id(db, desk_id))


def find_site(db, ident) -> dict | None:
    """Return a site by code or id."""
    return _kept(db, "site-ident", str(ident), lambda: store.find_site(db, ident))


def find_service(db, site_id: int, ident) -> dict | None:
    """Return a service of a site by code or id."""
    return _kept(db, "service-ident", (site_id, str(ident)),
                 lambda: store.find_service(db, site_id, ident))


def find_desk(db, ident, site_id: int | None = None) -> dict | None:
    """Return a desk by id, ``site:code`` or code within a site."""
    return _kept(db, "desk-ident", (str(ident), site_id), lambda: store.find_desk(db, ident, site_id))


def categories(db) -> list[dict]:
    """Return every priority category."""
    return _kept(db, "categories", None, lambda: store.list_categories(db))
