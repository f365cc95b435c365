"""The administration forms on Flask-WTF: every field checked, with a Spanish message naming it.

Each ``*_values`` function validates the submitted form with its ``FlaskForm``
and returns the columns to store, or raises ``FieldError`` (the first
refusal, in the order the fields are declared) before anything is written.
The pages render their fields with ``admin/macros.html``; the CSRF token is
checked for every form by Flask-WTF's ``CSRFProtect`` (``shared.auth.check_csrf``),
so the forms themselves do not check it a second time.
"""

import json
import re
from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import Field
from wtforms.validators import StopValidation, ValidationError

from shared import auth, priority
from shared.errors import Invalid
from shared.hours import WEEKDAYS, parse_hours
from shared.printing.settings import PAPERS, check_spec, printer_profiles, validate_settings
from shared.rules import CODE, DESK_CODE, PICTOGRAM, PREFIX, USERNAME
from shared.text import unsafe
from shared.timefmt import is_valid_zone

_RANGE = re.compile(r"^\s*(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")
_WHOLE = re.compile(r"-?[0-9]{1,9}")

WEEKDAY_LABELS = {"mon": _l("Lunes"), "tue": _l("Martes"), "wed": _l("Miércoles"),
                  "thu": _l("Jueves"), "fri": _l("Viernes"), "sat": _l("Sábado"),
                  "sun": _l("Domingo")}
VOICES = ("browser", "server", "chime")
MAX_DISPLAY_LINES = 5


class FieldError(Invalid):
    """A form field holds a value that cannot be stored; ``field`` names it."""

    code = "invalid_field"


def _fail(field: str, message) -> FieldError:
    """Build the refusal of one field."""
    return FieldError(message, field=field)


# --- fields ----------------------------------------------------------------------------

class AdminField(Field):
    """A field read from the raw submitted text; ``caption`` is the label its messages name."""

    def __init__(self, caption=None, validators=None, **kwargs):
        super().__init__(label=None, validators=validators, **kwargs)
        self.caption = caption

    def process_formdata(self, valuelist):
        self.raw = valuelist[0] if valuelist else ""
        self.data = self.raw

    def process_data(self, value):
        self.raw = "" if value is None else str(value)
        self.data = value


class Text(AdminField):
    """A trimmed text of at most ``max_len`` characters, without control or bidi characters."""

    def __init__(self, caption, *, required: bool = False, max_len: int = 120,
                 multiline: bool = False, **kwargs):
        super().__init__(caption, **kwargs)
        self.required, self.max_len, self.multiline = required, max_len, multiline

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.data = self.raw.replace("\r\n", "\n").strip()

    def pre_validate(self, form):
        if self.required and not self.data:
            raise StopValidation(_l("«%(f)s» es obligatorio.", f=self.caption))
        if len(self.data) > self.max_len:
            raise StopValidation(_l("«%(f)s» admite máximo %(n)s caracteres.", f=self.caption,
                                    n=self.max_len))
        if unsafe(self.data, multiline=self.multiline):
            raise StopValidation(_l("«%(f)s» contiene caracteres no permitidos.", f=self.caption))


class Whole(AdminField):
    """A whole number within [low, high]; blank gives the default (or is refused without one)."""

    def __init__(self, caption, *, low: int, high: int, default: int | None = None, **kwargs):
        super().__init__(caption, **kwargs)
        self.low, self.high, self.fallback = low, high, default

    def pre_validate(self, form):
        raw = (self.raw or "").strip()
        if not raw:
            if self.fallback is None:
                raise StopValidation(_l("«%(f)s» es obligatorio.", f=self.caption))
            self.data = self.fallback
            return
        if not _WHOLE.fullmatch(raw) or not self.low <= int(raw) <= self.high:
            raise StopValidation(_l("«%(f)s» debe ser un número entero entre %(a)s y %(b)s.",
                                    f=self.caption, a=self.low, b=self.high))
        self.data = int(raw)


class Decimal(AdminField):
    """A decimal number within [low, high] (comma or point); blank gives the default."""

    def __init__(self, caption, *, low: float, high: float, default: float, **kwargs):
        super().__init__(caption, **kwargs)
        self.low, self.high, self.fallback = low, high, default

    def pre_validate(self, form):
        raw = (self.raw or "").strip().replace(",", ".")
        if not raw:
            self.data = self.fallback
            return
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not self.low <= value <= self.high:
            raise StopValidation(_l("«%(f)s» debe ser un número entre %(a)s y %(b)s.",
                                    f=self.caption, a=self.low, b=self.high))
        self.data = value


class Check(AdminField):
    """A checkbox: True when ticked."""

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.data = self.raw in ("1", "on", "true", "yes")


class Code(AdminField):
    """A code: letters, digits, - and _ (no spaces)."""

    def __init__(self, pattern=CODE, **kwargs):
        super().__init__(None, **kwargs)
        self.pattern = pattern

    def process_formdata(self, valuelist):
        super().process_formdata(valuelist)
        self.data = self.raw.strip()

    def pre_validate(self, form):
        if not self.pattern.match(self.data):
            raise StopValidation(_l("El código «%(c)s» no es válido: use letras, números, - o _ "
                                    "(sin espacios).", c=self.data))


class Choice(AdminField):
    """One of the allowed options."""

    def __init__(self, caption, options, **kwargs):
        super().__init__(caption, **kwargs)
        self.options = tuple(options)

    def pre_validate(self, form):
        if self.data not in self.options:
            raise StopValidation(_l("Elija un valor válido para «%(f)s».", f=self.caption))


class Many(AdminField):
    """Several ticked values (checkbox lists), each one of the known options."""

    def __init__(self, message, **kwargs):
        super().__init__(None, **kwargs)
        self.message = message
        self.options: tuple = ()

    def process_formdata(self, valuelist):
        self.raw = ""
        self.data = list(valuelist)

    def pre_validate(self, form):
        if any(value not in self.options for value in self.data):
            raise StopValidation(self.message)


class Hours(AdminField):
    """One weekday's opening hours: ``07:00-12:00, 13:00-17:00`` (empty: closed or unset)."""

    def __init__(self, day: str, **kwargs):
        super().__init__(WEEKDAY_LABELS[day], **kwargs)
        self.day = day

    def pre_validate(self, form):
        label = WEEKDAY_LABELS[self.day]
        ranges = []
        for part in (self.raw or "").strip().split(",") if (self.raw or "").strip() else []:
            match = _RANGE.match(part)
            if not match:
                raise StopValidation(_l("Horario de %(d)s no válido: escriba franjas como "
                                        "07:00-12:00, 13:00-17:00.", d=label))
            ranges.append([t.zfill(5) for t in match.groups()])
        ranges.sort()
        try:
            parse_hours({self.day: ranges})
        except Invalid:
            raise StopValidation(_l("Horario de %(d)s no válido: cada franja va de una hora "
                                    "menor a una mayor, entre 00:00 y 23:59.", d=label)) from None
        for (_, end), (start, _) in zip(ranges, ranges[1:]):
            if start < end:
                raise StopValidation(_l("Las franjas de %(d)s se cruzan.", d=label))
        self.data = ranges


class Holidays(AdminField):
    """Holidays: one YYYY-MM-DD date per line or comma, at most 200."""

    def pre_validate(self, form):
        days = set()
        for part in re.split(r"[\s,;]+", self.raw or ""):
            if not part:
                continue
            try:
                days.add(date.fromisoformat(part).isoformat())
            except ValueError:
                raise StopValidation(_l("Festivo no válido «%(d)s»: use el formato AAAA-MM-DD.",
                                        d=part)) from None
        if len(days) > 200:
            raise StopValidation(_l("Máximo 200 festivos."))
        self.data = sorted(days)


# --- forms ----------------------------------------------------------------------------------

class AdminForm(FlaskForm):
    """Base of the administration forms."""

    class Meta:
        # One CSRF check for every state-changing request: CSRFProtect, before any view.
        csrf = False


def _checked(form_class, formdata, **attributes) -> FlaskForm:
    """Validate submitted data with a form class; return the form or raise its first refusal."""
    form = form_class(formdata=formdata)
    for name, value in attributes.items():
        getattr(form, name).options = value
    if not form.validate():
        for name, field in form._fields.items():
            if field.errors:
                raise _fail(name, field.errors[0])
    return form


def _with_hours(form_class):
    """Add one opening-hours field per weekday (``hours_mon`` … ``hours_sun``) to a form class."""
    for day in WEEKDAYS:
        setattr(form_class, "hours_" + day, Hours(day))
    return form_class


def _hours_json(form) -> str:
    """Return the opening hours of a form as stored (JSON, only the days filled in)."""
    return json.dumps({day: getattr(form, "hours_" + day).data for day in WEEKDAYS
                       if getattr(form, "hours_" + day).data})


class SiteForm(AdminForm):
    """A site: name, zone, messages, priority rule, hours, privacy and retention (in this order)."""

    code = Code()
    name = Text(_l("Nombre"), required=True, max_len=80)
    timezone = Text(_l("Zona horaria"), required=True, max_len=64)
    entity_name = Text(_l("Entidad (en el tiquete)"), max_len=80)
    display_message = Text(_l("Mensaje de las pantallas"), max_len=600, multiline=True)
    policy = Choice(_l("Política de prioridad"), priority.POLICIES)
    ratio_n = Whole(_l("Llamados preferenciales seguidos"), low=1, high=50,
                    default=priority.DEFAULT_PARAMS["ratio"]["n"])
    aging_preferential_weight = Decimal(
        _l("Peso preferencial"), low=1, high=20,
        default=priority.DEFAULT_PARAMS["aging"]["preferential_weight"])
    aging_grace_seconds = Whole(_l("Ventaja (segundos)"), low=1, high=3600,
                                default=priority.DEFAULT_PARAMS["aging"]["grace_seconds"])

    def validate_timezone(self, field):
        """Refuse a zone the tz database does not know."""
        if not is_valid_zone(field.data):
            raise ValidationError(_l("Zona horaria desconocida «%(z)s» (ejemplo: America/Bogota).",
                                     z=field.data))

    def validate_display_message(self, field):
        """Keep the screens' message to a few short lines."""
        lines = [line.strip() for line in field.data.split("\n") if line.strip()]
        if len(lines) > MAX_DISPLAY_LINES or any(len(line) > 120 for line in lines):
            raise ValidationError(_l("El mensaje de las pantallas admite máximo %(n)s líneas "
                                     "de 120 caracteres.", n=MAX_DISPLAY_LINES))
        field.data = "\n".join(lines)

    # The opening hours, one field per weekday (written out: fields are checked in order).
    hours_mon, hours_tue, hours_wed = Hours("mon"), Hours("tue"), Hours("wed")
    hours_thu, hours_fri, hours_sat, hours_sun = Hours("thu"), Hours("fri"), Hours("sat"), Hours("sun")
    holidays = Holidays()
    active = Check()
    id_capture = Check()
    privacy_notice = Text(_l("Aviso de privacidad"), max_len=1500, multiline=True)
    retention_days = Whole(_l("Conservar los datos (días)"), low=0, high=3650, default=0)
    max_wait_minutes = Whole(_l("Espera máxima (minutos)"), low=0, high=600, default=0)

    def validate_privacy_notice(self, field):
        """Asking for an ID needs the notice the citizen reads first (Ley 1581 de 2012)."""
        if self.id_capture.data and not field.data:
            raise ValidationError(_l("Para pedir el documento de identidad escriba el aviso de "
                                     "privacidad que verá el ciudadano (Ley 1581 de 2012)."))


POLICY_FIELDS = {"ratio_n": "ratio", "aging_preferential_weight": "aging",
                 "aging_grace_seconds": "aging"}


def _without_code(form_class, creating: bool):
    """Return a form class that checks ``code`` only when creating (a code never changes)."""
    if creating:
        return form_class
    return type(form_class.__name__, (form_class,), {"code": None})


def site_values(formdata, *, creating: bool) -> dict:
    """Return a site's columns from its form."""
    form = _without_code(SiteForm, creating)(formdata=formdata)
    if not form.validate():
        for name, field in form._fields.items():
            # A rule's parameters count only for the rule chosen.
            if field.errors and POLICY_FIELDS.get(name, form.policy.data) == form.policy.data:
                raise _fail(name, field.errors[0])
    chosen = form.policy.data
    params = {name.removeprefix(chosen + "_"): form[name].data
              for name, rule in POLICY_FIELDS.items() if rule == chosen}
    try:
        policy_params = priority.validate(chosen, params)
    except Invalid as exc:
        raise _fail("policy", exc.message) from exc
    values = {"code": form.code.data} if creating else {}
    values.update(name=form.name.data, timezone=form.timezone.data,
                  entity_name=form.entity_name.data, display_message=form.display_message.data,
                  policy=chosen, policy_params=json.dumps(policy_params),
                  opening_hours=_hours_json(form), holidays=json.dumps(form.holidays.data),
                  active=form.active.data, id_capture=form.id_capture.data,
                  privacy_notice=form.privacy_notice.data,
                  retention_days=form.retention_days.data or None,
                  max_wait_seconds=(form.max_wait_minutes.data or 0) * 60 or None)
    return values


def hours_text(stored: str) -> dict:
    """Return the form text of each weekday for stored opening hours."""
    value = json.loads(stored or "{}")
    return {day: ", ".join(f"{a}-{b}" for a, b in value.get(day, [])) for day in WEEKDAYS}


def _check_pictogram(field) -> None:
    """Refuse a pictogram name other than lower case, digits, - or _."""
    if not PICTOGRAM.match(field.data):
        raise ValidationError(_l("Pictograma no válido: use minúsculas, números, - o _ "
                                 "(por ejemplo adulto_mayor)."))


class ServiceForm(AdminForm):
    """A service: prefix, texts, targets, cap, order, state, pictogram and own hours."""

    code = Code()
    prefix = AdminField()
    name = Text(_l("Nombre"), required=True, max_len=80)
    description = Text(_l("Descripción"), max_len=500, multiline=True)
    requirements = Text(_l("Requisitos"), max_len=1000, multiline=True)
    group_name = Text(_l("Grupo"), max_len=60)
    target_wait_minutes = Whole(_l("Espera objetivo (minutos)"), low=1, high=600, default=15)
    default_service_minutes = Whole(_l("Atención estimada (minutos)"), low=1, high=240, default=5)
    daily_cap = Whole(_l("Cupo diario"), low=0, high=9999, default=0)
    sort_order = Whole(_l("Orden"), low=0, high=999, default=0)
    active = Check()
    pictogram = AdminField()

    def validate_prefix(self, field):
        """A prefix is one to three capital letters."""
        field.data = (field.raw or "").strip().upper()
        if not PREFIX.match(field.data):
            raise ValidationError(_l("El prefijo debe tener de 1 a 3 letras (A-Z)."))

    def validate_pictogram(self, field):
        """A pictogram is named like a category's; empty leaves the kiosk's own choice."""
        field.data = (field.raw or "").strip()
        if field.data:
            _check_pictogram(field)


_with_hours(ServiceForm)


def service_values(formdata, *, creating: bool) -> dict:
    """Return a service's columns from its form."""
    form = _checked(_without_code(ServiceForm, creating), formdata)
    values = {"code": form.code.data} if creating else {}
    values.update(prefix=form.prefix.data, name=form.name.data,
                  description=form.description.data, requirements=form.requirements.data,
                  group_name=form.group_name.data,
                  target_wait_seconds=60 * form.target_wait_minutes.data,
                  default_service_seconds=60 * form.default_service_minutes.data,
                  daily_cap=form.daily_cap.data or None, sort_order=form.sort_order.data,
                  active=form.active.data, opening_hours=_hours_json(form),
                  pictogram=form.pictogram.data)
    return values


class DeskForm(AdminForm):
    """A desk: its number, name and state; the services it calls are added per site."""

    code = Code(pattern=DESK_CODE)
    name = Text(_l("Nombre"), required=True, max_len=60)
    active = Check()


def desk_values(formdata, services: list[dict], *, creating: bool) -> tuple[dict, list[int]]:
    """Return a desk's columns and the ids of the services it serves, in priority order."""
    orders = {f"order_{s['id']}": Whole(_l("Orden de «%(s)s»", s=s["name"]), low=1, high=99,
                                        default=0) for s in services}
    form_class = type("SiteDeskForm", (_without_code(DeskForm, creating),), orders)
    form = _checked(form_class, formdata)
    ranked = [(getattr(form, f"order_{s['id']}").data, s["sort_order"], s["id"]) for s in services]
    ranked = [r for r in ranked if r[0]]
    if not ranked:
        raise _fail("services", _l("Elija al menos un servicio para el módulo (escriba su orden: "
                                   "1 el primero)."))
    values = {"code": form.code.data} if creating else {}
    values.update(name=form.name.data, active=form.active.data)
    return values, [service_id for _, _, service_id in sorted(ranked)]


class CategoryForm(AdminForm):
    """A priority category: the label a citizen reads, pictogram, legal ground, visibility, age."""

    code = Code()
    label = Text(_l("Nombre"), required=True, max_len=80)
    pictogram = AdminField()
    legal_note = Text(_l("Fundamento legal"), max_len=300, multiline=True)
    kiosk_visible = Check()
    active = Check()
    sort_order = Whole(_l("Orden"), low=0, high=999, default=0)
    # Blank or 0: stored as no age (NULL, as in the layout file), and the kiosk names none.
    min_age = Whole(_l("Edad desde la que aplica (años)"), low=0, high=120, default=0)

    def validate_pictogram(self, field):
        """A pictogram is named in lower case, digits, - or _."""
        field.data = (field.raw or "").strip()
        _check_pictogram(field)


def category_values(formdata, *, creating: bool) -> dict:
    """Return a priority category's columns from its form."""
    form = _checked(_without_code(CategoryForm, creating), formdata)
    values = {"code": form.code.data} if creating else {}
    values.update(label=form.label.data, pictogram=form.pictogram.data,
                  legal_note=form.legal_note.data, kiosk_visible=form.kiosk_visible.data,
                  active=form.active.data, sort_order=form.sort_order.data,
                  min_age=form.min_age.data or None)
    return values


class PasswordForm(AdminForm):
    """A new password typed twice the same, 8 to 200 characters."""

    password2 = AdminField()
    password = AdminField()

    def validate_password2(self, field):
        """Both typings must agree."""
        if (self.password.raw or "") != (field.raw or ""):
            raise ValidationError(_l("Las contraseñas no coinciden."))

    def validate_password(self, field):
        """The password must be long enough (the auth module's rule)."""
        try:
            auth.validate_password(field.raw or "")
        except Invalid as exc:
            raise ValidationError(exc.message) from exc


class NewUserForm(AdminForm):
    """A new account: username and password first."""

    username = AdminField()
    password2 = AdminField()
    password = AdminField()
    validate_password2 = PasswordForm.validate_password2
    validate_password = PasswordForm.validate_password
    display_name = Text(_l("Nombre visible"), required=True, max_len=80)
    role = Choice(_l("Rol"), auth.ROLES)
    sites = Many(_l("Sede desconocida en la lista."))

    def validate_username(self, field):
        """A username is 2 to 64 letters, digits, dot, - or _."""
        field.data = (field.raw or "").strip()
        if not USERNAME.match(field.data):
            raise ValidationError(_l("Usuario no válido: de 2 a 64 letras, números, punto, - o _."))


class UserForm(AdminForm):
    """An account's name, role, state and sites."""

    display_name = Text(_l("Nombre visible"), required=True, max_len=80)
    role = Choice(_l("Rol"), auth.ROLES)
    active = Check()
    sites = Many(_l("Sede desconocida en la lista."))


def user_values(formdata, sites: list[dict], *, creating: bool) -> tuple[dict, list[int]]:
    """Return a user's columns and site ids (empty: all sites) from the user form."""
    known = {str(s["id"]): s["id"] for s in sites}
    form = _checked(NewUserForm if creating else UserForm, formdata, sites=tuple(known))
    values = {"username": form.username.data, "password": form.password.raw} if creating else {}
    values.update(display_name=form.display_name.data, role=form.role.data)
    if not creating:
        values["active"] = form.active.data
    return values, sorted(known[c] for c in form.sites.data)


def password_pair(formdata) -> str:
    """Return a new password typed twice the same, at least 8 characters long."""
    return _checked(PasswordForm, formdata).password.raw


class DeviceForm(AdminForm):
    """A new device: its site, kind and name."""

    site = AdminField()
    kind = Choice(_l("Tipo"), auth.DEVICE_KINDS)
    name = Text(_l("Nombre"), required=True, max_len=60)

    def validate_site(self, field):
        """The site must be one the administrator sees."""
        if field.data not in self.site.options:
            raise ValidationError(_l("Elija la sede del dispositivo."))


def device_values(formdata, sites: list[dict]) -> dict:
    """Return a new device's site, kind and name."""
    known = {str(s["id"]): s["id"] for s in sites}
    form = _checked(DeviceForm, formdata, site=tuple(known))
    return {"site_id": known[form.site.data], "kind": form.kind.data, "name": form.name.data}


class DeviceName(AdminForm):
    """A device's name."""

    name = Text(_l("Nombre"), required=True, max_len=60)


def device_name(formdata) -> str:
    """Return the name a device's settings form gives it."""
    return _checked(DeviceName, formdata).name.data


class KioskForm(AdminForm):
    """A kiosk's printer and screen."""

    printer = AdminField()
    paper = Choice(_l("Papel"), PAPERS)
    profile = Choice(_l("Modelo de impresora"), ())
    native_qr = Check()
    codepage = AdminField()
    idle_seconds = Whole(_l("Reinicio por inactividad (segundos)"), low=10, high=600, default=45)
    footer = Text(_l("Pie del tiquete"), max_len=200)

    def validate_printer(self, field):
        """The printer address must be one the printing core understands (and stays safe)."""
        try:
            field.data = check_spec((field.raw or "").strip() or "none")
        except Invalid as exc:
            raise ValidationError(exc.message) from exc


class DisplayForm(AdminForm):
    """A waiting-room screen's zone, list length and voice."""

    services = Many(_l("Servicio desconocido en la zona."))
    desks = Many(_l("Módulo desconocido en la zona."))
    history_length = Whole(_l("Llamados en la lista"), low=1, high=50, default=10)
    voice = Choice(_l("Voz"), VOICES)


class SurveyForm(AdminForm):
    """The desk a survey screen stands beside (by id)."""

    desk = AdminField()

    def validate_desk(self, field):
        """The desk must be one of the device's site."""
        if field.data and field.data not in self.desk.options:
            raise ValidationError(_l("Módulo desconocido."))


def device_config(formdata, kind: str, services: list[dict], desks: list[dict]) -> dict:
    """Return a device's settings for its kind (kiosk printer, display zone, survey desk)."""
    if kind == "kiosk":
        form = _checked(KioskForm, formdata, profile=tuple(printer_profiles()))
        wanted = {"printer": form.printer.data, "paper": form.paper.data,
                  "profile": form.profile.data, "native_qr": form.native_qr.data}
        if (form.codepage.raw or "").strip():
            wanted["codepage"] = form.codepage.raw.strip()
        try:
            settings = validate_settings(wanted)
        except Invalid as exc:
            raise _fail(exc.details.get("field", "printer"), exc.message) from exc
        settings.update(idle_seconds=form.idle_seconds.data, footer=form.footer.data)
        return settings
    if kind == "display":
        service_codes = [s["code"] for s in services]
        desk_codes = [d["code"] for d in desks]
        form = _checked(DisplayForm, formdata, services=tuple(service_codes),
                        desks=tuple(desk_codes))
        return {"services": [c for c in service_codes if c in form.services.data],
                "desks": [c for c in desk_codes if c in form.desks.data],
                "history_length": form.history_length.data, "voice": form.voice.data}
    ids = {str(d["id"]): d["id"] for d in desks}
    form = _checked(SurveyForm, formdata, desk=tuple(ids))
    # The desk's id: what the survey screen and its socket read (codes differ from ids).
    return {"desk": ids[form.desk.data] if form.desk.data else None}
