"""The Turnos web application: one factory that assembles the core and the faces."""

from pathlib import Path

from flask import Flask, current_app, jsonify, render_template, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

import admin.views
import api.views
import desk.views
import display.views
import kiosk.views
import portal.views
import printer.views
import reports.views
import status.views
from shared import auth, config, db, i18n, migrations, ratelimit, sockets, speech
from shared import clock as clocks
from shared.errors import DomainError, Invalid
from shared.text import storable
from shared.web import CSP, IdConverter, json_errors, wants_json

from . import accounts

ROOT = Path(__file__).resolve().parent.parent

# Each face registers its blueprints (pages, its part of the API, its socket events);
# the core knows none of them. Importing them here, before Socket.IO is set up, also
# declares their @socketio.on handlers for every app, not only the first.
FACES = (api.views, accounts, kiosk.views, display.views, desk.views, admin.views, reports.views,
         status.views, printer.views, portal.views)


def create_app(test_config: dict | None = None, *, instance=None, clock=None) -> Flask:
    """Create the application for an instance folder (``./instance`` by default)."""
    test_config = dict(test_config or {})
    folder = config.instance_path(instance or test_config.pop("INSTANCE", None))
    app = Flask(__name__, instance_path=str(folder), static_folder=str(ROOT / "static"),
                static_url_path="/static")
    # Before any rule is added: every <int:...> in a URL is a row id (see IdConverter).
    app.url_map.converters["int"] = IdConverter
    app.config.from_mapping(config.build(folder, test_config))
    clocks.init_app(app, clock)
    app.session_interface = CookieSessions()
    app.wsgi_app = SecurityHeaders(app.wsgi_app, secure=app.config.get("SESSION_COOKIE_SECURE"))
    if app.config.get("BEHIND_PROXY"):
        # Behind nginx: the client's address (rate limits, login throttling) and scheme
        # come from the proxy's X-Forwarded-* headers, trusted for that many proxies only.
        hops = int(app.config["BEHIND_PROXY"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    i18n.init_app(app)
    db.init_app(app)
    try:
        migrations.init_app(app)
    except Exception:  # no database to work with: no pool left trying to reach it
        app.extensions["turnos.pool"].close()
        raise
    sockets.init_app(app)
    speech.init_app(app)
    ratelimit.init_app(app)
    CSRFProtect(app)  # the one CSRF mechanism; auth.check_csrf says which requests need it
    app.before_request(_refuse_unstorable_text)
    app.before_request(auth.check_csrf)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.context_processor(_template_globals)
    for face in FACES:
        face.init_app(app)
    return app


def _refuse_unstorable_text() -> None:
    """Refuse a path, query or form value that no database can store (a NUL byte), before any view runs."""
    values = [*(request.view_args or {}).values(), *request.args.values()]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        values.extend(request.form.values())
    if any(isinstance(v, str) and not storable(v) for v in values):
        raise Invalid(_l("La solicitud contiene caracteres que no son texto válido."),
                      code="invalid_characters")


def _domain_error(exc: DomainError):
    """Render a refusal: JSON {error, message} for the API, a page for browsers."""
    if json_errors():
        return jsonify(exc.to_dict()), exc.status
    return render_template("error.html", error=exc.code, message=str(exc.message)), exc.status


def _http_error(exc: HTTPException):
    """Render HTTP errors (404, 405, 413, 429, ...) in the client's language, keeping their headers."""
    if exc.response is not None:
        # A page prepared for this refusal (the login form of a throttled login).
        return exc.response
    messages = {
        400: _("La solicitud no es válida."),
        404: _("La dirección no existe."),
        405: _("Método no permitido para esta dirección."),
        413: _("El contenido enviado es demasiado grande."),
        415: _("Envíe el contenido como JSON (Content-Type: application/json)."),
        429: _("Demasiadas solicitudes seguidas. Espere un momento e intente de nuevo."),
    }
    codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed",
             413: "too_large", 415: "unsupported_media_type", 429: "rate_limited"}
    code = exc.code or 500
    message = messages.get(code, exc.description or "")
    error = codes.get(code, "http_error")
    # Allow (405), Retry-After (429) and the like travel with the refusal.
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    if json_errors():
        return jsonify({"error": error, "message": message}), code, headers
    return render_template("error.html", error=error, message=message), code, headers


def _unexpected_error(exc: Exception):
    """Log an unexpected failure and answer with a calm 500 that leaks nothing.

    A database that went away is not a bug: 503, saying so, and nothing was changed.
    """
    if db.is_unavailable(exc):
        current_app.logger.warning("the database does not answer: %s", exc)
        message = _("No se pueden consultar los datos en este momento; no se cambió nada. "
                    "Intente de nuevo en unos segundos; si se repite, avise al administrador.")
        if db.refuses_writes(exc):  # /healthz says so until it takes writes again
            current_app.extensions["turnos.writes_refused"] = str(exc)
            message = _("Los datos se pueden consultar, pero no admiten cambios en este momento "
                        "(disco lleno o base de datos en solo lectura); no se cambió nada. "
                        "Avise al administrador.")
        if wants_json():
            return jsonify({"error": "database_unavailable", "message": message}), 503
        return render_template("error.html", error="database_unavailable", message=message), 503
    current_app.logger.exception("unexpected error")
    message = _("Ocurrió un error inesperado. Intente de nuevo; si se repite, avise al administrador.")
    if json_errors():
        return jsonify({"error": "internal_error", "message": message}), 500
    return render_template("error.html", error="internal_error", message=message), 500


class SecurityHeaders:
    """WSGI middleware: the security headers every page and API answer carries.

    A view that sets one of them (a stricter policy, say) keeps its own. Done
    on the raw header list: werkzeug's ``Headers.setdefault`` scans the list
    per header, which showed up in the profile of the busiest endpoints.
    """

    HEADERS = (
        ("Content-Security-Policy", CSP),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"),
    )

    def __init__(self, wsgi_app, *, secure: bool = False):
        self.wsgi_app = wsgi_app
        headers = list(self.HEADERS)
        if secure:
            # Served behind HTTPS (serve --secure-cookies): browsers must never fall back to HTTP.
            headers.append(("Strict-Transport-Security", "max-age=31536000"))
        self.headers = [(name.lower(), name, value) for name, value in headers]

    def __call__(self, environ, start_response):
        def start(status, headers, exc_info=None):
            present = {name.lower() for name, _ in headers}
            headers.extend((name, value) for low, name, value in self.headers if low not in present)
            if "" in (value for _, value in headers):
                # A view that set one of them empty drops it (the framable public wait times).
                headers[:] = [(name, value) for name, value in headers if value != ""]
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, without building the signer when no cookie came.

    API clients and devices send a bearer token and no session cookie: for
    them the signer (key derivation included) was pure cost on every request.
    """

    def open_session(self, app, request):
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)


def _template_globals() -> dict:
    """Expose the CSRF token, the principal and the language to every template."""
    principal = None
    try:
        principal = auth.current_principal()
    except DomainError:
        principal = None
    return {"csrf_token": auth.csrf_token, "principal": principal,
            "lang": str(get_locale() or "es")}
