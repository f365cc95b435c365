"""Appointments (citas): slots per site and service, booking without an account, check-in.

**Slots.** A service that takes appointments (``shared.channels``: its slot
length, its share of desks and its hours) offers slots on the days its site
is open for them: not on the site's holidays nor on the days the site closed to
appointments, from ``min_notice_minutes`` from now up to ``booking_days``
ahead. Each slot holds

    capacity = ⌊ share × desks serving the service × slot length ÷ service time ⌋

citizens: the part of the desks' time given to appointments (a share of ½ keeps
half of it for walk-ins). A booking, a move and a cancellation take the site's
lock, so two citizens never get the last place of a slot.

**The code.** Eight characters of Crockford's base 32 (no I, L, O or U),
shown ``K7M4-QX2A``: typed in any case, with or without the hyphen, O read as
0 and I or L as 1. It is the only key to the booking (no account, no
password): cancelling or moving it, and checking in at the kiosk, need it.
It is printed as a QR whose address is the booking's page.

**Personal data** (Ley 1581 de 2012): nothing is required unless the entity
asks for a name or a document (``ask_name``, ``ask_document``); a document is
kept only as a keyed hash (one booking per person and service at a time); the
optional contact (e-mail, phone) lives in ``contacts`` and is deleted once the
visit is over (``shared.notify``). The booking page shows the privacy notice,
the purpose and the retention before anything is sent.

**Check-in.** From ``early_minutes`` before the slot to ``late_minutes``
after its start the code becomes a ticket (channel ``appointment``) that
queues at the slot's start (or at the check-in, when late): its place is the
site's appointment class (``shared.priority``). Outside the window the citizen
reads why and, when the policy is ``walk_in``, gets a walk-in ticket. A
booking not checked in when its window closes is a no-show.
"""

import json
import secrets
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l

from . import auth, channels, notify, store
from .db import immediate
from .errors import Closed, Conflict, Invalid, NotFound
from .hours import WEEKDAYS, parse_hours
from .present import show_code
from .timefmt import day_bounds_ms, iso, local_datetime, local_day, zone

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 8
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})
MINUTE = 60_000
NO_CODE = _l("No encontramos una cita o un turno con ese código. Revíselo o pida ayuda al personal.")


def new_code() -> str:
    """Return a fresh random appointment or arrival code (40 bits)."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(text) -> str | None:
    """Return the code a citizen typed or a scanner read (a URL ending in it too), or None."""
    if not isinstance(text, str) or len(text) > 300:
        return None
    text = text.strip().rstrip("/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in text.upper().translate(_READ_AS) if ch.isalnum())
    if len(cleaned) != CODE_LENGTH or any(ch not in ALPHABET for ch in cleaned):
        return None
    return cleaned


# --- slots --------------------------------------------------------------------------

def _local_ms(day: date, hhmm: str, tz: str) -> int:
    """Return the UTC ms of a local day and time at a site."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    local = datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone(tz))
    return round(local.timestamp() * 1000)


def service_hours(site: dict, service: dict, conf: dict, calendar: dict | None = None) -> dict:
    """Return the hours a service takes appointments: its own calendar, else the site's
    appointment calendar, else its opening hours, else the site's."""
    for hours in (conf.get("hours"), calendar, parse_hours(service["opening_hours"]),
                  parse_hours(site["opening_hours"])):
        if hours:
            return hours
    return channels.DEFAULT_HOURS


def capacity(db, service: dict, conf: dict) -> int:
    """Return how many citizens one slot of a service holds (see the module's formula)."""
    desks = store.desks_serving(db, service["id"])
    minutes = max(1, service["default_service_seconds"] // 60)
    return int(conf["share"] * desks * conf["slot_minutes"] // minutes)


def bookable(db, site: dict, service_code: str) -> tuple[dict, dict, dict]:
    """Return (service, its appointment settings, the site's settings) or refuse: not offered."""
    config = channels.settings(db, site)
    offered = channels.appointment_services(config)
    service = store.find_service(db, site["id"], service_code) if isinstance(service_code, str) else None
    if service is None or service["code"] not in offered or not service["active"]:
        raise NotFound(_l("Ese trámite no tiene citas en esta sede."), code="no_appointments",
                       field="service")
    return service, offered[service["code"]], config


def day_slots(db, site: dict, service: dict, conf: dict, config: dict, day: date,
              now_ms: int) -> list[dict]:
    """Return the slots of a service on a local day: start, end and free places (only bookable ones)."""
    settings = config["appointments"]
    today = date.fromisoformat(local_day(now_ms, site["timezone"]))
    if day < today or day > today + timedelta(days=settings["booking_days"]):
        return []
    iso = day.isoformat()
    if iso in store_holidays(site) or iso in settings["closed_days"]:
        return []
    places = capacity(db, service, conf)
    if places <= 0:
        return []
    length = conf["slot_minutes"] * MINUTE
    earliest = now_ms + settings["min_notice_minutes"] * MINUTE
    start, end = day_bounds_ms(day, site["timezone"])
    booked = store.booked_per_slot(db, service["id"], start, end)
    out = []
    hours = service_hours(site, service, conf, settings.get("hours"))
    for begin, finish in hours.get(WEEKDAYS[day.weekday()], []):
        at, stop = _local_ms(day, begin, site["timezone"]), _local_ms(day, finish, site["timezone"])
        while at + length <= stop:
            if at >= earliest:
                out.append({"start": at, "end": at + length,
                            "free": max(0, places - booked.get(at, 0)), "capacity": places})
            at += length
    return out


def store_holidays(site: dict) -> set[str]:
    """Return a site's holidays (local days)."""
    return set(json.loads(site["holidays"] or "[]"))


LAST_DAY_MS = 253_402_214_400_000  # 9999-12-31 00:00 UTC: still year 9999 in every time zone


def find_slot(db, site: dict, service: dict, conf: dict, config: dict, start_ms: int,
              now_ms: int) -> dict:
    """Return the slot starting at an instant, or refuse: no such slot, or it is full."""
    slot = None
    if 0 <= start_ms < LAST_DAY_MS:  # later instants fall on no calendar day Python knows
        day = date.fromisoformat(local_day(start_ms, site["timezone"]))
        slot = next((s for s in day_slots(db, site, service, conf, config, day, now_ms)
                     if s["start"] == start_ms), None)
    if slot is None:
        raise Invalid(_l("Ese horario no está disponible para citas: elija otro de la lista."),
                      code="no_such_slot", field="start")
    if slot["free"] <= 0:
        raise Conflict(_l("Ese horario ya se llenó: elija otro."), code="slot_full", field="start")
    return slot


# --- booking, moving, cancelling ------------------------------------------------------

def book(db, site: dict, service_code: str, start_ms: int, now_ms: int, *, email=None,
         phone=None, name=None, document=None, source: str = "web") -> dict:
    """Book a slot; return the appointment (with its code). Refuse what the site does not allow."""
    service, conf, config = bookable(db, site, service_code)
    settings = config["appointments"]
    name = _asked(settings["ask_name"], name, "name", _l("Escriba su nombre."), 80)
    document = _asked(settings["ask_document"], document, "document",
                      _l("Escriba su número de documento."), 20)
    id_hash = auth.keyed_id_hash(auth.normalize_id(document)) if document else None
    contact = contact_values(config, email, phone)
    with immediate(db):
        store.lock_site(db, site["id"])
        slot = find_slot(db, site, service, conf, config, start_ms, now_ms)
        if id_hash and store.live_appointment_of(db, service["id"], id_hash, now_ms):
            raise Conflict(_l("Ya tiene una cita pendiente para este trámite: cancélela o "
                              "cámbiela con su código."), code="already_booked", field="document")
        appointment = store.insert_appointment(db, {
            "code": new_code(), "site_id": site["id"], "service_id": service["id"],
            "day": local_day(slot["start"], site["timezone"]), "slot_at": slot["start"],
            "slot_minutes": conf["slot_minutes"], "status": "booked", "source": source,
            "name": name or None, "id_hash": id_hash, "created_at": now_ms, "updated_at": now_ms})
        if contact:
            store.insert_contact(db, site["id"], now_ms, appointment_id=appointment["id"], **contact)
            notify.queue_for_appointment(db, site, config, appointment, contact, "booked", now_ms)
    return appointment


def _asked(rule: str, value, field: str, missing, limit: int) -> str | None:
    """Return a personal field the entity asks for: refused when required and missing, dropped when
    not asked."""
    if rule == "off":
        return None
    if value is not None and not isinstance(value, str):
        raise Invalid(_l("El campo «%(f)s» tiene un tipo no válido.", f=field), code="invalid_type",
                      field=field)
    value = (value or "").strip()
    if len(value) > limit:
        raise Invalid(_l("El campo «%(f)s» es demasiado largo.", f=field), code="too_long", field=field)
    if rule == "required" and not value:
        raise Invalid(missing, code="missing_field", field=field)
    return value or None


def contact_values(config: dict, email, phone) -> dict | None:
    """Return the contact to keep (only for the channels the site sends through), or None."""
    notifications = config["notifications"]
    out = {"email": None, "phone": None}
    if email and notifications["email"]:
        email = email.strip() if isinstance(email, str) else ""
        if len(email) > 254 or "@" not in email or email.startswith("@") or " " in email:
            raise Invalid(_l("El correo electrónico no es válido."), code="invalid_email", field="email")
        out["email"] = email
    if phone and notifications["webhook"]:
        digits = "".join(ch for ch in phone if ch.isdigit()) if isinstance(phone, str) else ""
        if not 7 <= len(digits) <= 15:
            raise Invalid(_l("El celular debe tener entre 7 y 15 dígitos."), code="invalid_phone",
                          field="phone")
        out["phone"] = ("+" if phone.strip().startswith("+") else "") + digits
    return out if out["email"] or out["phone"] else None


def find(db, code) -> dict:
    """Return the appointment a (typed or scanned) code names, or refuse."""
    normalized = normalize_code(code)
    appointment = store.appointment_by_code(db, normalized) if normalized else None
    if appointment is None:
        raise NotFound(_l("No encontramos una cita con ese código."), code="unknown_appointment")
    return appointment


def _changeable(site: dict, config: dict, appointment: dict, now_ms: int) -> None:
    """Refuse a change of an appointment no longer booked or too close to its slot."""
    if appointment["status"] != "booked":
        raise Conflict(_l("Esta cita ya no se puede cambiar: está %(s)s.",
                          s=STATUS_LABELS[appointment["status"]]), code="appointment_closed")
    notice = config["appointments"]["min_notice_minutes"] * MINUTE
    if appointment["slot_at"] - now_ms < notice:
        raise Conflict(_l("Faltan menos de %(n)s minutos para la cita: ya no se puede cambiar "
                          "por aquí.", n=notice // MINUTE), code="too_late_to_change")


def cancel(db, appointment: dict, now_ms: int) -> dict:
    """Cancel a booked appointment (its place is free again)."""
    site = store.site_by_id(db, appointment["site_id"])
    config = channels.settings(db, site)
    _changeable(site, config, appointment, now_ms)
    with immediate(db):
        store.lock_site(db, site["id"])
        cancelled = store.change_appointment(db, appointment["id"], ("booked",), {
            "status": "cancelled", "cancelled_at": now_ms, "updated_at": now_ms})
        if cancelled is None:
            raise Conflict(_l("Esta cita ya no se puede cambiar."), code="appointment_closed")
    return cancelled


def move(db, appointment: dict, start_ms: int, now_ms: int) -> dict:
    """Move a booked appointment to another free slot of the same service; keep its code."""
    site = store.site_by_id(db, appointment["site_id"])
    service = store.service_by_id(db, appointment["service_id"])
    _service, conf, config = bookable(db, site, service["code"])
    _changeable(site, config, appointment, now_ms)
    if start_ms == appointment["slot_at"]:
        raise Invalid(_l("Su cita ya es en ese horario."), code="same_slot", field="start")
    with immediate(db):
        store.lock_site(db, site["id"])
        slot = find_slot(db, site, service, conf, config, start_ms, now_ms)
        moved = store.change_appointment(db, appointment["id"], ("booked",), {
            "slot_at": slot["start"], "day": local_day(slot["start"], site["timezone"]),
            "slot_minutes": conf["slot_minutes"], "moves": appointment["moves"] + 1,
            "updated_at": now_ms, "reminded_at": None})
        if moved is None:
            raise Conflict(_l("Esta cita ya no se puede cambiar."), code="appointment_closed")
    return moved


STATUS_LABELS = {"booked": _l("reservada"), "checked_in": _l("registrada en la sede"),
                 "cancelled": _l("cancelada"), "no_show": _l("vencida (no asistió)")}


# --- check-in -------------------------------------------------------------------------

def window(config: dict, appointment: dict) -> tuple[int, int]:
    """Return [opens, closes) in ms of an appointment's check-in window."""
    settings = config["appointments"]
    return (appointment["slot_at"] - settings["early_minutes"] * MINUTE,
            appointment["slot_at"] + settings["late_minutes"] * MINUTE)


class OutsideWindow(Closed):
    """A check-in too early or too late; ``walk_in`` tells whether the policy gives a walk-in ticket."""

    code = "outside_window"


def check_in(engine, site: dict, appointment: dict, actor) -> dict:
    """Turn a booked appointment into a ticket of the appointment class; return the ticket.

    Refuses another site's code, a closed appointment, and an arrival outside
    the window (``OutsideWindow``, saying when it opens or that it closed).
    """
    db = engine.db
    now = engine.clock.now_ms()
    if appointment["site_id"] != site["id"]:
        other = store.site_by_id(db, appointment["site_id"])
        raise Invalid(_l("Esta cita es en %(s)s.", s=other["name"]), code="wrong_site")
    if appointment["status"] == "checked_in" and appointment["ticket_id"]:
        raise Conflict(_l("Esta cita ya se registró: su turno es %(c)s.",
                          c=store.ticket_by_id(db, appointment["ticket_id"])["code"]),
                       code="already_checked_in", ticket=appointment["ticket_id"])
    if appointment["status"] != "booked":
        raise Conflict(_l("Esta cita está %(s)s.", s=STATUS_LABELS[appointment["status"]]),
                       code="appointment_closed")
    config = channels.settings(db, site)
    opens, closes = window(config, appointment)
    walk_in = config["appointments"]["outside_window"] == "walk_in"
    tz = site["timezone"]
    if now < opens:
        raise OutsideWindow(_l("Llegó temprano: su cita es a las %(t)s y puede registrarse desde "
                               "las %(o)s.", t=_hhmm(appointment["slot_at"], tz), o=_hhmm(opens, tz)),
                            walk_in=walk_in, slot=_hhmm(appointment["slot_at"], tz))
    if now >= closes:
        raise OutsideWindow(_l("Su cita era a las %(t)s y el registro cerró a las %(c)s.",
                               t=_hhmm(appointment["slot_at"], tz), c=_hhmm(closes, tz)),
                            walk_in=walk_in, slot=_hhmm(appointment["slot_at"], tz))
    service = store.service_by_id(db, appointment["service_id"])
    with immediate(db):
        store.lock_site(db, site["id"])
        ticket = engine.issue(site, service["id"], None, actor, channel="appointment",
                              queue_at=max(appointment["slot_at"], now),
                              appointment_at=appointment["slot_at"],
                              event_data={"appointment": appointment["code"]})
        done = store.change_appointment(db, appointment["id"], ("booked",), {
            "status": "checked_in", "checked_in_at": now, "updated_at": now,
            "ticket_id": ticket["id"]})
        if done is None:
            raise Conflict(_l("Esta cita ya no está reservada."), code="appointment_closed")
        row = store.ticket_by_id(db, ticket["id"])
        store.attach_contact_to_visit(db, appointment["id"], row["visit_id"])
    return ticket


def _hhmm(ms: int, tz: str) -> str:
    """Return a local time as HH:MM."""
    return local_datetime(ms, tz).strftime("%H:%M")


def mark_no_shows(db, now_ms: int) -> int:
    """Close as no-shows the booked appointments whose check-in window has closed; return how many."""
    count = 0
    for appointment in store.overdue_appointments(db, now_ms):
        site = store.site_by_id(db, appointment["site_id"])
        _opens, closes = window(channels.settings(db, site), appointment)
        if closes > now_ms:
            continue
        with immediate(db):
            if store.change_appointment(db, appointment["id"], ("booked",),
                                        {"status": "no_show", "updated_at": now_ms}):
                count += 1
    return count


def public_json(db, appointment: dict, now_ms: int) -> dict:
    """Return what the citizen sees of a booking: code, place, service, time, state (no personal data)."""
    site = store.site_by_id(db, appointment["site_id"])
    service = store.service_by_id(db, appointment["service_id"])
    config = channels.settings(db, site)
    tz = site["timezone"]
    opens, closes = window(config, appointment)
    changeable = (appointment["status"] == "booked" and appointment["slot_at"] - now_ms
                  >= config["appointments"]["min_notice_minutes"] * MINUTE)
    ticket = store.ticket_by_id(db, appointment["ticket_id"]) if appointment["ticket_id"] else None
    return {"code": show_code(appointment["code"]), "site": site["code"], "site_name": site["name"],
            "address": config["address"], "service": service["code"], "service_name": service["name"],
            "requirements": service["requirements"], "day": appointment["day"],
            "start": iso(appointment["slot_at"], tz),
            "end": iso(appointment["slot_at"] + appointment["slot_minutes"] * MINUTE, tz),
            "status": appointment["status"], "status_label": str(STATUS_LABELS[appointment["status"]]),
            "checkin_opens": iso(opens, tz), "checkin_closes": iso(closes, tz),
            "can_change": changeable,
            "status_url": f"/t/{ticket['visit_id']}" if ticket else None}


def for_the_desk(db, ticket: dict, site: dict) -> dict | None:
    """Return what the official serving an appointment ticket sees: the slot's time and the name given."""
    if ticket.get("channel") != "appointment":
        return None
    appointment = store.appointment_by_ticket(db, ticket["origin_id"] or ticket["id"])
    return {"time": _hhmm(ticket["appointment_at"], site["timezone"]) if ticket["appointment_at"] else None,
            "name": appointment["name"] if appointment else None}
