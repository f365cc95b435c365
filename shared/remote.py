"""A turn taken from a phone before arriving (the remote queue), confirmed on arrival.

Where a site allows it (``shared.channels``: ``[remote]``), a citizen takes a
ticket for a service from the public page. The ticket takes its place in the
line at once (so the status page tells how many are ahead and when to leave
home), but its citizen is not in the room: it is *awaiting arrival*
(``tickets.arrived`` false) and the claim skips it (``shared.priority``), so no
one is called to an empty room. On arrival the citizen confirms at the kiosk
(the arrival code, typed or scanned from the phone) or by scanning the site's
entrance QR with the phone that took the ticket; from then on the ticket is
called at the place it took. A ticket never confirmed is closed as abandoned
(automatic, event reason ``unconfirmed``) once tickets of its service that
arrived after it have been called for ``arrival_grace_minutes``, and at the
end of the day at the latest.

**Limits.** A phone (a random cookie, counted per site and local day) takes at
most ``per_device`` tickets a day, and each address at most ten an hour (a rate
limit). Taking one is closed while ``max_waiting`` citizens wait for the
service, when the site or the service is closed, and from
``stop_before_close_minutes`` before the place closes.
"""

import hashlib
from datetime import timedelta

from flask_babel import lazy_gettext as _l

from . import appointments, channels, estimate, events, store
from .db import immediate
from .errors import Closed, Conflict, Forbidden, NotFound
from .hours import WEEKDAYS, parse_hours
from .queue import STATUS_LABELS, Actor, QueueEngine
from .timefmt import local_datetime

MINUTE = 60_000


def device_key(cookie_value: str) -> str:
    """Return what is stored of a phone's cookie: a hash (the cookie itself is the only key)."""
    return hashlib.sha256(cookie_value.encode()).hexdigest()[:32]


def closes_in_minutes(site: dict, service: dict, now_ms: int) -> float | None:
    """Return the minutes until the site or the service closes (None: open all day or no hours)."""
    local = local_datetime(now_ms, site["timezone"])
    hhmm = local.strftime("%H:%M")
    ends = []
    for hours in (site["opening_hours"], service["opening_hours"]):
        parsed = parse_hours(hours or "{}")
        if not parsed:
            continue
        ranges = parsed.get(WEEKDAYS[local.weekday()], [])
        for start, end in ranges:
            if start <= hhmm < end:
                ends.append(end)
    if not ends:
        return None
    end = min(ends)
    hour, minute = (int(x) for x in end.split(":"))
    closing = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
    return (closing - local) / timedelta(minutes=1)


def availability(engine: QueueEngine, site: dict, service: dict, config: dict) -> dict:
    """Tell whether a citizen may take a ticket for a service from a phone now, and why not."""
    remote = config["remote"]
    codes = channels.remote_service_codes(config, [service])
    if not codes:
        return {"open": False, "reason": "not_offered",
                "message": str(_l("Este trámite no admite turnos desde el celular."))}
    if not engine.is_open(site, service):
        return {"open": False, "reason": "closed",
                "message": str(_l("La sede no está atendiendo este trámite en este momento."))}
    left = closes_in_minutes(site, service, engine.clock.now_ms())
    if left is not None and left < remote["stop_before_close_minutes"]:
        return {"open": False, "reason": "closing_soon",
                "message": str(_l("La sede cierra pronto: ya no se toman turnos desde el celular "
                                  "para hoy."))}
    waiting = store.waiting_in_service(engine.db, service["id"], engine.today(site))
    if waiting["general"] + waiting["preferential"] >= remote["max_waiting"]:
        return {"open": False, "reason": "line_long",
                "message": str(_l("La fila de este trámite está muy larga: por ahora no se toman "
                                  "turnos desde el celular. Intente más tarde."))}
    return {"open": True, "reason": None, "message": ""}


def take(engine: QueueEngine, site: dict, service_code, device: str, *, email=None,
         phone=None) -> dict:
    """Take a ticket from a phone (awaiting arrival); return the ticket row."""
    db = engine.db
    config = channels.settings(db, site)
    service = store.find_service(db, site["id"], service_code) if isinstance(service_code, str) else None
    if service is None:
        raise NotFound(_l("Ese trámite no existe en esta sede."), code="unknown_service",
                       field="service")
    state = availability(engine, site, service, config)
    if not state["open"]:
        raise Closed(state["message"], code=state["reason"])
    contact = appointments.contact_values(config, email, phone)
    day = engine.today(site)
    with immediate(db):
        store.lock_site(db, site["id"])
        if store.add_remote_taken(db, device, site["id"], day) > config["remote"]["per_device"]:
            raise Forbidden(_l("Ya tomó los turnos permitidos hoy desde este celular (%(n)s).",
                               n=config["remote"]["per_device"]), code="device_limit")
        issued = engine.issue(site, service["id"], None, Actor(), channel="remote",
                              awaiting_arrival=True, checkin_code=appointments.new_code())
        ticket = store.ticket_by_id(db, issued["id"])
        if contact:
            store.insert_contact(db, site["id"], engine.clock.now_ms(), visit_id=ticket["visit_id"],
                                 **contact)
    return ticket


def confirm(engine: QueueEngine, ticket: dict, actor: Actor | None = None, how: str = "kiosk") -> dict:
    """Confirm that the citizen of a ticket from a phone arrived: from now on it can be called."""
    db = engine.db
    now = engine.clock.now_ms()
    if ticket["channel"] != "remote":
        raise Conflict(_l("Este turno no es de los tomados desde el celular."), code="not_remote")
    if ticket.get("arrived") and ticket["status"] == "waiting":
        return ticket  # confirming twice (kiosk and QR) changes nothing
    actor = actor or Actor()
    with immediate(db):
        store.lock_site(db, ticket["site_id"])
        arrived = store.confirm_arrival(db, ticket["id"], now)
        if arrived is None:
            fresh = store.ticket_by_id(db, ticket["id"])
            raise Conflict(_l("Este turno ya no está en espera: está %(s)s.",
                              s=_status_label(fresh["status"])), code="not_waiting")
        store.insert_event(db, arrived, "arrived", now, user_id=actor.user_id,
                           device_id=actor.device_id, data={"how": how})
    estimate.invalidate(arrived["site_id"])
    engine.announce.ticket_status(arrived)
    engine.announce.ticket_changed(events.TICKET_ARRIVED, arrived, engine.lookup)
    engine.announce.queue_changed(arrived["site_id"],
                                  lambda: engine.waiting_summary(engine.lookup.site(arrived["site_id"])))
    return arrived


def _status_label(status: str) -> str:
    """Return a ticket status in words."""
    return str(STATUS_LABELS[status])


def deadline(db, site: dict, ticket: dict) -> int | None:
    """Return when an unconfirmed ticket from a phone will be closed (None: its turn has not come)."""
    passed = store.first_passed_at(db, ticket)
    if passed is None:
        return None
    grace = channels.settings(db, site)["remote"]["arrival_grace_minutes"]
    return passed + grace * MINUTE


def expire_unconfirmed(engine: QueueEngine, site: dict) -> int:
    """Close the unconfirmed tickets from phones whose grace after their turn passed; return how many."""
    db = engine.db
    now = engine.clock.now_ms()
    closed = 0
    for ticket in store.awaiting_arrival(db, site["id"], engine.today(site)):
        limit = deadline(db, site, ticket)
        if limit is None or limit > now:
            continue
        with immediate(db):
            gone = store.abandon_unconfirmed(db, ticket["id"], now)
            if gone is None:
                continue
            store.insert_event(db, gone, "abandoned", now,
                               data={"automatic": True, "reason": "unconfirmed"})
        engine.announce.ticket_changed(events.TICKET_CANCELLED, gone, engine.lookup)
        closed += 1
    return closed
