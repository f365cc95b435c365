"""Opening hours: whether a site or service takes tickets at a local time.

Hours are stored as JSON: ``{"mon": [["07:00", "12:00"], ["13:00", "17:00"]], ...}``
with keys mon..sun. An empty object means "always open"; a weekday missing
from a non-empty object means closed that day. Holidays are a list of
``YYYY-MM-DD`` local dates on which the place is closed.
"""

import json
import re
from datetime import datetime
from functools import lru_cache

from flask_babel import lazy_gettext as _l

from .errors import Invalid

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def parse_hours(value) -> dict:
    """Validate opening hours (JSON text or dict) and return them as a dict."""
    hours = json.loads(value) if isinstance(value, str) else (value or {})
    if not isinstance(hours, dict):
        raise Invalid(_l("El horario debe ser un objeto por día de la semana."), code="invalid_hours")
    for day, ranges in hours.items():
        if day not in WEEKDAYS or not isinstance(ranges, list):
            raise Invalid(_l("Día de horario no válido: «%(d)s» (use mon..sun).", d=day),
                          code="invalid_hours")
        for pair in ranges:
            if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                    or not all(isinstance(x, str) and _HHMM.match(x) for x in pair)
                    or pair[0] >= pair[1]):
                raise Invalid(_l("Franja horaria no válida en «%(d)s»: use [\"07:00\", \"12:00\"].",
                                 d=day), code="invalid_hours")
    return hours


@lru_cache(maxsize=256)
def _stored_hours(text: str) -> dict:
    """Return stored hours (JSON text) parsed once; callers only read them."""
    return parse_hours(text)


@lru_cache(maxsize=256)
def _stored_holidays(text: str) -> frozenset:
    """Return stored holidays (JSON text) parsed once."""
    return frozenset(json.loads(text))


def _schedule(hours, holidays) -> tuple[dict, frozenset | list]:
    """Return hours and holidays as given (stored JSON text, or values a form just parsed)."""
    return (_stored_hours(hours) if isinstance(hours, str) else parse_hours(hours),
            _stored_holidays(holidays) if isinstance(holidays, str) else (holidays or []))


def is_open(hours, holidays, local: datetime) -> bool:
    """Tell whether a place with these hours and holidays is open at a local time."""
    hours, days_off = _schedule(hours, holidays)
    if local.date().isoformat() in days_off:
        return False
    if not hours:
        return True
    hhmm = local.strftime("%H:%M")
    return any(start <= hhmm < end for start, end in hours.get(WEEKDAYS[local.weekday()], []))


def day_over(hours, holidays, local: datetime) -> bool:
    """Tell whether a place with these hours has closed for the rest of its local day at ``local``.

    Always open (empty hours) is never over; a holiday, or a weekday without hours,
    is over all day; otherwise the day is over from the end of its last opening range.
    """
    hours, days_off = _schedule(hours, holidays)
    if local.date().isoformat() in days_off:
        return True
    if not hours:
        return False
    ranges = hours.get(WEEKDAYS[local.weekday()], [])
    return not ranges or local.strftime("%H:%M") >= max(end for _start, end in ranges)
