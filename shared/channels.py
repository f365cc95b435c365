"""A site's channels beyond the kiosk: appointments, tickets from a phone, notifications, public page.

Everything here is optional and off by default. The settings of a site live
in ``site_channels.config`` (JSON), written by the administration page and by
the layout file (``[sites.channels]``); the place of appointment tickets in the
queue is the site's own column ``appointment_class`` (``shared.priority``).
``settings(db, site)`` returns them complete (defaults filled in), and
``validate(raw)`` checks what an administrator sends, naming the setting it
refuses.

Shape (every key optional)::

    city = "villa-esperanza"        # groups the site's public wait times with the city's others
    city_name = "Villa Esperanza"
    address = "Calle 10 # 5-20"     # shown to citizens choosing where to go
    [appointments]
    enabled = true
    early_minutes = 30              # check-in opens this long before the slot ...
    late_minutes = 15               # ... and closes this long after its start
    outside_window = "walk_in"      # early or late: a walk-in ticket ("walk_in") or only a message ("refuse")
    booking_days = 30               # how far ahead a slot can be booked
    min_notice_minutes = 60         # the latest a slot can be booked, moved or cancelled before it
    ask_name = "off"                # off | optional | required (shown to the official; deleted after)
    ask_document = "off"            # off | optional | required (a keyed hash only: one booking per person)
    closed_days = ["2026-12-24"]    # besides the site's holidays
    hours = { mon = [["08:00", "12:00"]] }   # the site's appointment calendar (a service may have its own)
    services = { A = { slot_minutes = 15, share = 0.5, hours = { mon = [["08:00", "11:00"]] } } }
    [remote]
    enabled = true
    services = ["A", "E"]           # empty: every active service
    per_device = 2                  # tickets a phone may take per day at the site
    max_waiting = 30                # closed while this many wait for the service
    stop_before_close_minutes = 60  # closed this long before the service or site closes
    arrival_grace_minutes = 15      # an unconfirmed ticket passed over this long is closed
    [notifications]
    email = false                   # e-mails through the server's SMTP settings
    webhook = false                 # messages to the server's SMS/WhatsApp gateway webhook
    reminder_hours = 24             # appointment reminder this long before the slot
    near_ahead = 3                  # "your turn is near" when this many or fewer are ahead
    [privacy]
    purpose = "..."                 # why contact data is asked (shown with the notice)
"""

import json
import re
import secrets
from copy import deepcopy

from flask_babel import lazy_gettext as _l

from . import priority, store
from .errors import Invalid
from .hours import parse_hours
from .timefmt import parse_day

ASK = ("off", "optional", "required")
OUTSIDE_WINDOW = ("walk_in", "refuse")
CITY = re.compile(r"^[a-z0-9][a-z0-9-]{0,47}$")

DEFAULT_PURPOSE = ("Gestionar su cita o su turno y, si usted lo pide, avisarle por correo o "
                   "mensaje cuando se acerque.")

DEFAULTS = {
    "city": "", "city_name": "", "address": "",
    "appointments": {
        "enabled": False, "early_minutes": 30, "late_minutes": 15, "outside_window": "walk_in",
        "booking_days": 30, "min_notice_minutes": 60, "ask_name": "off", "ask_document": "off",
        "closed_days": [], "hours": {}, "services": {},
    },
    "remote": {
        "enabled": False, "services": [], "per_device": 2, "max_waiting": 30,
        "stop_before_close_minutes": 60, "arrival_grace_minutes": 15,
    },
    "notifications": {"email": False, "webhook": False, "reminder_hours": 24, "near_ahead": 3},
    "privacy": {"purpose": DEFAULT_PURPOSE},
}
SERVICE_DEFAULTS = {"slot_minutes": 15, "share": 0.5, "hours": {}}
# Appointment hours when neither the service nor the site has opening hours.
DEFAULT_HOURS = {day: [["08:00", "12:00"], ["14:00", "17:00"]]
                 for day in ("mon", "tue", "wed", "thu", "fri")}

_WHOLE = {  # (section, key) -> (low, high)
    ("appointments", "early_minutes"): (0, 240), ("appointments", "late_minutes"): (0, 240),
    ("appointments", "booking_days"): (1, 365), ("appointments", "min_notice_minutes"): (0, 10080),
    ("remote", "per_device"): (1, 20), ("remote", "max_waiting"): (1, 10000),
    ("remote", "stop_before_close_minutes"): (0, 600), ("remote", "arrival_grace_minutes"): (1, 240),
    ("notifications", "reminder_hours"): (1, 168), ("notifications", "near_ahead"): (1, 50),
}


def _refuse(where: str, message) -> Invalid:
    """Build the refusal of one setting, naming it."""
    return Invalid(message, code="invalid_channels", field=where)


def _text(value, where: str, limit: int) -> str:
    """Return a trimmed text setting or refuse it."""
    if not isinstance(value, str) or len(value) > limit:
        raise _refuse(where, _l("«%(f)s» debe ser un texto de máximo %(n)s caracteres.", f=where, n=limit))
    return value.strip()


def _flag(value, where: str) -> bool:
    """Return a true/false setting or refuse it."""
    if not isinstance(value, bool):
        raise _refuse(where, _l("«%(f)s» debe ser true o false.", f=where))
    return value


def _days(value, where: str) -> list[str]:
    """Return a list of YYYY-MM-DD days or refuse it."""
    if not isinstance(value, list) or len(value) > 400:
        raise _refuse(where, _l("«%(f)s» debe ser una lista de fechas AAAA-MM-DD.", f=where))
    out = set()
    for item in value:
        try:
            out.add(parse_day(item).isoformat())
        except (TypeError, ValueError):
            raise _refuse(where, _l("«%(f)s»: fecha no válida «%(d)s» (use AAAA-MM-DD).",
                                    f=where, d=str(item)[:20])) from None
    return sorted(out)


def validate(raw: dict, service_codes: set[str] | None = None) -> dict:
    """Check a site's channel settings (any subset of the shape above); return them complete."""
    if not isinstance(raw, dict):
        raise _refuse("channels", _l("La configuración de canales debe ser una tabla."))
    out = deepcopy(DEFAULTS)
    for key, value in raw.items():
        if key in ("city", "city_name", "address"):
            out[key] = _text(value, key, 120)
            if key == "city" and out[key] and not CITY.match(out[key]):
                raise _refuse("city", _l("La ciudad es un código en minúsculas, números y guiones "
                                         "(ejemplo: villa-esperanza)."))
        elif key in ("appointments", "remote", "notifications", "privacy"):
            if not isinstance(value, dict):
                raise _refuse(key, _l("«%(f)s» debe ser una tabla.", f=key))
            for sub, item in value.items():
                where = f"{key}.{sub}"
                if (key, sub) == ("appointments", "queue_class"):
                    try:
                        out[key][sub] = priority.validate_appointment_class(item)
                    except Invalid as exc:
                        raise _refuse(where, exc.message) from None
                    continue
                if sub not in DEFAULTS[key]:
                    raise _refuse(where, _l("Opción desconocida «%(f)s».", f=where))
                out[key][sub] = _value(key, sub, item, where, service_codes)
        else:
            raise _refuse(key, _l("Opción desconocida «%(f)s».", f=key))
    return out


def _value(section: str, key: str, value, where: str, service_codes):
    """Check one setting of a section."""
    if (section, key) in _WHOLE:
        low, high = _WHOLE[(section, key)]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _refuse(where, _l("«%(f)s» debe ser un número entero entre %(a)s y %(b)s.",
                                    f=where, a=low, b=high))
        return value
    default = DEFAULTS[section][key]
    if isinstance(default, bool):
        return _flag(value, where)
    if key in ("ask_name", "ask_document", "outside_window"):
        options = OUTSIDE_WINDOW if key == "outside_window" else ASK
        if value not in options:
            raise _refuse(where, _l("«%(f)s» admite: %(o)s.", f=where, o=", ".join(options)))
        return value
    if key == "closed_days":
        return _days(value, where)
    if key == "hours":
        try:
            return parse_hours(value)
        except Invalid as exc:
            raise _refuse(where, exc.message) from None
    if key == "purpose":
        return _text(value, where, 500)
    if key == "services" and section in ("remote", "appointments"):
        return _services(section, value, where, service_codes)
    raise _refuse(where, _l("Opción desconocida «%(f)s».", f=where))


def _services(section: str, value, where: str, service_codes):
    """Check the services a section offers: a list of codes (phones) or a table per code (appointments)."""
    if section == "remote":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise _refuse(where, _l("«%(f)s» debe ser una lista de códigos de servicio.", f=where))
        _known(value, where, service_codes)
        return list(value)
    if not isinstance(value, dict):
        raise _refuse(where, _l("«%(f)s» debe ser una tabla por servicio.", f=where))
    _known(list(value), where, service_codes)
    return {code: _service(conf, f"{where}.{code}") for code, conf in value.items()}


def _known(codes: list[str], where: str, service_codes) -> None:
    """Refuse service codes the site does not have."""
    unknown = sorted(set(codes) - service_codes) if service_codes is not None else []
    if unknown:
        raise _refuse(where, _l("Servicios desconocidos en «%(f)s»: %(s)s.", f=where,
                                s=", ".join(unknown)))


def _service(conf, where: str) -> dict:
    """Check one service's appointment settings: slot length, share of desks, hours."""
    if not isinstance(conf, dict):
        raise _refuse(where, _l("«%(f)s» debe ser una tabla.", f=where))
    out = dict(SERVICE_DEFAULTS)
    for key, value in conf.items():
        if key == "slot_minutes":
            if isinstance(value, bool) or not isinstance(value, int) or not 5 <= value <= 240:
                raise _refuse(f"{where}.slot_minutes",
                              _l("La duración del cupo va de 5 a 240 minutos."))
        elif key == "share":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
                raise _refuse(f"{where}.share",
                              _l("La parte de los módulos para citas va de 0,01 a 1 (por ejemplo 0.5)."))
            value = float(value)
        elif key == "hours":
            try:
                value = parse_hours(value)
            except Invalid as exc:
                raise _refuse(f"{where}.hours", exc.message) from None
        else:
            raise _refuse(f"{where}.{key}", _l("Opción desconocida «%(f)s».", f=f"{where}.{key}"))
        out[key] = value
    return out


def settings(db, site: dict) -> dict:
    """Return a site's channel settings, complete, with its appointment class."""
    row = store.site_channels(db, site["id"])
    stored = json.loads(row["config"]) if row else {}
    out = deepcopy(DEFAULTS)
    for key, value in stored.items():
        if isinstance(value, dict) and key in out:
            out[key].update(value)
        else:
            out[key] = value
    out["appointments"]["queue_class"] = site.get("appointment_class") or "slot"
    return out


def save(db, site: dict, config: dict, appointment_class: str | None = None) -> None:
    """Store a site's checked channel settings (and the appointment class when given)."""
    stored = {k: v for k, v in config.items() if k in DEFAULTS}
    stored["appointments"] = {k: v for k, v in stored["appointments"].items() if k != "queue_class"}
    store.set_site_channels(db, site["id"], json.dumps(stored, ensure_ascii=False))
    if appointment_class is not None:
        store.update_site(db, site["id"], {
            "appointment_class": priority.validate_appointment_class(appointment_class)})


def entrance_token(db, site: dict, *, renew: bool = False) -> str:
    """Return the secret of a site's entrance QR (created on first use, new when renewed)."""
    row = store.site_channels(db, site["id"])
    if row and row["entrance_token"] and not renew:
        return row["entrance_token"]
    token = secrets.token_urlsafe(12)
    if row is None:
        store.set_site_channels(db, site["id"], "{}")
    store.set_entrance_token(db, site["id"], token)
    return token


def city_sites(db, city: str) -> list[tuple[dict, dict]]:
    """Return the active sites of a city with their settings, by name."""
    out = []
    for row in store.sites_with_channels(db):
        config = json.loads(row["config"] or "{}")
        if config.get("city") == city and row["active"]:
            site = {k: row[k] for k in row if k not in ("config", "entrance_token")}
            out.append((site, settings(db, site)))
    return sorted(out, key=lambda pair: pair[0]["name"])


def appointment_services(config: dict) -> dict:
    """Return the services (by code) that take appointments, with their settings."""
    if not config["appointments"]["enabled"]:
        return {}
    return config["appointments"]["services"]


def remote_service_codes(config: dict, services: list[dict]) -> list[str]:
    """Return the codes of the active services a citizen may join from a phone."""
    if not config["remote"]["enabled"]:
        return []
    chosen = config["remote"]["services"]
    return [s["code"] for s in services if s["active"] and (not chosen or s["code"] in chosen)]


def to_layout(config: dict) -> dict:
    """Return a site's channel settings as the layout's ``[sites.channels]`` table (non-defaults)."""
    out = {}
    for key, value in config.items():
        if key not in DEFAULTS:
            continue
        if isinstance(value, dict):
            changed = {k: v for k, v in value.items()
                       if DEFAULTS[key].get(k, "slot" if k == "queue_class" else None) != v}
            if changed:
                out[key] = changed
        elif value != DEFAULTS[key]:
            out[key] = value
    return out
