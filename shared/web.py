"""What every face's views use: who asks, what they address, how to answer, and the role groups.

One import for a view: the request's principal and actor, the site, desk or
ticket a path names (refused when the caller may not use it), absolute URLs,
whether a script asked (``wants_json``), the login redirect for pages
(``login_first``), the clock, and the role groups of ``shared.auth`` (where
who may do what is decided).
"""

from flask import current_app, jsonify, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from werkzeug.routing import IntegerConverter

from . import auth
from .auth import ADMINS, ANYONE, DEVICE_KINDS, MANAGERS, ROLES, STAFF, require
from .clock import current_clock
from .db import get_db
from .errors import Forbidden
from .queue import Actor, MayAct, current_engine
from .store import MAX_ID

__all__ = ["ADMINS", "ANYONE", "CSP", "DEVICE_KINDS", "MANAGERS", "ROLES", "STAFF", "IdConverter",
           "absolute", "actor", "current_clock", "desk_for", "desk_from_path", "json_errors",
           "login_first", "may_call_at", "may_move_ticket", "now_ms", "principal",
           "readable_desk", "require", "site_for", "ticket_for_action", "ticket_reply", "wants_json"]


# The pages' Content-Security-Policy (``server.SecurityHeaders`` sends it); the public wait
# times alone relax ``frame-ancestors`` to be embedded (``portal``).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "media-src 'self' data: blob:; connect-src 'self' ws: wss:; font-src 'self'; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


# --- who asks -------------------------------------------------------------------------

def principal() -> auth.Principal:
    """Return the authenticated principal (the role decorator already checked it)."""
    return auth.current_principal()


def actor() -> Actor:
    """Return the actor recorded in events for this request."""
    p = principal()
    return Actor(user_id=p.user_id, device_id=p.device_id, role=p.role)


def now_ms() -> int:
    """Return the application clock's time in milliseconds."""
    return current_clock().now_ms()


def login_first():
    """Send a browser without credentials to the login page (scripts get 401 from the views).

    A face's pages register it with ``blueprint.before_request(login_first)``.
    """
    if auth.current_principal() is None and not wants_json():
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    return None


# --- what the path names --------------------------------------------------------------------

def site_for(ident) -> dict:
    """Return a site the principal may use, or refuse."""
    site = current_engine().site(ident)
    auth.require_site(principal(), site)
    return site


def desk_from_path(ident) -> dict:
    """Return the desk a path names: an id, ``site:code``, or a code with ``?site=``."""
    engine = current_engine()
    site_code = request.args.get("site")
    return engine.desk(ident, engine.site(site_code) if site_code else None)


def readable_desk(ident) -> dict:
    """Return a desk of a site the caller belongs to (reading needs no hold)."""
    desk = desk_from_path(ident)
    auth.require_site(principal(), current_engine().lookup.site(desk["site_id"]))
    return desk


def desk_for(ident) -> dict:
    """Return a desk the principal may operate, or refuse."""
    return operable(desk_from_path(ident))


def operable(desk: dict) -> dict:
    """Return a desk if the principal may operate it, or refuse."""
    if not auth.may_act_for_desk(get_db(), principal(), desk):
        raise Forbidden(_l("Solo quien ocupa %(d)s (o un supervisor) puede operarlo.",
                           d=desk["name"]), code="not_desk_holder")
    return desk


def may_call_at(desk: dict) -> MayAct:
    """Return who may call at a desk (``desk_for``'s rule), for the claim to check as it claims.

    What needs no read, the caller's role and sites, is refused at once.
    """
    p = principal()
    if not (p.is_staff and p.may_use_site(desk["site_id"])):
        operable(desk)  # refuses without reading
    return MayAct(auth.desk_condition(p), operable)


def ticket_for_action(ticket_id, *, managers_anywhere: bool = True) -> dict:
    """Return a ticket the principal may act on: at its own desk, or as a manager of its site."""
    engine = current_engine()
    ticket, holder_id = engine.ticket_with_desk_holder(ticket_id)
    p = principal()
    auth.require_site(p, engine.lookup.site(ticket["site_id"]))
    if p.role in MANAGERS and managers_anywhere:
        return ticket
    desk = engine.lookup.desk(ticket["desk_id"])
    if desk is None or not auth.may_act_for_desk(get_db(), p, desk, holder_id):
        raise Forbidden(_l("El turno %(code)s no está en su módulo.", code=ticket["code"]),
                        code="not_your_ticket")
    return ticket


def may_move_ticket() -> MayAct:
    """Return who may move a ticket (``ticket_for_action``'s rule), for a step to check as it moves it."""
    return MayAct(auth.ticket_condition(principal()), ticket_for_action)


class IdConverter(IntegerConverter):
    """``<int:...>`` in URLs: a row id in ASCII digits (documented up to 2^63 − 1).

    Werkzeug's own accepts any Unicode decimal digit and any size. A number
    beyond the largest id either engine stores names no row: it becomes 0
    (no row has id 0), so the view answers 404 instead of the database
    overflowing. Refusing it in the converter instead would make werkzeug
    answer another method's 405 for the same path.
    """

    regex = r"[0-9]+"

    def __init__(self, map, *args, **kwargs):
        super().__init__(map, *args, **kwargs)
        self.max = MAX_ID

    def to_python(self, value: str) -> int:
        """Return the id a path segment names (0 when it names none)."""
        number = int(value)
        return number if number <= MAX_ID else 0


# --- how to answer -----------------------------------------------------------------------------

def wants_json() -> bool:
    """Tell whether this request comes from a script (the API, a face's script API, fetch)."""
    if request.path.startswith("/api/") or "/api/" in request.path:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def json_errors() -> bool:
    """Tell whether a refusal should be JSON: a script asked, or the request itself is JSON."""
    return wants_json() or request.is_json


def ticket_reply(ticket: dict, status: int = 200):
    """Answer with a ticket's API shape, its absolute status URL and estimate."""
    data = current_engine().with_estimate(ticket)
    data["status_url"] = absolute(data["status_url"])
    return jsonify(data), status


def absolute(path: str) -> str:
    """Make a path absolute with the configured public URL or this request's host."""
    base = current_app.config.get("PUBLIC_URL")
    if not base:
        # request.host_url rebuilds and re-encodes the whole URL; the base only
        # depends on these values, so it is worked out once for each.
        env = request.environ
        key = (env.get("wsgi.url_scheme"), env.get("HTTP_HOST"), env.get("SERVER_NAME"),
               env.get("SERVER_PORT"), env.get("SCRIPT_NAME"))
        base = _HOST_URLS.get(key)
        if base is None:
            base = request.host_url
            if len(_HOST_URLS) < 64:
                _HOST_URLS[key] = base
    return base.rstrip("/") + path


_HOST_URLS: dict[tuple, str] = {}
