"""What every administration page shares: the blueprint, the login redirect, the change's
transaction with its audit entry and announcement, and the page frame.

Every page needs the admin role; supervisors may read the configuration pages
(never users, the audit log or pairing codes). Every change is validated
before anything is written, recorded in the audit log in the same
transaction, and announced as ``config_changed`` to the site's room once that
transaction commits, so kiosks, screens and desks refresh without a restart.
"""

import contextlib

from flask import Blueprint, current_app, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from shared import auth, store
from shared.db import IntegrityError, get_db, immediate
from shared.errors import Conflict, DomainError, not_found
from shared.events import announcer_for
from shared.hours import WEEKDAYS
from shared.timefmt import DEFAULT_TIMEZONE, local_datetime
from shared.web import current_clock, login_first

from . import forms

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
               static_folder="static")


# --- request plumbing ----------------------------------------------------------------

bp.before_request(login_first)


@bp.after_request
def no_store(response):
    """Keep administration pages (pairing codes, user lists) out of browser and proxy caches."""
    response.headers["Cache-Control"] = "no-store"
    return response


@contextlib.contextmanager
def write(db):
    """Run a change in one write transaction; a clash with a simultaneous change is a 409, not a 500."""
    try:
        with immediate(db):
            yield
    except IntegrityError as exc:
        raise Conflict(_l("Otro cambio hecho al mismo tiempo choca con este: recargue la página e "
                          "intente de nuevo."), code="concurrent_change") from exc


def me() -> auth.Principal:
    """Return the signed-in principal (the role decorator already checked it)."""
    return auth.current_principal()


def now() -> int:
    """Return the current time in milliseconds."""
    return current_clock().now_ms()


def audit_change(action: str, target: str, detail: dict | None = None) -> None:
    """Record an administrative change (inside the change's transaction)."""
    store.audit(get_db(), now(), me().user_id, action, target, detail)


def announce(sites, what: str) -> None:
    """Tell the kiosks, screens and desks of some sites that their configuration changed.

    Called inside the change's transaction: they hear it once it commits, never if it rolls back.
    """
    announcer = announcer_for(get_db())
    for site in sites:
        announcer.config_changed(site, what)


def changes(before: dict, after: dict) -> dict:
    """Return ``{field: [old, new]}`` for the fields a change touches."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def refusal(exc: DomainError) -> dict:
    """Return the template variables that show a refusal next to its field."""
    return {"error_message": str(exc.message), "error_field": exc.details.get("field")}


def visible_site(code: str) -> dict:
    """Return a site the principal may see, by code."""
    site = store.find_site(get_db(), code)
    if site is None:
        raise not_found("site", code)
    auth.require_site(me(), site)
    return site


def visible_sites() -> list[dict]:
    """Return the sites the principal may see."""
    principal = me()
    return [s for s in store.list_sites(get_db()) if principal.may_use_site(s["id"])]


def page(template: str, status: int = 200, **context):
    """Render an administration page with what every page shows."""
    principal = me()
    context.setdefault("can_edit", principal is not None and principal.is_admin)
    context.setdefault("error_message", None)
    context.setdefault("error_field", None)
    context.setdefault("fields", MultiDict())
    return render_template(f"admin/{template}", printer_links=_printer_links(),
                           weekdays=WEEKDAYS, weekday_labels=forms.WEEKDAY_LABELS, **context), status


def _printer_links() -> list[tuple[str, str]]:
    """Return the printer pages other parts of Turnos serve (virtual tickets, failures)."""
    links = []
    for rule in current_app.url_map.iter_rules():
        path = rule.rule
        if (rule.arguments or "GET" not in rule.methods or rule.endpoint.endswith("static")
                or not (path.startswith("/admin/printer") or path.startswith("/printer"))):
            continue
        if "fail" in path:
            label = _("Fallas de impresión")
        elif "ticket" in path or "virtual" in path:
            label = _("Tiquetes de la impresora virtual")
        else:
            label = _("Impresoras")
        links.append((label, path))
    return sorted(set(links), key=lambda link: link[1])


@bp.app_template_filter("admin_time")
def admin_time(ms, tz=None) -> str:
    """Format a stored millisecond time as local ``YYYY-MM-DD HH:MM`` (blank when missing)."""
    if not ms:
        return ""
    return local_datetime(ms, tz or DEFAULT_TIMEZONE).strftime("%Y-%m-%d %H:%M")


