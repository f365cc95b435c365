"""The next free appointment slot of the demo site, on the site's own calendar."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from tests.conftest import DEMO_ADMIN


def next_free_slot(live_server, service: str = "A", site: str = "cam-centro") -> tuple[str, dict]:
    """Return (local day, slot) of the soonest free slot: today's at the site, else tomorrow's first.

    "Today" is the site's day, not this machine's: at 20:00 in Bogotá the machine's UTC clock is
    already on the next day (a booking made for it was hours away and refused at the kiosk). The
    demo is open all day, so when today has no slot left, tomorrow's first one (00:00) is minutes
    away and inside its check-in window.
    """
    admin = live_server.token(*DEMO_ADMIN)
    sites = live_server.call(admin, "GET", "/api/v1/sites").json()["sites"]
    zone = ZoneInfo(next(s for s in sites if s["code"] == site)["timezone"])
    today = datetime.now(zone).date()
    for day in (today, today + timedelta(days=1)):
        slots = live_server.call(None, "GET", f"/api/v1/public/sites/{site}/slots?service={service}"
                                 f"&day={day.isoformat()}").json()["slots"]
        if slots:
            return day.isoformat(), slots[0]
    raise AssertionError(f"no free slot today or tomorrow at {site}")
