"""The supervisor's live monitor: lines, desks, kiosk printers, alerts and the staffing hint.

The page reads ``state()`` through ``GET /api/v1/reports/monitor`` and reads
it again whenever a Socket.IO event of its site arrives (the staff room gets
every ticket, desk and printer change). A watcher in the server checks the
lines every ``ALERT_INTERVAL_SECONDS`` and emits ``alert`` (kind
``wait_over_target``) to the staff room when a service's longest wait passes
its target, once until the line is back on target; the kiosks' printers raise
their own alerts (``print_failed``, ``paper_near_end``, ...).
"""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from shared import estimate, kpi, staffing, store
from shared.clock import current_clock
from shared.cluster import current_cluster
from shared.db import connection
from shared.events import current_announcer, socketio
from shared.printing.status import alert_of
from shared.queue import QueueEngine
from shared.timefmt import day_bounds_ms, iso, local_day

from . import channels as channel_figures

ALERT_INTERVAL_SECONDS = 20
HISTORY_WEEKS = 4
PAUSE_LABELS = {"break": _l("Descanso"), "lunch": _l("Almuerzo"), "training": _l("Capacitación"),
                "other": _l("Otro")}


def expected_arrivals(db, site: dict, now_ms: int) -> tuple[dict[int, float], str]:
    """Return each service's expected visits in the next hour and where the figure comes from.

    The mean of the same hour on the same weekday in the last four weeks, over
    the weeks the site received anyone that day; without such history, the
    visits of the last hour.
    """
    windows = [(now_ms - 7 * k * 86_400_000, now_ms - 7 * k * 86_400_000 + 3_600_000)
               for k in range(1, HISTORY_WEEKS + 1)]
    days = []
    for start, _end in windows:
        day = local_day(start, site["timezone"])
        days.append(day_bounds_ms(day, site["timezone"]))
    busy_days = [i for i, counts in enumerate(store.visits_between(db, site["id"], days)) if counts]
    if busy_days:
        # Walk-ins only: the appointments of the coming hours are known (staffing_hints adds them).
        per_window = store.walk_in_visits_between(db, site["id"], [windows[i] for i in busy_days])
        totals: dict[int, float] = {}
        for counts in per_window:
            for service_id, n in counts.items():
                totals[service_id] = totals.get(service_id, 0) + n
        return {k: v / len(busy_days) for k, v in totals.items()}, "history"
    last_hour = store.walk_in_visits_between(db, site["id"], [(now_ms - 3_600_000, now_ms)])[0]
    return {k: float(v) for k, v in last_hour.items()}, "last_hour"


SHOW_RATE_PRIOR = 0.85   # the share of booked citizens expected to come, before any history
COMING_HOURS = 3


def show_rate(db, site: dict, now_ms: int) -> float:
    """Return the share of booked appointments that checked in over the last four weeks."""
    due, came = store.appointment_show_rate(db, site["id"], now_ms - HISTORY_WEEKS * 7 * 86_400_000,
                                            now_ms)
    return (came + 10 * SHOW_RATE_PRIOR) / (due + 10)  # ten prior bookings: few days move it little


def staffing_hints(db, site: dict, now_ms: int) -> dict:
    """Return the Erlang C hint of every active service of a site for the next hour and the coming ones.

    Expected arrivals are the usual walk-ins of the hour plus the appointments
    booked for it, times the share of booked citizens who come (``show_rate``).
    """
    services = {s["id"]: s for s in store.list_services(db, site["id"], only_active=True)}
    handling = estimate.handling_ms(db, site, services, now_ms)
    rate = show_rate(db, site, now_ms)
    hours = []
    for k in range(COMING_HOURS):
        start = now_ms + k * 3_600_000
        walk_ins, source = expected_arrivals(db, site, start)
        booked = store.booked_between(db, site["id"], start, start + 3_600_000)
        rows = []
        for service_id, service in services.items():
            arrivals = walk_ins.get(service_id, 0.0) + booked.get(service_id, 0) * rate
            hint = staffing.hint(arrivals, handling[service_id] / 1000.0,
                                 service["target_wait_seconds"],
                                 store.open_desks_for_service(db, service_id))
            rows.append(dict(hint, service=service["code"], service_name=service["name"],
                             walk_ins_expected=round(walk_ins.get(service_id, 0.0), 2),
                             appointments_booked=booked.get(service_id, 0)))
        hours.append({"from": start, "source": source, "services": rows,
                      "desks_needed_total": sum(r["desks_needed"] for r in rows)})
    first = hours[0]
    return {"source": first["source"], "goal": staffing.SERVICE_LEVEL_GOAL,
            "services": first["services"], "desks_needed_total": first["desks_needed_total"],
            "show_rate": round(rate, 3),
            "coming_hours": [{"from": iso(h["from"], site["timezone"]),
                              "desks_needed_total": h["desks_needed_total"],
                              "appointments_booked": sum(r["appointments_booked"] for r in h["services"])}
                             for h in hours]}


def _desk_row(desk: dict, held: dict | None, engine: QueueEngine, tz: str, now_ms: int) -> dict:
    """Return one desk's line on the monitor: official, state, since when, today's count."""
    if desk["username"] is None:
        state, since = "closed", None
    elif desk["pause_reason"] is not None:
        state, since = "paused", desk["paused_at"]
    elif held is not None:
        state = held["status"]
        since = held["started_at"] if held["status"] == "serving" else held["last_called_at"]
    else:
        state = "idle"
        since = max(filter(None, (desk["session_started_at"], desk["last_closed_at"],
                                  desk["resumed_at"])), default=None)
    ticket = None
    if held is not None:
        service = engine.lookup.service(held["service_id"])
        ticket = {"id": held["id"], "code": held["code"], "service": service["code"],
                  "service_name": service["name"], "status": held["status"],
                  "recalls": held["recalls"], "called_at": iso(held["called_at"], tz),
                  "started_at": iso(held["started_at"], tz)}
    return {"id": desk["id"], "code": desk["code"], "name": desk["name"],
            "active": bool(desk["active"]), "official": desk["display_name"] or desk["username"],
            "username": desk["username"], "state": state, "since": iso(since, tz),
            "seconds": round((now_ms - since) / 1000, 1) if since else None,
            "pause_reason": desk["pause_reason"],
            "pause_label": str(PAUSE_LABELS.get(desk["pause_reason"], desk["pause_reason"] or "")),
            "ticket": ticket, "served_today": desk["served_today"] or 0}


def _printer_row(row: dict, tz: str) -> dict:
    """Return one kiosk's printer line on the monitor."""
    return {"device": row["device_id"], "name": row["device_name"],
            "status": row["status"] or "unknown", "message": row["message"] or "",
            "updated_at": iso(row["updated_at"], tz), "last_seen_at": iso(row["last_seen_at"], tz)}


def _passed_over(row: tuple | None, now_ms: int) -> dict | None:
    """Return how many later arrivals were called before a waiting ticket, and since when."""
    if not row or not row[0]:
        return None
    count, preferential, first = row
    return {"count": count, "preferential": preferential,
            "seconds": round((now_ms - first) / 1000, 1)}


def wait_alerts(lines: list[dict]) -> list[dict]:
    """Return an alert for each line whose longest wait passed its service's target."""
    out = []
    for line in lines:
        if line["waiting"] and line["longest_wait_seconds"] > line["target_wait_seconds"]:
            out.append({"kind": "wait_over_target", "level": "warning", "service": line["code"],
                        "service_name": line["name"], "waiting": line["waiting"],
                        "longest_wait_seconds": line["longest_wait_seconds"],
                        "target_wait_seconds": line["target_wait_seconds"],
                        "message": _("%(service)s: la espera más larga (%(minutes)s min) supera "
                                     "la meta de %(target)s min.", service=line["name"],
                                     minutes=int(line["longest_wait_seconds"] // 60),
                                     target=int(line["target_wait_seconds"] // 60))})
    return out


def printer_alerts(kiosks: list[dict]) -> list[dict]:
    """Return an alert for each kiosk whose printer needs a person (``shared.printing.status``)."""
    out = []
    for kiosk in kiosks:
        alert = alert_of(kiosk["status"], kiosk["name"])
        if alert is not None:
            out.append({"kind": "printer", "level": alert["level"], "device": kiosk["device"],
                        "status": kiosk["status"], "message": alert["message"]})
    return out


def state(db, site: dict, clock) -> dict:
    """Return everything the monitor shows for a site, now."""
    engine = QueueEngine(db, clock)
    engine.lookup.remember(site=site)
    now = clock.now_ms()
    tz = site["timezone"]
    day = local_day(now, tz)
    lines = engine.waiting_summary(site)
    waiting = []
    targets = {s["id"]: s["target_wait_seconds"] for s in store.list_services(db, site["id"])}
    passed = store.passed_over(db, site["id"], day)
    for t in engine.waiting_in_order(site)[:300]:  # the order of shared.priority
        position = t["position"]
        service = engine.lookup.service(t["service_id"])
        seconds = kpi.seconds(kpi.waited_ms(t, now))
        waiting.append({"id": t["id"], "code": t["code"], "service": service["code"],
                        "service_name": service["name"], "priority": t["priority"],
                        "priority_label": engine.lookup.category_label(t["priority"]),
                        "position": position, "waiting_seconds": seconds,
                        "over_target": seconds > targets.get(t["service_id"], 0),
                        "issued_at": iso(t["issued_at"], tz),
                        "passed_over": _passed_over(passed.get(t["id"]), now)})
    held = {t["desk_id"]: t for t in store.active_list(db, site["id"], day)}
    desks = [_desk_row(d, held.get(d["id"]), engine, tz, now)
             for d in store.monitor_desks(db, site["id"], day)]
    kiosks = [_printer_row(r, tz) for r in store.printer_states(db, [site["id"]])]
    hints = staffing_hints(db, site, now)
    open_by_service = {r["service"]: r["desks_open"] for r in hints["services"]}
    for line in lines:
        line["desks_open"] = open_by_service.get(line["code"], 0)
        line["over_target"] = bool(line["waiting"]) and \
            line["longest_wait_seconds"] > line["target_wait_seconds"]
    today = channel_figures.figures(db, [site], day, day)["totals"]
    return {"site": site["code"], "site_name": site["name"], "day": day,
            "channels": dict(today, appointments_pending=sum(
                1 for a in store.appointments_of_site_day(db, site["id"], day)
                if a["status"] == "booked")),
            "server_time": iso(now, tz), "services": lines, "waiting": waiting, "desks": desks,
            "kiosks": kiosks, "alerts": wait_alerts(lines) + printer_alerts(kiosks),
            "staffing": hints,
            "totals": {"waiting": sum(r["waiting"] for r in lines),
                       "served_today": sum(d["served_today"] for d in desks),
                       "desks_open": sum(1 for d in desks if d["state"] != "closed")}}


def check_waits(db, clock, announcer, memory: dict) -> list[dict]:
    """Emit ``alert`` for each line that just passed its target; return the alerts emitted.

    ``memory`` remembers which lines are already over target, so a line
    raises one alert until it is back on target.
    """
    emitted = []
    engine = QueueEngine(db, clock)
    for site in store.list_sites(db, only_active=True):
        over = {a["service"]: a for a in wait_alerts(engine.waiting_summary(site))}
        known = memory.setdefault(site["id"], set())
        for code, alert in over.items():
            if code not in known:
                payload = dict(alert, site=site["code"], site_id=site["id"])
                announcer.alert(site["id"], payload)
                emitted.append(payload)
        memory[site["id"]] = set(over)
    return emitted


def start_watcher(app) -> None:
    """Start the background task that checks the lines every ALERT_INTERVAL_SECONDS (once per app)."""
    if app.extensions.get("turnos.alert_watcher"):
        return
    app.extensions["turnos.alert_watcher"] = True

    def watch():
        memory: dict = {}
        interval = app.config.get("ALERT_INTERVAL_SECONDS", ALERT_INTERVAL_SECONDS)
        while True:
            socketio.sleep(interval)
            # With several server processes one of them raises the alerts: each alert once.
            if not current_cluster(app).holds("wait-alerts", ttl=3 * interval):
                memory.clear()  # should this process take over, it starts from what it sees
                continue
            try:
                with app.app_context(), connection(app) as db:
                    check_waits(db, current_clock(app), current_announcer(app), memory)
            except Exception:  # a bad moment must not stop the watcher for the day
                app.logger.exception("alert watcher")

    socketio.start_background_task(watch)
