"""Login and logout pages, and the language switch."""

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from shared import auth, devices, ratelimit
from shared.clock import current_clock
from shared.cluster import current_cluster
from shared.db import get_db, ping, takes_writes
from shared.errors import DomainError

bp = Blueprint("accounts", __name__)

HOME_BY_ROLE = {"admin": "/admin/", "supervisor": "/reports/monitor", "official": "/desk/"}


def _safe_next(target: str | None) -> str | None:
    """Accept only local paths as the page to return to after login."""
    # Browsers read "/\\evil.example" like "//evil.example": refuse backslashes and controls too.
    if (target and target.startswith("/") and not target.startswith("//") and len(target) < 500
            and not any(c == "\\" or ord(c) < 32 for c in target)):
        return target
    return None


def _login_flood():
    """Answer a flood of login attempts with the login page and the 429 message."""
    message = _("Demasiadas solicitudes seguidas. Espere un momento e intente de nuevo.")
    return current_app.make_response((render_template(
        "login.html", error=message, next=_safe_next(request.args.get("next"))), 429))


@bp.route("/login", methods=["GET", "POST"])
@ratelimit.limit("login", (20, 60), methods=["POST"], on_breach=_login_flood)
def login():
    """Show the login form and start a session on good credentials."""
    error = None
    status = 200
    if request.method == "POST":
        clock = current_clock()
        try:
            user = auth.authenticate(get_db(), request.form.get("username", ""),
                                     request.form.get("password", ""), clock)
        except DomainError as exc:
            error, status = str(exc.message), exc.status
        else:
            auth.login_session(user, clock)
            response = redirect(_safe_next(request.args.get("next")) or HOME_BY_ROLE[user["role"]])
            auth.remember_browser(response, user["username"])
            return response
    return render_template("login.html", error=error,
                           next=_safe_next(request.args.get("next"))), status


@bp.route("/logout", methods=["POST"])
def logout():
    """End the browser session."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("accounts.login"))


@bp.route("/lang/<code>", methods=["POST"])
def set_language(code):
    """Remember the chosen language (es or en) for this browser."""
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(_safe_next(request.form.get("next")) or "/")


@bp.route("/")
def home():
    """Send each visitor to the page of their role, or to the login page."""
    principal = auth.current_principal()
    if principal is None:
        return redirect(url_for("accounts.login"))
    if principal.kind == "device":
        return redirect(f"/{principal.role}/")
    return redirect(HOME_BY_ROLE[principal.role])


@bp.route("/pair/<code>", methods=["GET", "POST"])
def pair(code):
    """Pair this browser as a kiosk, display or survey screen with a one-time code."""
    db = get_db()
    clock = current_clock()
    if request.method == "GET":
        device = devices.device_for_code(db, code, clock)
        status = 200 if device else 404
        return render_template("pair.html", device=device, code=code), status
    paired = devices.pair(db, code, clock)
    if paired is None:
        return render_template("pair.html", device=None, code=code), 404
    device, token = paired
    response = redirect(f"/{device['kind']}/")
    response.set_cookie(auth.DEVICE_COOKIE, token, max_age=400 * 24 * 3600, httponly=True,
                        samesite="Lax", secure=current_app.config["SESSION_COOKIE_SECURE"])
    return response


@bp.route("/healthz")
def health():
    """Tell a load balancer or a kiosk whether this server, its database and its message queue answer.

    Answers 200 when everything this process needs answers, 503 (with the part
    that does not) otherwise: the database (``"refuses_writes"`` when it reads
    but takes no writes: PostgreSQL says so of a standby or a database set
    read-only; a write refused for a full disk or a read-only file says so until
    a probe finds the database takes writes again), and the message queue when
    several processes share events (``"off"`` when one process runs alone).
    """
    app = current_app._get_current_object()
    checks = {"database": "ok", "queue": "ok"}
    try:
        read_only = ping(app, timeout=2)
    except Exception:  # whatever the engine says, the answer is the same: not answering
        app.logger.warning("health: the database does not answer", exc_info=True)
        checks["database"] = "down"
    else:
        if read_only:
            checks["database"] = "refuses_writes"
        elif app.extensions.get("turnos.writes_refused"):
            if takes_writes(app):
                app.logger.info("health: the database takes writes again")
                app.extensions.pop("turnos.writes_refused", None)
            else:
                checks["database"] = "refuses_writes"
    cluster = current_cluster(app)
    if not cluster.shared:
        checks["queue"] = "off"
    elif not cluster.check_queue():
        checks["queue"] = "down"
    ok = checks["database"] == "ok" and checks["queue"] != "down"
    return {"ok": ok, **checks}, 200 if ok else 503


def init_app(app) -> None:
    """Register the accounts pages."""
    app.register_blueprint(bp)
