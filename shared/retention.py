"""Data retention: close-day deletes each site's tickets older than its retention period, and
tidies the channels (missed appointments, contacts of finished visits, counts of phones)."""

from . import appointments, notify, store
from .clock import current_clock
from .db import immediate
from .timefmt import local_day

DAY_MS = 24 * 3600 * 1000


def cutoff_day(site: dict, now_ms: int) -> str | None:
    """Return the first local day a site keeps (older days are purged), or None to keep all."""
    days = site.get("retention_days")
    if not days:
        return None
    return local_day(now_ms - days * DAY_MS, site["timezone"])


def purge_expired(db) -> str:
    """Delete the closed tickets, their events, ratings and ID hashes older than each site keeps.

    Runs after ``close-day`` (``server.cli.after_close_day``). Rows that point at a
    purged ticket through a foreign key go with it; tables that only hold
    totals are left untouched. Returns one line per purged site.
    """
    now = current_clock().now_ms()
    lines = []
    for site in store.list_sites(db):
        first_kept = cutoff_day(site, now)
        if first_kept is None:
            continue
        with immediate(db):
            counts = store.purge_site_before(db, site["id"], first_kept)
            if counts.get("tickets"):
                store.audit(db, now, None, "retention.purge", f"site:{site['code']}",
                            dict(counts, before=first_kept))
        removed = ", ".join(f"{n} {table}" for table, n in sorted(counts.items()) if n)
        lines.append(f"{site['code']}: retention {site['retention_days']} days, data before "
                     f"{first_kept} purged ({removed or 'nothing to purge'})")
    return "\n".join(lines)


def tidy_channels(db) -> str:
    """Close missed appointments, delete the contacts of finished visits, forget old phone counts.

    Runs after ``close-day`` (``server.cli.after_close_day``), so a contact never
    outlives the visit it was given for (Ley 1581 de 2012).
    """
    now = current_clock().now_ms()
    missed = appointments.mark_no_shows(db, now)
    purged = notify.purge_contacts(db, now)
    with immediate(db):
        store.forget_remote_takers(db, local_day(now - DAY_MS, "UTC"))
    return f"channels: {missed} missed appointments, {purged} contacts deleted"
