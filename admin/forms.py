"""Reading the administration forms: every field checked, with a Spanish message naming it.

Each ``*_values`` function takes the submitted form and returns the columns
to store, or raises ``FieldError`` before anything is written.
"""

import json
import re
from datetime import date

from flask_babel import lazy_gettext as _l

from shared import auth, priority
from shared.errors import Invalid
from shared.hours import WEEKDAYS, parse_hours
from shared.text import unsafe
from shared.timefmt import is_valid_zone

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
DESK_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,7}$")
PREFIX = re.compile(r"^[A-Z]{1,3}$")
PICTOGRAM = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")
_RANGE = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")

WEEKDAY_LABELS = {"mon": _l("Lunes"), "tue": _l("Martes"), "wed": _l("Miércoles"),
                  "thu": _l("Jueves"), "fri": _l("Viernes"), "sat": _l("Sábado"),
                  "sun": _l("Domingo")}
KNOWN_PICTOGRAMS = ("discapacidad", "gestante", "infancia", "adulto_mayor", "veterano",
                    "vulnerabilidad")
PAPERS = ("80mm", "58mm")
VOICES = ("browser", "server", "chime")
AGENT = "agent"  # the kiosk's own printer, driven by its printer agent
MAX_DISPLAY_LINES = 5


class FieldError(Invalid):
    """A form field holds a value that cannot be stored; ``field`` names it."""

    code = "invalid_field"


def _fail(field: str, message) -> FieldError:
    """Build the refusal of one field."""
    return FieldError(message, field=field)


def text(form, name: str, label, *, required: bool = False, max_len: int = 120,
         multiline: bool = False) -> str:
    """Return a trimmed text field, refusing control characters and overlong values."""
    value = (form.get(name) or "").replace("\r\n", "\n").strip()
    if required and not value:
        raise _fail(name, _l("«%(f)s» es obligatorio.", f=label))
    if len(value) > max_len:
        raise _fail(name, _l("«%(f)s» admite máximo %(n)s caracteres.", f=label, n=max_len))
    if unsafe(value, multiline=multiline):
        raise _fail(name, _l("«%(f)s» contiene caracteres no permitidos.", f=label))
    return value


def integer(form, name: str, label, *, low: int, high: int, default: int | None = None) -> int | None:
    """Return a whole number within [low, high]; blank gives the default (or a refusal)."""
    raw = (form.get(name) or "").strip()
    if not raw:
        if default is None:
            raise _fail(name, _l("«%(f)s» es obligatorio.", f=label))
        return default
    if not re.fullmatch(r"-?\d{1,9}", raw) or not low <= int(raw) <= high:
        raise _fail(name, _l("«%(f)s» debe ser un número entero entre %(a)s y %(b)s.",
                             f=label, a=low, b=high))
    return int(raw)


def number(form, name: str, label, *, low: float, high: float, default: float) -> float:
    """Return a decimal number within [low, high]; blank gives the default."""
    raw = (form.get(name) or "").strip().replace(",", ".")
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not low <= value <= high:
        raise _fail(name, _l("«%(f)s» debe ser un número entre %(a)s y %(b)s.", f=label, a=low,
                             b=high))
    return value


def checkbox(form, name: str) -> int:
    """Return 1 when a checkbox was ticked, else 0."""
    return 1 if form.get(name) in ("1", "on", "true", "yes") else 0


def code(form, name: str = "code", *, pattern=CODE, label=None) -> str:
    """Return a code (letters, digits, - and _) or refuse it."""
    value = (form.get(name) or "").strip()
    if not pattern.match(value):
        raise _fail(name, _l("El código «%(c)s» no es válido: use letras, números, - o _ "
                             "(sin espacios).", c=value))
    return value


def choice(form, name: str, label, options) -> str:
    """Return one of the allowed options."""
    value = form.get(name) or ""
    if value not in options:
        raise _fail(name, _l("Elija un valor válido para «%(f)s».", f=label))
    return value


# --- hours, holidays, policy ---------------------------------------------------------

def hours(form, prefix: str = "hours_") -> str:
    """Return opening hours (JSON) from one text field per weekday: ``07:00-12:00, 13:00-17:00``."""
    result = {}
    for day in WEEKDAYS:
        raw = (form.get(prefix + day) or "").strip()
        if not raw:
            continue
        ranges = []
        for part in raw.split(","):
            match = _RANGE.match(part)
            if not match:
                raise _fail(prefix + day, _l("Horario de %(d)s no válido: escriba franjas como "
                                             "07:00-12:00, 13:00-17:00.", d=WEEKDAY_LABELS[day]))
            ranges.append([t.zfill(5) for t in match.groups()])
        ranges.sort()
        try:
            parse_hours({day: ranges})
        except Invalid:
            raise _fail(prefix + day, _l("Horario de %(d)s no válido: cada franja va de una hora "
                                         "menor a una mayor, entre 00:00 y 23:59.",
                                         d=WEEKDAY_LABELS[day])) from None
        for (_, end), (start, _) in zip(ranges, ranges[1:]):
            if start < end:
                raise _fail(prefix + day, _l("Las franjas de %(d)s se cruzan.", d=WEEKDAY_LABELS[day]))
        result[day] = ranges
    return json.dumps(result)


def hours_text(stored: str) -> dict:
    """Return the form text of each weekday for stored opening hours."""
    value = json.loads(stored or "{}")
    return {day: ", ".join(f"{a}-{b}" for a, b in value.get(day, [])) for day in WEEKDAYS}


def holidays(form, name: str = "holidays") -> str:
    """Return holidays (JSON list of YYYY-MM-DD) from a field with one date per line or comma."""
    days = set()
    for part in re.split(r"[\s,;]+", form.get(name) or ""):
        if not part:
            continue
        try:
            days.add(date.fromisoformat(part).isoformat())
        except ValueError:
            raise _fail(name, _l("Festivo no válido «%(d)s»: use el formato AAAA-MM-DD.",
                                 d=part)) from None
    if len(days) > 200:
        raise _fail(name, _l("Máximo 200 festivos."))
    return json.dumps(sorted(days))


def policy(form) -> tuple[str, str]:
    """Return the priority policy and its parameters (JSON), checked by the priority module."""
    name = choice(form, "policy", _l("Política de prioridad"), priority.POLICIES)
    params = {}
    if name == "ratio":
        params["n"] = integer(form, "ratio_n", _l("Llamados preferenciales seguidos"), low=1,
                              high=50, default=priority.DEFAULT_PARAMS["ratio"]["n"])
    elif name == "aging":
        defaults = priority.DEFAULT_PARAMS["aging"]
        params["preferential_weight"] = number(form, "aging_preferential_weight",
                                               _l("Peso preferencial"), low=1, high=20,
                                               default=defaults["preferential_weight"])
        params["grace_seconds"] = integer(form, "aging_grace_seconds", _l("Ventaja (segundos)"),
                                          low=1, high=3600, default=defaults["grace_seconds"])
    try:
        return name, json.dumps(priority.validate(name, params))
    except Invalid as exc:
        raise _fail("policy", exc.message) from exc


# --- entities ------------------------------------------------------------------------

def site_values(form, *, creating: bool) -> dict:
    """Return a site's columns from its form."""
    values = {}
    if creating:
        values["code"] = code(form)
    values["name"] = text(form, "name", _l("Nombre"), required=True, max_len=80)
    tz = text(form, "timezone", _l("Zona horaria"), required=True, max_len=64)
    if not is_valid_zone(tz):
        raise _fail("timezone", _l("Zona horaria desconocida «%(z)s» (ejemplo: America/Bogota).",
                                   z=tz))
    values["timezone"] = tz
    values["entity_name"] = text(form, "entity_name", _l("Entidad (en el tiquete)"), max_len=80)
    message = text(form, "display_message", _l("Mensaje de las pantallas"), max_len=600,
                   multiline=True)
    lines = [line.strip() for line in message.split("\n") if line.strip()]
    if len(lines) > MAX_DISPLAY_LINES or any(len(line) > 120 for line in lines):
        raise _fail("display_message", _l("El mensaje de las pantallas admite máximo %(n)s líneas "
                                          "de 120 caracteres.", n=MAX_DISPLAY_LINES))
    values["display_message"] = "\n".join(lines)
    values["policy"], values["policy_params"] = policy(form)
    values["opening_hours"] = hours(form)
    values["holidays"] = holidays(form)
    values["active"] = checkbox(form, "active")
    values["id_capture"] = checkbox(form, "id_capture")
    values["privacy_notice"] = text(form, "privacy_notice", _l("Aviso de privacidad"),
                                    max_len=1500, multiline=True)
    if values["id_capture"] and not values["privacy_notice"]:
        raise _fail("privacy_notice", _l("Para pedir el documento de identidad escriba el aviso de "
                                         "privacidad que verá el ciudadano (Ley 1581 de 2012)."))
    days = integer(form, "retention_days", _l("Conservar los datos (días)"), low=0, high=3650,
                   default=0)
    values["retention_days"] = days or None
    return values


def service_values(form, *, creating: bool) -> dict:
    """Return a service's columns from its form."""
    values = {}
    if creating:
        values["code"] = code(form)
    prefix = (form.get("prefix") or "").strip().upper()
    if not PREFIX.match(prefix):
        raise _fail("prefix", _l("El prefijo debe tener de 1 a 3 letras (A-Z)."))
    values["prefix"] = prefix
    values["name"] = text(form, "name", _l("Nombre"), required=True, max_len=80)
    values["description"] = text(form, "description", _l("Descripción"), max_len=500,
                                 multiline=True)
    values["requirements"] = text(form, "requirements", _l("Requisitos"), max_len=1000,
                                  multiline=True)
    values["group_name"] = text(form, "group_name", _l("Grupo"), max_len=60)
    values["target_wait_seconds"] = 60 * integer(form, "target_wait_minutes",
                                                 _l("Espera objetivo (minutos)"), low=1, high=600,
                                                 default=15)
    values["default_service_seconds"] = 60 * integer(form, "default_service_minutes",
                                                     _l("Atención estimada (minutos)"), low=1,
                                                     high=240, default=5)
    cap = integer(form, "daily_cap", _l("Cupo diario"), low=0, high=9999, default=0)
    values["daily_cap"] = cap or None
    values["sort_order"] = integer(form, "sort_order", _l("Orden"), low=0, high=999, default=0)
    values["active"] = checkbox(form, "active")
    values["opening_hours"] = hours(form)
    return values


def desk_values(form, services: list[dict], *, creating: bool) -> tuple[dict, list[int]]:
    """Return a desk's columns and the ids of the services it serves, in priority order."""
    values = {}
    if creating:
        values["code"] = code(form, pattern=DESK_CODE)
    values["name"] = text(form, "name", _l("Nombre"), required=True, max_len=60)
    values["active"] = checkbox(form, "active")
    ranked = []
    for service in services:
        position = integer(form, f"order_{service['id']}",
                           _l("Orden de «%(s)s»", s=service["name"]), low=1, high=99, default=0)
        if position:
            ranked.append((position, service["sort_order"], service["id"]))
    if not ranked:
        raise _fail("services", _l("Elija al menos un servicio para el módulo (escriba su orden: "
                                   "1 el primero)."))
    return values, [service_id for _, _, service_id in sorted(ranked)]


def category_values(form, *, creating: bool) -> dict:
    """Return a priority category's columns from its form."""
    values = {}
    if creating:
        values["code"] = code(form)
    values["label"] = text(form, "label", _l("Nombre"), required=True, max_len=80)
    pictogram = (form.get("pictogram") or "").strip()
    if not PICTOGRAM.match(pictogram):
        raise _fail("pictogram", _l("Pictograma no válido: use minúsculas, números, - o _ "
                                    "(por ejemplo adulto_mayor)."))
    values["pictogram"] = pictogram
    values["legal_note"] = text(form, "legal_note", _l("Fundamento legal"), max_len=300,
                                multiline=True)
    values["kiosk_visible"] = checkbox(form, "kiosk_visible")
    values["active"] = checkbox(form, "active")
    values["sort_order"] = integer(form, "sort_order", _l("Orden"), low=0, high=999, default=0)
    return values


def user_values(form, sites: list[dict], *, creating: bool) -> tuple[dict, list[int]]:
    """Return a user's columns and site ids (empty: all sites) from the user form."""
    values = {}
    if creating:
        username = (form.get("username") or "").strip()
        if not USERNAME.match(username):
            raise _fail("username", _l("Usuario no válido: de 2 a 64 letras, números, punto, - o _."))
        values["username"] = username
        values["password"] = password_pair(form)
    values["display_name"] = text(form, "display_name", _l("Nombre visible"), required=True,
                                  max_len=80)
    values["role"] = choice(form, "role", _l("Rol"), auth.ROLES)
    if not creating:
        values["active"] = checkbox(form, "active")
    known = {str(s["id"]): s["id"] for s in sites}
    chosen = form.getlist("sites")
    if any(c not in known for c in chosen):
        raise _fail("sites", _l("Sede desconocida en la lista."))
    return values, sorted(known[c] for c in chosen)


def password_pair(form) -> str:
    """Return a new password typed twice the same, at least 8 characters long."""
    password = form.get("password") or ""
    if password != (form.get("password2") or ""):
        raise _fail("password2", _l("Las contraseñas no coinciden."))
    try:
        auth.validate_password(password)
    except Invalid as exc:
        raise _fail("password", exc.message) from exc
    return password


def device_values(form, sites: list[dict]) -> dict:
    """Return a new device's site, kind and name."""
    known = {str(s["id"]): s["id"] for s in sites}
    site = form.get("site") or ""
    if site not in known:
        raise _fail("site", _l("Elija la sede del dispositivo."))
    kind = choice(form, "kind", _l("Tipo"), auth.DEVICE_KINDS)
    return {"site_id": known[site], "kind": kind,
            "name": text(form, "name", _l("Nombre"), required=True, max_len=60)}


def device_config(form, kind: str, services: list[dict], desks: list[dict]) -> dict:
    """Return a device's settings for its kind (kiosk printer, display zone, survey desk)."""
    if kind == "kiosk":
        from printer.dispatch import validate_settings

        wanted = {"printer": printer_spec(form),
                  "paper": choice(form, "paper", _l("Papel"), PAPERS),
                  "profile": choice(form, "profile", _l("Modelo de impresora"), printer_profiles()),
                  "native_qr": bool(checkbox(form, "native_qr"))}
        codepage = (form.get("codepage") or "").strip()
        if codepage:
            wanted["codepage"] = codepage
        try:
            settings = validate_settings(wanted)
        except Invalid as exc:
            raise _fail(exc.details.get("field", "printer"), exc.message) from exc
        settings["idle_seconds"] = integer(form, "idle_seconds",
                                           _l("Reinicio por inactividad (segundos)"),
                                           low=10, high=600, default=45)
        settings["footer"] = text(form, "footer", _l("Pie del tiquete"), max_len=200)
        return settings
    if kind == "display":
        service_codes = [s["code"] for s in services]
        desk_codes = [d["code"] for d in desks]
        chosen_services = form.getlist("services")
        chosen_desks = form.getlist("desks")
        if any(c not in service_codes for c in chosen_services):
            raise _fail("services", _l("Servicio desconocido en la zona."))
        if any(c not in desk_codes for c in chosen_desks):
            raise _fail("desks", _l("Módulo desconocido en la zona."))
        return {"services": [c for c in service_codes if c in chosen_services],
                "desks": [c for c in desk_codes if c in chosen_desks],
                "history_length": integer(form, "history_length", _l("Llamados en la lista"),
                                          low=1, high=50, default=10),
                "voice": choice(form, "voice", _l("Voz"), VOICES)}
    desk = form.get("desk") or ""
    ids = {str(d["id"]): d["id"] for d in desks}
    if desk and desk not in ids:
        raise _fail("desk", _l("Módulo desconocido."))
    # The desk's id: what the survey screen and its socket read (codes differ from ids).
    return {"desk": ids[desk] if desk else None}


def printer_spec(form) -> str:
    """Return a kiosk's printer address, checked by the printer package.

    A virtual printer always writes in the instance's tickets folder and a
    file printer only to a device under /dev, so the form cannot be used to
    write files elsewhere on the server.
    """
    from printer.connections import parse_spec

    raw = (form.get("printer") or "").strip() or "none"
    if raw == AGENT:
        return raw
    try:
        spec = parse_spec(raw)
    except ValueError:
        raise _fail("printer", _l("Impresora no válida. Use serial:/dev/ttyUSB0, tcp:IP:9100, "
                                  "usb:VID:PID, file:/dev/usb/lp0, virtual:, agent o none.")) from None
    if spec.kind == "virtual" and spec.path:
        raise _fail("printer", _l("La impresora virtual se escribe «virtual:» (sin carpeta): "
                                  "guarda los tiquetes en la carpeta de la instancia."))
    if spec.kind == "file" and not (spec.path or "").startswith("/dev/"):
        raise _fail("printer", _l("Una impresora de archivo debe ser un dispositivo bajo /dev/."))
    return str(spec)


def printer_profiles() -> list[str]:
    """Return the printer models python-escpos knows."""
    from escpos.capabilities import CAPABILITIES

    return sorted(CAPABILITIES["profiles"])
