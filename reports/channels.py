"""Appointments and turns from phones in the reports and the live monitor.

Definitions (``reports/README.md``, "Appointments and turns from phones"):

- **booked**: appointments of the period (by the day of their slot) not cancelled;
  **cancelled**, **moved** (at least once), **checked in**, **no-show** (booked,
  never checked in, window closed); no-show rate = no-shows ÷ (checked in + no-shows).
- **punctuality**: check-in − slot start, in minutes (negative: early); early and
  late counts, p50 and p90 of the absolute difference.
- **wait from slot time**: first call − the later of the slot's start and the
  check-in (the appointment ticket's place in the line), p50 and p90 in minutes.
- **turns from phones**: taken, confirmed (arrival confirmed at the kiosk or the
  entrance QR), never confirmed (closed unconfirmed: their no-shows before being
  called), awaiting arrival now, called, and called but not there (no-show).

They are computed from the appointment and ticket rows on each request (never
stored): both are final once their day is closed, so a past period reads the
same every time, until the retention purge removes its rows.
"""

from shared import kpi, store

MINUTE_MS = 60_000


def figures(db, sites: list[dict], day_from: str, day_to: str) -> dict:
    """Return the appointment and phone-turn figures of a period, per site and service and in total."""
    site_ids = [s["id"] for s in sites]
    names = {}
    for site in sites:
        for service in store.list_services(db, site["id"]):
            names[service["id"]] = (site["code"], service["code"], service["name"])
    rows: dict[int, dict] = {}

    def row(service_id: int) -> dict:
        if service_id not in rows:
            site_code, code, name = names.get(service_id, ("", "", ""))
            rows[service_id] = {"site": site_code, "service": code, "service_name": name,
                                **{k: 0 for k in APPOINTMENT_KEYS + REMOTE_KEYS}}
        return rows[service_id]

    for (_site, service_id, booked, cancelled, moved, checked_in, no_show, early, late,
         _off_sum, _off_n, _wait_sum, _wait_n) in store.channel_report(db, site_ids, day_from, day_to):
        r = row(service_id)
        r.update(booked=booked, cancelled=cancelled, moved=moved, checked_in=checked_in,
                 no_show=no_show, early=early, late=late)
    for (_site, service_id, taken, confirmed, never, awaiting, called,
         called_no_show) in store.remote_report(db, site_ids, day_from, day_to):
        r = row(service_id)
        r.update(remote_taken=taken, remote_confirmed=confirmed, remote_never_confirmed=never,
                 remote_awaiting=awaiting, remote_called=called, remote_no_show=called_no_show)
    offsets, waits = [], []
    for offset, wait in store.punctuality_values(db, site_ids, day_from, day_to):
        offsets.append(offset)
        if wait is not None:
            waits.append(wait)
    totals = {k: sum(r[k] for r in rows.values()) for k in APPOINTMENT_KEYS + REMOTE_KEYS}
    for r in [*rows.values(), totals]:
        rate = kpi.ratio(r["no_show"], r["checked_in"] + r["no_show"])
        r["no_show_rate"] = round(rate, 6) if rate is not None else None
    totals.update(_minutes("punctuality", sorted(abs(o) for o in offsets)))
    totals.update(_minutes("wait_from_slot", sorted(waits)))
    totals["punctuality_mean_minutes"] = (round(sum(offsets) / len(offsets) / MINUTE_MS, 1)
                                          if offsets else None)
    return {"from": day_from, "to": day_to, "sites": [s["code"] for s in sites],
            "rows": sorted(rows.values(), key=lambda r: (r["site"], r["service"])),
            "totals": totals}


APPOINTMENT_KEYS = ("booked", "cancelled", "moved", "checked_in", "no_show", "early", "late")
REMOTE_KEYS = ("remote_taken", "remote_confirmed", "remote_never_confirmed", "remote_awaiting",
               "remote_called", "remote_no_show")


def _minutes(name: str, values: list[int]) -> dict:
    """Return the p50 and p90 of times in ms, as minutes."""
    out = {}
    for p in kpi.PERCENTILES:
        value = kpi.percentile(values, p) if values else None
        out[f"{name}_p{int(p * 100)}_minutes"] = round(value / MINUTE_MS, 1) if value is not None else None
    return out
