"""Rate limits: logins, tokens, tickets a device issues, ratings, bookings.

The counting is the ``limits`` library's (the one Flask-Limiter is built on):
fixed windows in the storage ``RATELIMIT_STORAGE_URI`` names, ``memory://``
for the one embedded process, ``redis://host:6379/1`` when several server
processes must share the counters. This module only applies a limit to the
views that carry one, so a request to any other view pays nothing for it
(Flask-Limiter's hooks ran on every request: a fifth of an issued ticket's
server time). A refusal is a 429 with ``{"error": "rate_limited", "message":
...}`` (rendered by the app's HTTP error handler) and ``Retry-After``.

Windows follow the application's clock (a key names its window), so a frozen
clock in tests moves them as it moves time. While a shared storage is away,
each process counts alone in its memory with the same limits, and looks again
after 1, 2, 4 ... 32 s: a Redis restart must not refuse every kiosk's ticket
and every sign-in.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable

from flask import current_app, request
from limits import RateLimitItemPerSecond
from limits.errors import StorageError
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import TooManyRequests

from .clock import current_clock

log = logging.getLogger(__name__)

EXTENSION = "turnos.ratelimit"
LONGEST_PAUSE = 32  # seconds between looks at a storage that is away, at most


class Counters:
    """One application's counters: in the configured storage, in memory while it is away."""

    def __init__(self, uri: str):
        # A storage that does not answer must not hold a kiosk's request for long.
        options = {"socket_connect_timeout": 2, "socket_timeout": 2} \
            if uri.startswith(("redis://", "rediss://", "unix://")) else {}
        self.storage = storage_from_string(uri, wrap_exceptions=True, **options)
        self.shared = FixedWindowRateLimiter(self.storage)
        self.local = FixedWindowRateLimiter(MemoryStorage())
        self.look_again_at: float | None = None  # None: the storage answers
        self.pause = 1

    def allows(self, item, keys: tuple[str, ...], *, count: bool) -> bool:
        """Tell whether one more hit fits in the window (counting it when ``count``)."""
        counters = self._current()
        try:
            return (counters.hit if count else counters.test)(item, *keys)
        except StorageError as exc:
            if counters is self.local:
                raise
            log.warning("rate-limit storage unreachable, counting in this process: %s", exc)
            self.look_again_at = time.monotonic() + self.pause
            return (self.local.hit if count else self.local.test)(item, *keys)

    def _current(self) -> FixedWindowRateLimiter:
        """Return the counters to use now, looking again at an absent storage when it is time."""
        if self.look_again_at is None:
            return self.shared
        if time.monotonic() < self.look_again_at:
            return self.local
        try:
            back = self.storage.check()
        except StorageError:
            back = False
        if back:
            log.info("rate-limit storage answers again")
            self.look_again_at, self.pause = None, 1
            return self.shared
        self.pause = min(self.pause * 2, LONGEST_PAUSE)
        self.look_again_at = time.monotonic() + self.pause
        return self.local


def init_app(app) -> None:
    """Give the application its counters (refusing a storage URI nobody knows, at start)."""
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.extensions[EXTENSION] = Counters(app.config["RATELIMIT_STORAGE_URI"] or "memory://")


def counters(app=None) -> Counters:
    """Return an application's counters (this request's by default)."""
    return (app or current_app).extensions[EXTENSION]


@functools.lru_cache(maxsize=64)
def _item(hits: int, seconds: int) -> RateLimitItemPerSecond:
    return RateLimitItemPerSecond(hits, seconds)


def _address() -> str:
    return request.remote_addr or ""


def limit(name: str, rate, key: Callable[[], str] = _address, *,
          exempt_when: Callable[[], bool] | None = None, only_created: bool = False,
          methods: list[str] | None = None, on_breach: Callable[[], object] | None = None):
    """Decorate a view: at most ``rate`` = (hits, seconds) — or a config key holding it — per key.

    Each view counts apart (a name used on two views keeps two counters).
    ``only_created`` counts only answers 201 (a new ticket, not a repeated one);
    ``methods`` limits only those methods; ``on_breach`` may return the page to
    answer with instead of the JSON refusal.
    """

    def decorator(view):
        @functools.wraps(view)
        def limited(*args, **kwargs):
            if (methods and request.method not in methods) or (exempt_when and exempt_when()):
                return view(*args, **kwargs)
            hits, seconds = current_app.config[rate] if isinstance(rate, str) else rate
            item = _item(int(hits), int(seconds))
            now = current_clock().now_ms()
            window_ms = item.get_expiry() * 1000
            keys = (name, request.endpoint or "", key(), str(now // window_ms))
            store = counters()
            if not store.allows(item, keys, count=not only_created):
                log.info("rate limit %s/%ss reached for %s", hits, seconds, keys[:3])
                retry_after = max(1, -(-(window_ms - now % window_ms) // 1000))
                raise TooManyRequests(response=on_breach() if on_breach else None,
                                      retry_after=retry_after)
            response = current_app.make_response(view(*args, **kwargs))
            if only_created and response.status_code == 201:
                store.allows(item, keys, count=True)
            return response

        return limited

    return decorator
