"""Conversions between stored UTC milliseconds and a site's local time."""

from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "America/Bogota"
# The days Turnos can hold: any question about a day outside them is refused as not a day
# (date arithmetic a few days either side must stay inside what Python and both engines store).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)


def parse_day(value: str) -> date:
    """Parse a YYYY-MM-DD day within FIRST_DAY..LAST_DAY; raise ValueError otherwise."""
    day = date.fromisoformat(value)
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(value)
    return day


@lru_cache(maxsize=64)
def zone(name: str | None) -> ZoneInfo:
    """Return the ZoneInfo for a time zone name (the default zone when empty)."""
    return ZoneInfo(name or DEFAULT_TIMEZONE)


def is_valid_zone(name: str) -> bool:
    """Tell whether a time zone name is known to this machine."""
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False


def local_datetime(ms: int, tz: str | None) -> datetime:
    """Return the aware local datetime of a UTC millisecond timestamp."""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(zone(tz))


def iso(ms: int | None, tz: str | None = None) -> str | None:
    """Format a timestamp as ISO 8601 with milliseconds and the site's UTC offset."""
    if ms is None:
        return None
    return local_datetime(ms, tz).isoformat(timespec="milliseconds")


def local_day(ms: int, tz: str | None) -> str:
    """Return the local calendar day (YYYY-MM-DD) of a timestamp at a site."""
    return local_datetime(ms, tz).date().isoformat()


def day_bounds_ms(day: str | date, tz: str | None) -> tuple[int, int]:
    """Return [start, end) in UTC ms of a local calendar day at a site."""
    d = date.fromisoformat(day) if isinstance(day, str) else day
    start = datetime(d.year, d.month, d.day, tzinfo=zone(tz))
    end = datetime.fromordinal(d.toordinal() + 1).replace(tzinfo=zone(tz))
    return round(start.timestamp() * 1000), round(end.timestamp() * 1000)


def ticket_time(ms: int, tz: str | None) -> str:
    """Format a timestamp the way a citizen reads it on a ticket (dd/mm/yyyy hh:mm)."""
    return local_datetime(ms, tz).strftime("%d/%m/%Y %H:%M")
