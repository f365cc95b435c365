"""The citizens' public pages before the visit: book an appointment, take a turn from a phone,
confirm arrival with the entrance QR, and read a city's wait times. Phone first, Spanish first,
no account, plain forms that work without JavaScript.

| page | what |
| --- | --- |
| ``/citas/<site>`` | choose a service, a day and a slot; give only what the entity asks; book |
| ``/citas/c/<code>`` | the booking: code, QR, time, place; cancel it or move it |
| ``/turno/<site>`` | take a ticket from the phone (then its status page ``/t/<visit>``) |
| ``/llegada/<site>/<token>`` | the entrance QR: confirm arrival of this phone's tickets |
| ``/espera/<city>`` | the city's service points: waiting, live and typical waits (embeddable) |
"""

import hmac
import io
import json
from datetime import date, timedelta

from flask import Blueprint, current_app, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from shared import appointments, channels, contract, publicwaits, ratelimit, remote, store
from shared.db import get_db
from shared.errors import DomainError, NotFound
from shared.events import current_announcer
from shared.present import qr_png
from shared.queue import Actor, QueueEngine, current_engine
from shared.timefmt import local_datetime, local_day, parse_day
from shared.web import CSP, current_clock, now_ms

from . import api
from .common import device_cookie, remember_visit, remembered_visits, site_or_404

bp = Blueprint("portal", __name__, template_folder="templates", static_folder="static",
               static_url_path="/portal/static")

DAYS_SHOWN = 14
WEEKDAY_NAMES = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")


def _private(response):
    """Keep a citizen's page (a code, a ticket) out of shared caches and referrers."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _page(template: str, status: int = 200, **context):
    """Render a public page."""
    response = current_app.make_response((render_template(f"portal/{template}", **context), status))
    return _private(response)


def _weekday(day: date) -> str:
    """Return a day's name in the page's language."""
    names = {"lunes": _("lunes"), "martes": _("martes"), "miércoles": _("miércoles"),
             "jueves": _("jueves"), "viernes": _("viernes"), "sábado": _("sábado"),
             "domingo": _("domingo")}
    return names[WEEKDAY_NAMES[day.weekday()]]


def _hhmm(ms: int, tz: str) -> str:
    """Return a local time as HH:MM."""
    return local_datetime(ms, tz).strftime("%H:%M")


def _day_choices(site, service, conf, config) -> list[dict]:
    """Return the next days with free slots of a service."""
    db = get_db()
    today = date.fromisoformat(local_day(now_ms(), site["timezone"]))
    out = []
    for n in range(min(DAYS_SHOWN * 2, config["appointments"]["booking_days"] + 1)):
        day = today + timedelta(days=n)
        free = sum(s["free"] > 0 for s in appointments.day_slots(db, site, service, conf, config,
                                                                  day, now_ms()))
        if free:
            out.append({"day": day.isoformat(), "label": f"{_weekday(day)} {day.day:02d}/{day.month:02d}",
                        "free": free})
        if len(out) >= DAYS_SHOWN:
            break
    return out


def _slot_choices(site, service, conf, config, day_text: str | None) -> tuple[str | None, list]:
    """Return the chosen day and its free slots."""
    try:
        day = parse_day(day_text) if day_text else None
    except ValueError:
        day = None
    if day is None:
        return None, []
    slots = [dict(s, label=_hhmm(s["start"], site["timezone"]))
             for s in appointments.day_slots(get_db(), site, service, conf, config, day, now_ms())
             if s["free"] > 0]
    return day.isoformat(), slots


def _privacy(site: dict, config: dict) -> dict:
    """Return the notice, purpose and retention a citizen reads before giving any data."""
    return {"notice": site["privacy_notice"] or _(
                "%(entity)s trata sus datos según la Ley 1581 de 2012. Puede conocerlos, "
                "actualizarlos, rectificarlos o pedir su supresión en la sede.",
                entity=site["entity_name"] or site["name"]),
            "purpose": config["privacy"]["purpose"],
            "retention": _("Su correo o celular y su nombre se borran cuando termina la visita "
                           "(o cuando la cita se cancela o vence). De su documento solo se guarda "
                           "una huella cifrada, para que nadie reserve dos veces el mismo trámite.")}


# --- appointments ---------------------------------------------------------------------------

@bp.get("/citas/<site>")
def booking(site):
    """Show the booking page of a site: services, then days, then slots and the form."""
    s = site_or_404(site)
    db = get_db()
    config = channels.settings(db, s)
    offered = channels.appointment_services(config)
    services = [sv for sv in store.list_services(db, s["id"], only_active=True)
                if sv["code"] in offered]
    chosen = next((sv for sv in services if sv["code"] == request.args.get("service")), None)
    days, day, slots = [], None, []
    if chosen is not None:
        conf = offered[chosen["code"]]
        days = _day_choices(s, chosen, conf, config)
        day, slots = _slot_choices(s, chosen, conf, config, request.args.get("day"))
    return _page("booking.html", site=s, config=config, services=services, chosen=chosen,
                 days=days, day=day, slots=slots, privacy=_privacy(s, config), form={},
                 error=None)


@bp.post("/citas/<site>")
@ratelimit.limit("booking", (20, 3600))
def book(site):
    """Book the chosen slot from the plain form; show the booking, or the form with the refusal."""
    s = site_or_404(site)
    form = request.form
    service_code = form.get("service", "")
    try:
        if form.get("accept_privacy") != "1":
            raise DomainError(_("Debe aceptar el aviso de privacidad para reservar."),
                              code="privacy_not_accepted", field="accept_privacy")
        start = form.get("start", "")
        if not (start.isascii() and start.isdigit() and len(start) < 16):
            raise DomainError(_("Elija un horario de la lista."), code="no_such_slot", field="start")
        made = appointments.book(get_db(), s, service_code, int(start), now_ms(),
                                 email=form.get("email") or None, phone=form.get("phone") or None,
                                 name=form.get("name"), document=form.get("document"))
    except DomainError as exc:
        db = get_db()
        config = channels.settings(db, s)
        offered = channels.appointment_services(config)
        services = [sv for sv in store.list_services(db, s["id"], only_active=True)
                    if sv["code"] in offered]
        chosen = next((sv for sv in services if sv["code"] == service_code), None)
        days, day, slots = [], None, []
        if chosen is not None:
            conf = offered[chosen["code"]]
            days = _day_choices(s, chosen, conf, config)
            day, slots = _slot_choices(s, chosen, conf, config, form.get("day"))
        return _page("booking.html", exc.status, site=s, config=config, services=services,
                     chosen=chosen, days=days, day=day, slots=slots, privacy=_privacy(s, config),
                     form=form, error=str(exc.message))
    return redirect(url_for(".appointment_page", code=made["code"], new=1), code=303)


def _appointment_or_404(code: str) -> dict:
    """Return the booking of a code, or a page saying it does not exist."""
    return appointments.find(get_db(), code)


@bp.get("/citas/c/<code>")
@ratelimit.limit("appointment-code", (60, 60))
def appointment_page(code):
    """Show a booking: code, QR, place and time; cancel or move it."""
    found = _appointment_or_404(code)
    db = get_db()
    site = store.site_by_id(db, found["site_id"])
    service = store.service_by_id(db, found["service_id"])
    config = channels.settings(db, site)
    shown = appointments.public_json(db, found, now_ms())
    days, day, slots = [], None, []
    if shown["can_change"] and service["code"] in channels.appointment_services(config):
        conf = channels.appointment_services(config)[service["code"]]
        days = _day_choices(site, service, conf, config)
        day, slots = _slot_choices(site, service, conf, config, request.args.get("day"))
        slots = [sl for sl in slots if sl["start"] != found["slot_at"]]
    when = local_datetime(found["slot_at"], site["timezone"])
    return _page("appointment.html", a=shown, raw_code=found["code"], site=site,
                 when=f"{_weekday(when.date())} {when.strftime('%d/%m/%Y %H:%M')}",
                 days=days, day=day, slots=slots, new=request.args.get("new") == "1",
                 message=request.args.get("done"), error=None)


@bp.get("/citas/c/<code>/qr.png")
@ratelimit.limit("appointment-code", (60, 60))
def appointment_qr(code):
    """Return the QR of a booking (its page's address: the kiosk's reader accepts it)."""
    found = _appointment_or_404(code)
    png = qr_png(api_absolute(url_for(".appointment_page", code=found["code"])))
    return _private(send_file(io.BytesIO(png), mimetype="image/png"))


def api_absolute(path: str) -> str:
    """Return an absolute address (the public URL, else this request's host)."""
    base = current_app.config.get("PUBLIC_URL") or request.host_url
    return base.rstrip("/") + path


@bp.post("/citas/c/<code>/cancel")
@ratelimit.limit("appointment-code", (60, 60))
def appointment_cancel(code):
    """Cancel a booking from its page."""
    found = _appointment_or_404(code)
    try:
        appointments.cancel(get_db(), found, now_ms())
    except DomainError as exc:
        return redirect(url_for(".appointment_page", code=found["code"], done=str(exc.message)), 303)
    return redirect(url_for(".appointment_page", code=found["code"], done=_("Cita cancelada.")), 303)


@bp.post("/citas/c/<code>/move")
@ratelimit.limit("appointment-code", (60, 60))
def appointment_move(code):
    """Move a booking to the slot chosen on its page."""
    found = _appointment_or_404(code)
    start = request.form.get("start", "")
    try:
        if not (start.isascii() and start.isdigit() and len(start) < 16):
            raise DomainError(_("Elija un horario de la lista."), code="no_such_slot")
        appointments.move(get_db(), found, int(start), now_ms())
    except DomainError as exc:
        return redirect(url_for(".appointment_page", code=found["code"], done=str(exc.message)), 303)
    return redirect(url_for(".appointment_page", code=found["code"],
                            done=_("Cita cambiada. Su código es el mismo.")), 303)


# --- a turn from the phone ----------------------------------------------------------------------

def _remote(site: str, status: int = 200, error: str | None = None):
    """Render the page of the services a citizen may join from a phone now (or why not)."""
    s = site_or_404(site)
    engine = current_engine()
    config = channels.settings(engine.db, s)
    waiting = {r["code"]: r["waiting"] for r in engine.waiting_summary(s)}
    rows = []
    for service in store.list_services(engine.db, s["id"], only_active=True):
        if service["code"] not in channels.remote_service_codes(config, [service]):
            continue
        rows.append({"service": service, "state": remote.availability(engine, s, service, config),
                     "waiting": waiting.get(service["code"], 0)})
    return _page("remote.html", status, site=s, config=config, rows=rows,
                 privacy=_privacy(s, config), error=error)


@bp.get("/turno/<site>")
def remote_page(site):
    """Show the services a citizen may join from a phone now (or why not)."""
    return _remote(site)


@bp.post("/turno/<site>")
@ratelimit.limit("remote-ticket", (10, 3600))
def remote_take(site):
    """Take a ticket from the phone and go to its status page."""
    s = site_or_404(site)
    engine = current_engine()
    form = request.form
    cookie, fresh = device_cookie()
    try:
        if (form.get("email") or form.get("phone")) and form.get("accept_privacy") != "1":
            raise DomainError(_("Para dejar un contacto debe aceptar el aviso de privacidad."),
                              code="privacy_not_accepted")
        ticket = remote.take(engine, s, form.get("service", ""), remote.device_key(cookie),
                             email=form.get("email") or None, phone=form.get("phone") or None)
    except DomainError as exc:
        return _remote(site, exc.status, str(exc.message))
    response = redirect(f"/t/{ticket['visit_id']}", 303)
    remember_visit(response, ticket["visit_id"], cookie if fresh else None)
    return _private(response)


@bp.route("/llegada/<site>/<token>", methods=["GET", "POST"])
@ratelimit.limit("arrival", (30, 60))
def arrival(site, token):
    """The entrance QR: confirm arrival of the tickets this phone took at the site."""
    s = site_or_404(site)
    db = get_db()
    expected = (store.site_channels(db, s["id"]) or {}).get("entrance_token") or ""
    if not expected or not hmac.compare_digest(expected, token[:64]):
        raise NotFound(_("Este código de llegada no es válido. Use el de la entrada de la sede o "
                         "el kiosco."), code="unknown_entrance")
    engine = QueueEngine(db, current_clock(), current_announcer())
    mine = []
    for visit in remembered_visits():
        ticket = store.latest_segment(db, visit)
        if ticket is not None and ticket["site_id"] == s["id"] and ticket["channel"] == "remote" \
                and ticket["status"] == "waiting":
            mine.append(ticket)
    confirmed = []
    if request.method == "POST":
        for ticket in mine:
            confirmed.append(remote.confirm(engine, ticket, Actor(), how="entrance_qr"))
        if len(confirmed) == 1:
            return _private(redirect(f"/t/{confirmed[0]['visit_id']}", 303))
    return _page("arrival.html", site=s, tickets=mine, confirmed=confirmed, token=token)


# --- public wait times ----------------------------------------------------------------------------

@bp.get("/espera/<city>")
def waits_page(city):
    """Show a city's service points with people waiting, the live and the typical waits."""
    built = publicwaits.cached(get_db(), current_clock(), city[:64])
    if built is None:
        raise NotFound(_("No hay sedes publicadas para esta ciudad."), code="unknown_city")
    embedded = request.args.get("embed") == "1"
    # A crowd reads the same copy: the page is rendered once per copy, language and form.
    key = (built[1], str(get_locale()), embedded)
    html = _rendered.get(key)
    if html is None:
        data = json.loads(built[0])
        hours = sorted({c["hour"] for st in data["sites"] for sv in st["services"]
                        for c in sv["typical"]})
        html = render_template(
            "portal/waits.html", data=data, hours=hours, embedded=embedded,
            weekdays=[_("Lun"), _("Mar"), _("Mié"), _("Jue"), _("Vie"), _("Sáb"), _("Dom")])
        if len(_rendered) > 64:
            _rendered.clear()
        _rendered[key] = html
    response = current_app.make_response(html)
    ancestors = current_app.config.get("PUBLIC_FRAME_ANCESTORS") or "'none'"
    # This page only may be framed by the municipality's website (PUBLIC_FRAME_ANCESTORS).
    response.headers["Content-Security-Policy"] = CSP.replace("frame-ancestors 'none'",
                                                              f"frame-ancestors {ancestors}")
    response.headers["X-Frame-Options"] = ""
    response.headers["Cache-Control"] = \
        f"public, max-age={int(current_app.config.get('PUBLIC_CACHE_SECONDS') or 0)}"
    return response


_rendered: dict[tuple, str] = {}  # (copy's ETag, language, embedded) -> the page


def init_app(app) -> None:
    """Register the public pages and the public API."""
    app.register_blueprint(bp)
    contract.register(app, api.bp)
