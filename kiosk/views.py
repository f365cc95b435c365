"""The touchscreen kiosk: a citizen picks a procedure, says whether they have a preferential right,
and takes a ticket (on screen at once, on paper when the printer answers).

The page is served to a paired kiosk device (the ``turnos_device`` cookie);
an administrator or supervisor may preview it with ``?site=``. Issuing goes
through ``POST /kiosk/api/tickets``, which wraps the queue engine's ``issue``,
records the print job in the same transaction and remembers each kiosk's
``request_id`` for a few minutes, so a double tap never gives two tickets.
"""

import io
import json
import re

import qrcode
from flask import Blueprint, current_app, jsonify, render_template, request, send_file
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import fields
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from shared import auth, contract, ratelimit, speech, store
from shared.checkin import check_in_code
from shared.contract import Body, Flag, Int, Shape, Text
from shared.db import get_db, immediate
from shared.errors import DomainError, Forbidden, Invalid, Unauthorized, not_found
from shared.events import current_announcer
from shared.present import site_json, status_path
from shared.printing import dispatch, jobs, remote
from shared.printing.settings import AGENT, printer_settings, validate_settings
from shared.queue import Actor, QueueEngine, current_engine
from shared.web import MANAGERS, absolute, current_clock, require

from . import checkin, guide
from .start import start_screen

bp = Blueprint("kiosk", __name__, url_prefix="/kiosk", template_folder="templates",
               static_folder="static")
api_bp = contract.Blueprint("kiosk_api", __name__, url_prefix="/api/v1",
                            description="Kiosk printer and screen settings")

PREVIEW_ROLES = MANAGERS  # who may open a kiosk's page to preview a site
REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
REQUEST_MEMORY_SECONDS = 600
IDLE_DEFAULT = 30
IDLE_RANGE = (10, 600)
KIOSK_KEYS = ("idle_seconds", "language", "footer")
# After idle_seconds untouched the kiosk asks "¿Necesita más tiempo?" and waits this long
# for a touch before going back to the start (WCAG 2.2.1: at least 20 seconds to answer).
MORE_TIME_SECONDS = 20


def _strings() -> dict:
    """Return the texts the kiosk's script shows, in the page's language."""
    return {
        "closed": _l("No disponible en este momento"),
        "site_closed": _l("La sede no está atendiendo en este momento. Consulte el horario en la entrada."),
        "waiting": _l("{n} en espera"),
        "requirements": _l("Requisitos:"),
        "ahead": _l("Personas antes de usted: {n}"),
        "wait_minutes": _l("Tiempo estimado de espera: unos {m} minutos"),
        "wait_soon": _l("Será llamado muy pronto"),
        "preferential": _l("Atención preferencial"),
        "printing": _l("Imprimiendo su turno…"),
        "printed": _l("Tome su tiquete impreso."),
        "near_end": _l("Tome su tiquete impreso."),
        "unconfirmed": _l("Revise que su tiquete haya salido. Si no salió, su turno en pantalla es válido: "
                          "tome una foto del código QR o anote su turno."),
        "failed": _l("La impresora no funcionó. Su turno es válido: tome una foto del código QR "
                     "o anote su turno. Ya avisamos al personal."),
        "slow": _l("La impresión está tardando. Su turno es válido: tome una foto del código QR "
                   "o anote su turno."),
        "error": _l("No fue posible sacar el turno. Intente de nuevo o pida ayuda al personal."),
        "busy": _l("Un momento, por favor…"),
        "page": _l("Página {n} de {total}"),
        "services_in_group": _l("{n} trámites"),
        "more_time_left": _l("La pantalla volverá al inicio en {n} segundos."),
        "guide_on": _l("Guía por voz activada"),
        "guide_off": _l("Guía por voz"),
        "guide_tap_again": _l("Toque otra vez para elegir"),
        "checkin_title": _l("No fue posible registrar su llegada"),
        "error_title": _l("No fue posible sacar el turno"),
        "delete": _l("Borrar"),
    }


@bp.errorhandler(DomainError)
def _refusal(exc: DomainError):
    """Answer the kiosk's script in JSON (whatever it accepts) and a browser with a page."""
    if request.path.startswith(("/kiosk/api/", "/kiosk/audio/")):
        return jsonify(exc.to_dict()), exc.status
    return render_template("error.html", error=exc.code, message=str(exc.message)), exc.status


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc):
    """Answer a body over the size limit in JSON (only the kiosk's API takes a body)."""
    return jsonify({"error": "too_large", "message": _("El contenido enviado es demasiado grande.")}), 413


API_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@bp.route("/api/<path:rest>", methods=API_METHODS)
def api_fallback(rest):
    """Answer any other address or method under the kiosk's API in JSON (404 or 405), never a page."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in API_METHODS:
        try:
            endpoint, _args = adapter.match(request.path, method=method)
        except HTTPException:
            continue
        if endpoint != "kiosk.api_fallback":
            allowed.append(method)
    if allowed:
        response = jsonify({"error": "method_not_allowed",
                            "message": _("Método no permitido para esta dirección.")})
        response.headers["Allow"] = ", ".join(allowed)
        return response, 405
    return jsonify({"error": "not_found", "message": _("La dirección no existe.")}), 404


# --- the page -------------------------------------------------------------------------

def _page_principal() -> auth.Principal:
    """Return the kiosk device (or previewing administrator) opening the page, or refuse."""
    principal = auth.current_principal()
    if principal is None:
        raise Unauthorized(_l("Este equipo no está vinculado como kiosco. Pida al administrador un "
                              "código de vinculación."), code="not_paired")
    if principal.role != "kiosk" and principal.role not in PREVIEW_ROLES:
        raise Forbidden(_l("Esta página es para los kioscos de turnos."), code="forbidden")
    return principal


def _site_of(principal: auth.Principal, ident=None) -> dict:
    """Return the kiosk's own site, or the site a previewing administrator asked for."""
    db = get_db()
    if principal.kind == "device":
        site = store.site_by_id(db, principal.site_id)
    else:
        if ident is None or ident == "":
            raise Invalid(_l("Indique la sede para ver el kiosco (?site=codigo)."), code="missing_site")
        site = store.find_site(db, ident)
        if site is None:
            raise not_found("site", ident)
    auth.require_site(principal, site)
    return site


def _idle_seconds(config: dict) -> int:
    """Return how long the kiosk waits untouched before going back to the start."""
    value = config.get("idle_seconds", IDLE_DEFAULT)
    low, high = IDLE_RANGE
    return value if isinstance(value, int) and low <= value <= high else IDLE_DEFAULT


@bp.get("/")
def page():
    """Show the kiosk to a paired kiosk device (or to an administrator previewing a site)."""
    principal = _page_principal()
    site = _site_of(principal, request.args.get("site"))
    languages = current_app.config["LANGUAGES"]
    default_lang = principal.config.get("language") if principal.config.get("language") in languages else "es"
    lang = request.args.get("lang")
    if lang not in languages:
        lang = default_lang
    with force_locale(lang):
        strings = {key: str(value) for key, value in _strings().items()}
        data = {
            "site": site["code"], "device": principal.device_id,
            "preview": principal.kind != "device", "lang": lang, "default_lang": default_lang,
            "idle_seconds": _idle_seconds(principal.config), "more_time_seconds": MORE_TIME_SECONDS,
            "strings": strings,
            # The spoken guide uses the server's Spanish voice: offered on the Spanish page.
            "guide": lang == "es" and speech.available(),
        }
        other = "en" if lang == "es" else "es"
        return render_template("kiosk/kiosk.html", site=site_json(site), data=data, lang=lang,
                               other_lang=other, preview=principal.kind != "device")


@bp.get("/api/start")
@require("kiosk", *PREVIEW_ROLES)
def start():
    """Return the start screen: services with waiting counts and pictograms, categories in plain words."""
    principal = auth.current_principal()
    site = _site_of(principal, request.args.get("site"))
    lang = request.args.get("lang")
    with force_locale(lang if lang in current_app.config["LANGUAGES"] else "es"):
        return jsonify(start_screen(current_engine(), site))


@bp.get("/audio/<kind>/<key>.wav")
@require("kiosk", *PREVIEW_ROLES)
def guide_audio(kind, key):
    """Return one sentence of the spoken guide (a step's instructions, a service, a category, a ticket)."""
    principal = auth.current_principal()
    site = _site_of(principal, request.args.get("site"))
    return guide.wav(get_db(), site, kind, key)


@bp.get("/qr/<visit_id>.png")
@require("kiosk", *PREVIEW_ROLES)
def qr(visit_id):
    """Return the QR code of a ticket's public status address, as a PNG image."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", visit_id):
        raise not_found("ticket", visit_id)
    ticket = store.latest_segment(get_db(), visit_id)
    if ticket is None:
        raise not_found("ticket", visit_id)
    auth.require_site(auth.current_principal(), store.site_by_id(get_db(), ticket["site_id"]))
    code = qrcode.QRCode(box_size=10, border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(absolute(status_path(ticket)))
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(out)
    out.seek(0)
    response = send_file(out, mimetype="image/png", max_age=3600)
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


# --- issuing ---------------------------------------------------------------------------

class KioskTicket(Body):
    """A ticket the kiosk's script asks for (``request_id`` makes a double tap harmless)."""

    service = contract.Ref(required=True)
    priority = Text(max_length=32, name=True)
    request_id = Text(max_length=64)
    site = contract.Ref()


def _device_caller() -> bool:
    """Tell whether a paired kiosk (not a previewing administrator) is asking."""
    principal = auth.current_principal()
    return principal is not None and principal.kind == "device"


@bp.post("/api/tickets")
@ratelimit.limit("issue", "KIOSK_RATE_LIMIT", lambda: str(auth.current_principal().device_id),
                 only_created=True, exempt_when=lambda: not _device_caller())
@require("kiosk", *PREVIEW_ROLES)
def issue_ticket():
    """Issue a ticket from the kiosk, record its print job and start printing it after commit.

    The same ``request_id`` from the same kiosk within ten minutes answers with
    the ticket it already produced (200) instead of issuing another (201).
    """
    data = contract.load(KioskTicket())
    principal = auth.current_principal()
    app = current_app._get_current_object()
    db = get_db()
    clock = current_clock()
    site = _site_of(principal, data["site"])
    request_id = data["request_id"]
    if request_id is not None and not REQUEST_ID.match(request_id):
        raise Invalid(_l("El identificador de la solicitud no es válido (8 a 64 letras, números, - o _)."),
                      code="invalid_request_id", field="request_id")
    device_id = principal.device_id
    if data["priority"] is not None:
        category = store.find_category(db, data["priority"])
        if category is None or not category["active"] or not category["kiosk_visible"]:
            raise Invalid(_l("La categoría preferencial «%(c)s» no se ofrece en el kiosco.",
                             c=data["priority"]), code="invalid_priority", field="priority")
    since = clock.now_ms() - REQUEST_MEMORY_SECONDS * 1000
    if device_id and request_id:
        seen = store.kiosk_request(db, device_id, request_id, since)
        if seen is not None:
            return _issued_reply(seen["ticket_id"], seen["job_id"], repeated=True)
    config = principal.config if principal.kind == "device" else {}
    # The engine announces after the commit of the whole unit (ticket, job, request id).
    engine = QueueEngine(db, clock, current_announcer())
    actor = Actor(user_id=principal.user_id, device_id=device_id, role=principal.role)
    outlook = engine.outlook(site, data["service"], data["priority"])  # its reads hold no lock
    seen = None
    with immediate(db):
        if device_id and request_id:
            store.lock_kiosk(db, device_id)  # two taps racing: the second one sees the first's ticket
            seen = store.kiosk_request(db, device_id, request_id, since)
        if seen is None:
            issued = engine.issue(site, data["service"], data["priority"], actor, outlook=outlook)
            ticket = store.ticket_by_id(db, issued["id"])
            content = jobs.ticket_content(engine, ticket, absolute(status_path(ticket)), config,
                                              body=issued)
            job = jobs.create_job(db, ticket=ticket, device_id=device_id,
                                      settings=printer_settings(config), content=content,
                                      now_ms=clock.now_ms())
            if device_id and request_id:
                store.remember_kiosk_request(db, device_id, request_id, ticket["id"], job["id"],
                                             clock.now_ms(), since)
    if seen is not None:
        return _issued_reply(seen["ticket_id"], seen["job_id"], repeated=True)
    reply = _issued_reply(ticket["id"], job["id"], repeated=False, engine=engine, body=issued)
    dispatch.submit(app, job)
    return reply


def _issued_reply(ticket_id: int, job_id: int | None, *, repeated: bool, engine=None,
                  body: dict | None = None):
    """Answer with the ticket (estimate, absolute status URL, QR image) and its print job."""
    engine = engine or current_engine()
    db = get_db()
    ticket = store.ticket_by_id(db, ticket_id)
    reply = dict(body) if body else engine.with_estimate(ticket)
    reply["status_url"] = absolute(reply["status_url"])
    reply["qr_url"] = f"/kiosk/qr/{ticket['visit_id']}.png"
    job = store.print_job_by_id(db, job_id) if job_id else None
    tz = engine.lookup.site(ticket["site_id"])["timezone"]
    reply["print"] = jobs.job_json(job, tz) if job else None
    reply["repeated"] = repeated
    return jsonify(reply), 200 if repeated else 201


@bp.post("/api/checkin")
@require("kiosk", *PREVIEW_ROLES)
def check_in():
    """Check in an appointment (a ticket, printed) or confirm a ticket from a phone, by its code."""
    data = contract.load(checkin.KioskCheckIn())
    principal = auth.current_principal()
    app = current_app._get_current_object()
    db = get_db()
    clock = current_clock()
    site = _site_of(principal, data["site"])
    engine = QueueEngine(db, clock, current_announcer())
    actor = Actor(user_id=principal.user_id, device_id=principal.device_id, role=principal.role)
    config = principal.config if principal.kind == "device" else {}
    # The appointment's ticket and its print job are one transaction, like a kiosk's ticket;
    # a refused code rolls back whatever the check-in began.
    try:
        with immediate(db):
            result = check_in_code(engine, site, data["code"], actor)
            if result["kind"] != "appointment":
                return jsonify(checkin.arrival_reply(engine, result["ticket"])), 200
            ticket = result["ticket"]
            content = jobs.ticket_content(engine, ticket, absolute(status_path(ticket)), config,
                                          body=result["body"])
            job = jobs.create_job(db, ticket=ticket, device_id=principal.device_id,
                                  settings=printer_settings(config), content=content,
                                  now_ms=clock.now_ms())
    except DomainError as exc:
        body, status = checkin.refusal(db, data["code"], exc)
        return jsonify(body), status
    response, status = _issued_reply(ticket["id"], job["id"], repeated=False, engine=engine,
                                     body=result["body"])
    payload = response.get_json()
    payload.update(checked_in="appointment", message=str(_l("Cita registrada. Este es su turno.")))
    dispatch.submit(app, job)
    return jsonify(payload), 201


@bp.get("/api/jobs/<int:job_id>")
@require("kiosk", *PREVIEW_ROLES)
def print_job(job_id):
    """Return the state of one of this kiosk's print jobs (the fallback when the socket is down)."""
    principal = auth.current_principal()
    db = get_db()
    job = jobs.find_job(db, job_id)
    site = store.site_by_id(db, job["site_id"])
    auth.require_site(principal, site)
    if principal.kind == "device" and job["device_id"] != principal.device_id:
        raise not_found("print_job", job_id)
    return jsonify(jobs.job_json(job, site["timezone"]))


# --- kiosk settings (administrators) ---------------------------------------------------------

def _kiosk_device(device_id: int) -> dict:
    """Return a kiosk device the caller may manage, or refuse."""
    device = store.device_by_id(get_db(), device_id)
    if device is None or device["kind"] != "kiosk":
        raise not_found("device", device_id)
    auth.require_site(auth.current_principal(), store.site_by_id(get_db(), device["site_id"]))
    return device


def _kiosk_json(device: dict) -> dict:
    """Return a kiosk's settings and its printer's last known state."""
    config = json.loads(device["config"] or "{}")
    state = store.printer_state(get_db(), device["id"])
    site = store.site_by_id(get_db(), device["site_id"])
    settings = printer_settings(config)
    settings.update(idle_seconds=_idle_seconds(config), language=config.get("language", "es"),
                    footer=config.get("footer", ""))
    return {"id": device["id"], "name": device["name"], "site": site["code"], "settings": settings,
            "printer_status": state["status"] if state else None,
            "printer_message": state["message"] if state else None,
            "agent_online": remote.agent_online(device["id"])
            if settings["printer"] == AGENT else None}


class KioskSettings(Body):
    """A kiosk's printer and screen settings (each optional: only what is sent changes)."""

    printer = Text(max_length=120, name=True, metadata={
        "description": "virtual: | tcp:HOST:9100 | serial:/dev/ttyUSB0 | usb:VID:PID | "
                       "file:/dev/usb/lp0 | agent | none"})
    paper = Text(max_length=8, metadata={"enum": ["80mm", "58mm"]})
    profile = Text(max_length=64, name=True, metadata={
        "description": "python-escpos printer profile, e.g. TM-T20II"})
    codepage = Text(max_length=16, name=True, metadata={"description": "e.g. CP858"})
    native_qr = Flag()
    idle_seconds = Int(metadata={"minimum": IDLE_RANGE[0], "maximum": IDLE_RANGE[1]})
    language = Text(max_length=8, metadata={"enum": ["es", "en"]})
    footer = Text(max_length=200, name=True, codes={
        "too_long": _l("El pie del tiquete admite máximo 200 caracteres.")})


class PrinterSettings(Shape):
    """A kiosk's printer and screen settings as stored (defaults filled in)."""

    printer = fields.String(required=True)
    paper = fields.String(required=True)
    profile = fields.String(required=True)
    codepage = fields.String(required=True)
    native_qr = fields.Boolean(required=True)
    idle_seconds = fields.Integer(required=True)
    language = fields.String(required=True)
    footer = fields.String(required=True)


class Kiosk(Shape):
    """A kiosk's settings and its printer's last known state."""

    id = fields.Integer(required=True)
    name = fields.String(required=True)
    site = fields.String(required=True)
    settings = fields.Nested(PrinterSettings, required=True)
    printer_status = fields.String(required=True, allow_none=True)
    printer_message = fields.String(required=True, allow_none=True)
    agent_online = fields.Boolean(required=True, allow_none=True)


@api_bp.route("/kiosks/<int:device_id>")
@require(*MANAGERS)
@api_bp.response(200, Kiosk)
@api_bp.errors(401, 403, 404)
def get_kiosk(device_id):
    """Return a kiosk's printer and screen settings and its printer's last known state."""
    return jsonify(_kiosk_json(_kiosk_device(device_id)))


@api_bp.route("/kiosks/<int:device_id>", methods=["PATCH"])
@require("admin")
@api_bp.arguments(KioskSettings)
@api_bp.response(200, Kiosk)
@api_bp.errors(400, 401, 403, 404, 413, 415)
def update_kiosk(data, device_id):
    """Change a kiosk's printer (spec, paper, profile, code page) and screen settings."""
    device = _kiosk_device(device_id)
    changes = validate_settings(data)
    if data["idle_seconds"] is not None:
        low, high = IDLE_RANGE
        if not low <= data["idle_seconds"] <= high:
            raise Invalid(_l("El tiempo de inactividad debe estar entre %(a)s y %(b)s segundos.",
                             a=low, b=high),
                          code="invalid_idle_seconds", field="idle_seconds")
        changes["idle_seconds"] = data["idle_seconds"]
    if data["language"] is not None:
        if data["language"] not in current_app.config["LANGUAGES"]:
            raise Invalid(_l("Idioma no válido: use es o en."), code="invalid_language", field="language")
        changes["language"] = data["language"]
    if data["footer"] is not None:
        if len(data["footer"]) > 200:
            raise Invalid(_l("El pie del tiquete admite máximo 200 caracteres."), code="too_long",
                          field="footer")
        changes["footer"] = data["footer"]
    db = get_db()
    clock = current_clock()
    config = json.loads(device["config"] or "{}")
    config.update(changes)
    with immediate(db):
        store.set_device_config(db, device["id"], config)
        store.audit(db, clock.now_ms(), auth.current_principal().user_id, "kiosk.settings",
                    f"device:{device['id']}", changes)
    return jsonify(_kiosk_json(store.device_by_id(db, device["id"])))


def init_app(app) -> None:
    """Register the kiosk page, its ticket and check-in endpoints and the kiosk settings API."""
    app.register_blueprint(bp)
    contract.register(app, api_bp)
