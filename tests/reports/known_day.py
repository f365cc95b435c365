"""The known day's dates and the clock helper shared by the report stories."""

from shared.clock import FrozenClock

DAY = "2026-11-25"
NEXT = "2026-11-26"


def at(clock: FrozenClock, hhmmss: str, day: str = DAY) -> None:
    """Move the clock to a local time of a day in Bogotá."""
    clock.set(f"{day}T{hhmmss}-05:00")
