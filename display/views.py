"""The waiting-room display: the page, its announcement audio, and its live socket.

Routes (blueprint ``display``):

- ``GET /display/``: the full-screen page of a paired display (``turnos_device``
  cookie from ``/pair/<code>``). An admin previews a site with ``?site=<code>``
  or one display device with ``?device=<id>``; without either, a list to choose.
  The page is in Spanish unless ``?lang=`` says otherwise.
- ``GET /display/audio/chime.wav``: the two-tone chime played before each call.
- ``GET /display/audio/call.wav?code=A-007&desk=3&pref=0``: the spoken
  announcement of a call (espeak-ng, cached under ``<instance>/audio/``).
  ``code`` must be a ticket code of one of the site's services (``P`` in front
  when ``pref=1``), ``desk`` a desk code of the display's site. 503
  ``speech_unavailable`` when espeak-ng is missing: the page plays the chime alone.
- ``GET /display/audio/phrase?code=...&desk=...&pref=...``: the same
  announcement as text ``{"phrase": ...}``, for the browser's own voices.

Sockets: a display connects with its cookie (an admin's preview sends
``auth={"display": true, "site": ...}`` or ``{"display": true, "device": ...}``);
``display.live.on_display_connect`` admits it to its site's room and sends a
snapshot shaped by its zone. Device settings: see ``display.config``.
"""

import functools
import re
from pathlib import Path

from flask import Blueprint, current_app, jsonify, render_template, request, send_file, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from shared import auth, media, sockets, speech, store
from shared.clock import current_clock
from shared.db import get_db
from shared.errors import DomainError, Invalid, Unauthorized, not_found
from shared.speech import SpeechUnavailable, call_phrase, chime_wav

from . import live

bp = Blueprint("display", __name__, url_prefix="/display", template_folder="templates",
               static_folder="static", static_url_path="/static")

CATCH_UP_SECONDS = 120      # calls missed while offline are still announced when this recent
_TICKET_CODE = re.compile(r"^[A-Z]{1,4}-[0-9]{1,5}$")


def audio_folder() -> Path:
    """Return the folder of generated audio (``<instance>/audio``)."""
    return Path(current_app.config["INSTANCE"]) / "audio"


def current_screen() -> live.Screen:
    """Return the screen this request is for, or refuse (401 unpaired, 403 other roles)."""
    principal = auth.current_principal()
    if principal is None:
        raise Unauthorized(_l("Esta pantalla no está vinculada. Pida al administrador un código de "
                              "vinculación y ábralo en este equipo (/pair/<código>)."),
                           code="not_paired")
    return live.screen_for(get_db(), principal, request.args.get("site"), request.args.get("device"))


def json_errors(view):
    """Answer a refusal as {error, message} JSON (an <audio> element accepts anything)."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except DomainError as exc:
            return jsonify(exc.to_dict()), exc.status

    return wrapped


# --- the page -----------------------------------------------------------------

@bp.get("/")
def page():
    """Show the waiting-room screen (or, for an admin without ?site=, the list of screens)."""
    principal = auth.current_principal()
    if (principal is not None and principal.is_admin and not request.args.get("site")
            and not request.args.get("device")):
        return choose()
    screen = current_screen()
    params = {}
    socket_auth = {}
    if principal.kind != "device":
        if screen.device_id is not None:
            params = {"device": screen.device_id}
        else:
            params = {"site": screen.site["code"]}
        socket_auth = dict(params, display=True)
    lang = request.args.get("lang")
    lang = lang if lang in current_app.config["LANGUAGES"] else "es"
    with force_locale(lang):
        data = {
            "auth": socket_auth,
            "timezone": screen.site["timezone"],
            "chime_url": url_for("display.chime"),
            "call_url": url_for("display.call_audio", **params),
            "phrase_url": url_for("display.phrase", **params),
            "catch_up_seconds": CATCH_UP_SECONDS,
            "texts": {"preferential": _("Preferencial"), "waiting": _("En espera")},
        }
        return render_template("display/display.html", site=screen.site, data=data, lang=lang,
                               settings=screen.config)


def choose():
    """List the sites and display devices an admin may preview."""
    principal = auth.current_principal()
    db = get_db()
    sites = []
    for site in store.list_sites(db):
        if principal.may_use_site(site["id"]):
            devices = [d for d in store.list_devices(db, site["id"])
                       if d["kind"] == "display" and not d["revoked_at"]]
            sites.append({"site": site, "devices": devices})
    return render_template("display/choose.html", sites=sites)


# --- audio ------------------------------------------------------------------------

@bp.get("/audio/chime.wav")
@json_errors
def chime():
    """Serve the chime played before every announcement."""
    current_screen()
    return send_file(chime_wav(audio_folder()), mimetype="audio/wav", max_age=86400)


def requested_phrase(screen: live.Screen) -> str:
    """Return the announcement asked for by ?code=&desk=&pref=, checked against the site."""
    code = request.args.get("code", "")
    desk_code = request.args.get("desk", "")
    pref = request.args.get("pref", "0")
    if pref not in ("0", "1"):
        raise Invalid(_l("El parámetro pref debe ser 0 o 1."), code="invalid_pref")
    if not _TICKET_CODE.match(code):
        raise Invalid(_l("El código de turno no es válido (ejemplo: A-007)."), code="invalid_code")
    letters = code.split("-", 1)[0]
    prefix = letters[1:] if pref == "1" else letters
    prefixes = {s["prefix"] for s in store.list_services(get_db(), screen.site["id"])}
    if (pref == "1" and not letters.startswith("P")) or prefix not in prefixes:
        raise Invalid(_l("El código %(code)s no corresponde a ningún servicio de la sede.", code=code),
                      code="invalid_code")
    if not desk_code or len(desk_code) > 32:
        raise Invalid(_l("Indique el módulo (desk)."), code="invalid_desk")
    desk = store.find_desk(get_db(), desk_code, screen.site["id"])
    if desk is None:
        raise not_found("desk", desk_code)
    return call_phrase(code, desk["name"], preferential=pref == "1")


@bp.get("/audio/call.wav")
@json_errors
def call_audio():
    """Serve the spoken announcement of a call as a WAV file (made once, kept for every process)."""
    phrase = requested_phrase(current_screen())
    try:
        path = media.voice_clip(current_app.config["INSTANCE"], get_db(), speech.current_cache(), phrase,
                                current_clock().now_ms())
    except SpeechUnavailable as exc:
        current_app.logger.warning("spoken calls unavailable: %s", exc)
        raise DomainError(_l("La voz del servidor no está disponible; se oirá solo el timbre."),
                          code="speech_unavailable", status=503) from exc
    return send_file(path, mimetype="audio/wav", max_age=86400)


@bp.get("/audio/phrase")
@json_errors
def phrase():
    """Return the announcement of a call as text, for the browser's own voices."""
    return jsonify({"phrase": requested_phrase(current_screen())})


def init_app(app) -> None:
    """Register the display pages and its admission of waiting-room sockets."""
    sockets.admit_screens(app, live.on_display_connect)
    app.register_blueprint(bp)
