"""One injectable clock, so tests can move through days without sleeping."""

import threading
import time
from datetime import UTC, datetime

from flask import current_app

# Where the app keeps its clock (read through ``current_clock``).
EXTENSION = "turnos.clock"


class SystemClock:
    """The real wall clock, in UTC milliseconds."""

    def now_ms(self) -> int:
        """Return the current time as integer milliseconds since the epoch (UTC)."""
        return time.time_ns() // 1_000_000

    def now(self) -> datetime:
        """Return the current time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.now_ms() / 1000, UTC)


class FrozenClock(SystemClock):
    """A clock that only moves when told to; for tests and simulations."""

    def __init__(self, start: datetime | str | int):
        self._lock = threading.Lock()
        self._ms = _to_ms(start)

    def now_ms(self) -> int:
        """Return the frozen time in milliseconds."""
        with self._lock:
            return self._ms

    def set(self, when: datetime | str | int) -> None:
        """Jump to an absolute time."""
        with self._lock:
            self._ms = _to_ms(when)

    def advance(self, seconds: float = 0, *, minutes: float = 0, hours: float = 0,
                days: float = 0) -> int:
        """Move forward by the given amount and return the new time in ms."""
        delta = seconds + 60 * minutes + 3600 * hours + 86400 * days
        if delta < 0:
            raise ValueError("a clock does not go backwards")
        with self._lock:
            self._ms += round(delta * 1000)
            return self._ms


def _to_ms(when: datetime | str | int) -> int:
    """Convert an aware datetime, an ISO 8601 string or ms to epoch milliseconds."""
    if isinstance(when, int):
        return when
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    if when.tzinfo is None:
        raise ValueError("the clock needs an aware datetime (with a UTC offset)")
    return round(when.timestamp() * 1000)


def init_app(app, clock: SystemClock | None = None) -> None:
    """Give an app its clock (the wall clock unless a test brings a frozen one)."""
    app.extensions[EXTENSION] = clock or SystemClock()


def current_clock(app=None) -> SystemClock:
    """Return the app's clock (this request's app unless given)."""
    return (app or current_app).extensions[EXTENSION]
