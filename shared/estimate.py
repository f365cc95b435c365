"""Estimated wait for a waiting ticket.

The estimate is ``ahead × mean service time ÷ open desks`` where the mean
service time is that of the latest finished tickets of the service today
(at most 20; the service's configured default when none finished yet) and
open desks are the desks serving the service that an official holds and has
not paused (at least one, so a closed room still gives a figure).
"""

from . import store

RECENT_WINDOW_MS = 3 * 3600 * 1000


def wait_seconds(db, service: dict, ahead: int, now_ms: int) -> float:
    """Return the estimated seconds until a ticket with ``ahead`` people before it is called."""
    recent = store.recent_service_seconds(db, service["id"], now_ms - RECENT_WINDOW_MS)
    mean = sum(recent) / len(recent) if recent else float(service["default_service_seconds"])
    desks = max(1, store.open_desks_for_service(db, service["id"]))
    return round(ahead * mean / desks, 1)
