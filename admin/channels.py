"""Administration of a site's channels beyond the kiosk: appointments, turns from phones,
notifications and the public wait-time page (``/admin/sites/<site>/channels``).

One Flask-WTF form (``ChannelsForm``), checked field by field like the other
administration forms, then the whole configuration through
``shared.channels.validate`` (the same check the layout file gets); the change
and its audit entry are one transaction. The site's entrance QR (confirming
arrival of tickets taken from phones) is shown here and can be renewed.
"""

import io

from flask import current_app, flash, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict
from wtforms.validators import ValidationError

from shared import channels, priority, publicwaits, store
from shared.cluster import current_cluster
from shared.db import get_db
from shared.errors import DomainError, not_found
from shared.hours import WEEKDAYS
from shared.present import qr_png
from shared.web import ADMINS, require
from shared.web import MANAGERS as READERS

from . import forms
from .common import audit_change, bp, page, refusal, visible_site, write
from .forms import AdminForm, Check, Choice, Decimal, Holidays, Hours, Text, Whole

CLASS_LABELS = {"slot": _l("En la fila general, a la hora de su cita"),
                "before_general": _l("Antes de la fila general desde la hora de su cita "
                                     "(después de la atención preferencial)"),
                "preferential": _l("Como atención preferencial desde la hora de su cita")}
ASK_LABELS = {"off": _l("No se pide"), "optional": _l("Opcional"), "required": _l("Obligatorio")}


class ChannelsForm(AdminForm):
    """A site's channels, in the order of the page."""

    city = Text(_l("Ciudad (código)"), max_len=48)
    city_name = Text(_l("Nombre de la ciudad"), max_len=80)
    address = Text(_l("Dirección"), max_len=120)
    appointments_enabled = Check()
    queue_class = Choice(_l("Lugar de las citas en la fila"), priority.APPOINTMENT_CLASSES)
    early_minutes = Whole(_l("Registro desde (minutos antes)"), low=0, high=240, default=30)
    late_minutes = Whole(_l("Registro hasta (minutos después)"), low=0, high=240, default=15)
    outside_window = Choice(_l("Fuera de esa ventana"), channels.OUTSIDE_WINDOW)
    booking_days = Whole(_l("Reservar hasta (días)"), low=1, high=365, default=30)
    min_notice_minutes = Whole(_l("Antelación mínima (minutos)"), low=0, high=10080, default=60)
    ask_name = Choice(_l("Pedir el nombre"), channels.ASK)
    ask_document = Choice(_l("Pedir el documento"), channels.ASK)
    hours_mon, hours_tue, hours_wed = Hours("mon"), Hours("tue"), Hours("wed")
    hours_thu, hours_fri, hours_sat, hours_sun = Hours("thu"), Hours("fri"), Hours("sat"), Hours("sun")
    closed_days = Holidays()
    remote_enabled = Check()
    per_device = Whole(_l("Turnos por celular al día"), low=1, high=20, default=2)
    max_waiting = Whole(_l("Cerrar con esta fila"), low=1, high=10000, default=30)
    stop_before_close_minutes = Whole(_l("Cerrar antes del cierre (minutos)"), low=0, high=600,
                                      default=60)
    arrival_grace_minutes = Whole(_l("Espera de la llegada (minutos)"), low=1, high=240, default=15)
    notify_email = Check()
    notify_webhook = Check()
    reminder_hours = Whole(_l("Recordatorio (horas antes)"), low=1, high=168, default=24)
    near_ahead = Whole(_l("Avisar con estas personas antes"), low=1, high=50, default=3)
    purpose = Text(_l("Finalidad de los datos"), max_len=500, multiline=True)

    def validate_city(self, field):
        """A city is a lowercase code (it is in the public page's address)."""
        if field.data and not channels.CITY.match(field.data):
            raise ValidationError(_l("La ciudad es un código en minúsculas, números y guiones "
                                     "(ejemplo: villa-esperanza)."))


def _fields(site: dict, config: dict, services: list[dict]) -> MultiDict:
    """Return a site's stored channel settings as form fields."""
    ap, rm, nt = config["appointments"], config["remote"], config["notifications"]
    fields = MultiDict({
        "city": config["city"], "city_name": config["city_name"], "address": config["address"],
        "appointments_enabled": "1" if ap["enabled"] else "", "queue_class": ap["queue_class"],
        "early_minutes": ap["early_minutes"], "late_minutes": ap["late_minutes"],
        "outside_window": ap["outside_window"], "booking_days": ap["booking_days"],
        "min_notice_minutes": ap["min_notice_minutes"], "ask_name": ap["ask_name"],
        "ask_document": ap["ask_document"], "closed_days": "\n".join(ap["closed_days"]),
        "remote_enabled": "1" if rm["enabled"] else "", "per_device": rm["per_device"],
        "max_waiting": rm["max_waiting"], "stop_before_close_minutes": rm["stop_before_close_minutes"],
        "arrival_grace_minutes": rm["arrival_grace_minutes"],
        "notify_email": "1" if nt["email"] else "", "notify_webhook": "1" if nt["webhook"] else "",
        "reminder_hours": nt["reminder_hours"], "near_ahead": nt["near_ahead"],
        "purpose": config["privacy"]["purpose"]})
    for day in WEEKDAYS:
        fields["hours_" + day] = ", ".join(f"{a}-{b}" for a, b in ap["hours"].get(day, []))
    for service in services:
        conf = ap["services"].get(service["code"])
        key = f"svc_{service['id']}"
        if conf:
            fields[key + "_appointments"] = "1"
        conf = conf or channels.SERVICE_DEFAULTS
        fields[key + "_slot"] = conf["slot_minutes"]
        fields[key + "_share"] = str(conf["share"])
        if not rm["services"] or service["code"] in rm["services"]:
            fields.add("remote_services", service["code"])
    return fields


def _values(formdata, services: list[dict], previous: dict) -> tuple[dict, str]:
    """Return the checked channel settings of the form and the appointment class."""
    extra = {}
    for service in services:
        key = f"svc_{service['id']}"
        extra[key + "_appointments"] = Check()
        extra[key + "_slot"] = Whole(_l("Cupo de «%(s)s» (minutos)", s=service["name"]), low=5,
                                     high=240, default=15)
        extra[key + "_share"] = Decimal(_l("Parte de los módulos de «%(s)s»", s=service["name"]),
                                        low=0.01, high=1, default=0.5)
    form_class = type("SiteChannelsForm", (ChannelsForm,), extra)
    form = forms._checked(form_class, formdata)
    chosen = set(formdata.getlist("remote_services"))
    unknown = chosen - {s["code"] for s in services}
    if unknown:
        raise forms._fail("remote_services", _l("Servicios desconocidos."))
    appointment_services = {}
    for service in services:
        key = f"svc_{service['id']}"
        if form[key + "_appointments"].data:
            previous_conf = previous["appointments"]["services"].get(service["code"], {})
            appointment_services[service["code"]] = {
                "slot_minutes": form[key + "_slot"].data, "share": form[key + "_share"].data,
                **({"hours": previous_conf["hours"]} if previous_conf.get("hours") else {})}
    remote_codes = [s["code"] for s in services if s["code"] in chosen]
    raw = {
        "city": form.city.data, "city_name": form.city_name.data, "address": form.address.data,
        "appointments": {
            "enabled": form.appointments_enabled.data, "early_minutes": form.early_minutes.data,
            "late_minutes": form.late_minutes.data, "outside_window": form.outside_window.data,
            "booking_days": form.booking_days.data, "min_notice_minutes": form.min_notice_minutes.data,
            "ask_name": form.ask_name.data, "ask_document": form.ask_document.data,
            "closed_days": form.closed_days.data, "services": appointment_services,
            "hours": {day: form["hours_" + day].data for day in WEEKDAYS if form["hours_" + day].data}},
        "remote": {
            "enabled": form.remote_enabled.data,
            "services": [] if len(remote_codes) == len(services) else remote_codes,
            "per_device": form.per_device.data, "max_waiting": form.max_waiting.data,
            "stop_before_close_minutes": form.stop_before_close_minutes.data,
            "arrival_grace_minutes": form.arrival_grace_minutes.data},
        "notifications": {"email": form.notify_email.data, "webhook": form.notify_webhook.data,
                          "reminder_hours": form.reminder_hours.data, "near_ahead": form.near_ahead.data},
        "privacy": {"purpose": form.purpose.data or channels.DEFAULT_PURPOSE},
    }
    return channels.validate(raw, {s["code"] for s in services}), form.queue_class.data


def _render(site: dict, status: int = 200, **context):
    """Render a site's channels page."""
    db = get_db()
    services = store.list_services(db, site["id"])
    config = channels.settings(db, site)
    context.setdefault("fields", _fields(site, config, services))
    row = store.site_channels(db, site["id"])
    token = row["entrance_token"] if row else None
    base = current_app.config.get("PUBLIC_URL") or request.host_url.rstrip("/")
    return page("channels.html", status, site=site, services=services, config=config,
                 class_labels=CLASS_LABELS, ask_labels=ASK_LABELS,
                 entrance_url=f"{base.rstrip('/')}/llegada/{site['code']}/{token}" if token else None,
                 public_base=base.rstrip("/"),
                 server_email=bool(current_app.config.get("SMTP_HOST")),
                 server_webhook=bool(current_app.config.get("NOTIFY_WEBHOOK_URL")), **context)


@bp.get("/sites/<site>/channels")
@require(*READERS)
def channels_page(site):
    """Show a site's appointments, turns from phones, notifications and public page settings."""
    return _render(visible_site(site))


@bp.post("/sites/<site>/channels")
@require(*ADMINS)
def channels_update(site):
    """Change a site's channel settings (validated whole before anything is written)."""
    s = visible_site(site)
    db = get_db()
    before = channels.settings(db, s)
    try:
        config, queue_class = _values(request.form, store.list_services(db, s["id"]), before)
    except DomainError as exc:
        return _render(s, exc.status, fields=request.form, **refusal(exc))
    with write(db):
        channels.save(db, s, config, queue_class)
        audit_change("site.channels", f"site:{s['code']}", {"config": config, "queue_class": queue_class})
    publicwaits.forget(current_cluster())
    flash(_("Cambios guardados."))
    return redirect(url_for(".channels_page", site=s["code"]))


@bp.post("/sites/<site>/channels/entrance")
@require(*ADMINS)
def channels_renew_entrance(site):
    """Make a new entrance QR for the site (the old one stops working)."""
    s = visible_site(site)
    db = get_db()
    with write(db):
        channels.entrance_token(db, s, renew=True)
        audit_change("site.entrance_qr", f"site:{s['code']}")
    flash(_("Nuevo código QR de la entrada: imprímalo y cambie el anterior."))
    return redirect(url_for(".channels_page", site=s["code"]))


@bp.get("/sites/<site>/channels/entrance.png")
@require(*READERS)
def channels_entrance_qr(site):
    """Return the site's entrance QR as a PNG to print."""
    s = visible_site(site)
    row = store.site_channels(get_db(), s["id"])
    if not row or not row["entrance_token"]:
        raise not_found("entrance", s["code"])
    base = current_app.config.get("PUBLIC_URL") or request.host_url
    png = qr_png(f"{base.rstrip('/')}/llegada/{s['code']}/{row['entrance_token']}", box_size=10)
    return send_file(io.BytesIO(png), mimetype="image/png")
