"""Accounts, tokens, devices and the role checks every route and socket event uses.

Browsers authenticate with the session cookie (and a CSRF token on every
state-changing request); devices and integrations send
``Authorization: Bearer <token>``. Tokens are random, shown once, and stored
only as a SHA-256 hash. Passwords are hashed with scrypt (Werkzeug).
"""

import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app, g, has_app_context, request, session
from flask_babel import lazy_gettext as _l
from werkzeug.security import check_password_hash, generate_password_hash

from . import cluster, store
from .clock import current_clock
from .db import get_db
from .errors import Conflict, Forbidden, Invalid, TooMany, Unauthorized

# Who may do what: the roles, and the groups every view and socket check names.
ROLES = ("admin", "supervisor", "official")      # staff accounts
DEVICE_KINDS = ("kiosk", "display", "survey")    # paired devices
ADMINS = ("admin",)
MANAGERS = ("admin", "supervisor")               # configuration to read, reports, reprints, any desk
STAFF = ROLES                                    # anyone logged in at a desk or an office
ANYONE = (*STAFF, *DEVICE_KINDS)
STAFF_TOKEN_PREFIX = "tst_"
DEVICE_TOKEN_PREFIX = "tdv_"
CSRF_HEADER = "X-CSRF-Token"
DEVICE_COOKIE = "turnos_device"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Principal:
    """Whoever makes a request: a staff user or a paired device (shared by requests: read only)."""

    kind: str                      # "user" or "device"
    role: str                      # admin | supervisor | official | kiosk | display | survey
    user_id: int | None = None
    username: str | None = None
    display_name: str = ""
    device_id: int | None = None
    device_name: str = ""
    site_id: int | None = None     # a device's site
    site_ids: list[int] = field(default_factory=list)  # a user's sites (empty: all)
    config: dict = field(default_factory=dict)
    via: str = "session"           # session | bearer

    @property
    def is_staff(self) -> bool:
        """Tell whether this is a logged-in user."""
        return self.kind == "user"

    @property
    def is_admin(self) -> bool:
        """Tell whether this is an administrator."""
        return self.role == "admin"

    def may_use_site(self, site_id: int) -> bool:
        """Tell whether this principal may act on a site."""
        if self.kind == "device":
            return self.site_id == site_id
        return self.is_admin or not self.site_ids or site_id in self.site_ids

    def history_length(self) -> int:
        """Return how many past calls a display shows (10 unless configured)."""
        value = self.config.get("history_length", 10)
        return value if isinstance(value, int) and 1 <= value <= 50 else 10

    def to_json(self) -> dict:
        """Return what a client may know about itself."""
        return {"kind": self.kind, "role": self.role, "username": self.username,
                "display_name": self.display_name, "device": self.device_id,
                "device_name": self.device_name}


# --- passwords and users -------------------------------------------------

def hash_password(password: str) -> str:
    """Hash a password with the configured scheme (scrypt by default)."""
    method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt")
    return generate_password_hash(password, method=method)


def validate_password(password) -> None:
    """Refuse passwords that are not text or shorter than 8 characters."""
    if not isinstance(password, str) or len(password) < 8 or len(password) > 200:
        raise Invalid(_l("La contraseña debe tener entre 8 y 200 caracteres."),
                      code="weak_password")


def create_user(db, username: str, password: str, role: str, clock, display_name: str = "",
                site_ids: list[int] | None = None) -> int:
    """Create a staff account and return its id."""
    if not isinstance(username, str) or not username.strip() or len(username) > 64:
        raise Invalid(_l("El nombre de usuario es obligatorio (máximo 64 caracteres)."),
                      code="invalid_username")
    if role not in ROLES:
        raise Invalid(_l("Rol no válido: use admin, supervisor u official."), code="invalid_role")
    validate_password(password)
    if store.find_user(db, username.strip()) is not None:
        raise Conflict(_l("Ya existe el usuario «%(u)s».", u=username), code="user_exists")
    user_id = store.insert_user(db, username.strip(), display_name or username.strip(),
                                hash_password(password), role, clock.now_ms())
    if site_ids:
        store.set_user_sites(db, user_id, site_ids)
    return user_id


def authenticate(db, username, password, clock, source: "LoginSource | None" = None) -> dict:
    """Return the user for a username and password, holding back a source that keeps failing.

    Failures count per source: the browser that logged in as this account
    before (its ``turnos_known`` cookie), or else the address and account
    together. After ``LOGIN_MAX_FAILURES`` in a row a source is held back
    ``LOGIN_HOLD_SECONDS``, twice as long after each further failure, at most
    ``LOGIN_LOCKOUT_SECONDS``; failures older than that are forgotten. The
    account itself never locks: its owner still logs in from anywhere else.
    """
    if not isinstance(username, str) or not isinstance(password, str):
        raise Invalid(_l("Usuario y contraseña son obligatorios."), code="missing_credentials")
    username = username.strip()
    source = source or login_source(username)
    now = clock.now_ms()
    record = store.login_throttle(db, source.key)
    if record and record["blocked_until"] and record["blocked_until"] > now:
        minutes = max(1, -(-(record["blocked_until"] - now) // 60_000))
        raise TooMany(_l("Demasiados intentos fallidos con esta cuenta desde este equipo. Espere "
                         "%(m)s min o pida a un administrador que la desbloquee; desde otro "
                         "equipo la cuenta sigue funcionando.", m=minutes), code="account_locked")
    user = store.find_user(db, username)
    if user is None or not user["active"]:
        # Same work and answer as a wrong password, so usernames cannot be probed by timing.
        check_password_hash(_DUMMY_HASH, password)
        _count_failure(db, source, record, user, now)
    if not check_password_hash(user["password_hash"], password):
        _count_failure(db, source, record, user, now)
    if record:
        store.clear_login_failures(db, source.key)
    return user


@dataclass
class LoginSource:
    """Where a login attempt comes from: a browser known to this account, or an address."""

    key: str
    username: str
    address: str
    browser: str | None = None


def login_source(username: str) -> LoginSource:
    """Return the source of this request's login attempt as ``username``."""
    address = request.remote_addr or ""
    browser = known_browsers().get(username.lower())
    if browser:
        return LoginSource(f"browser:{browser}", username, address, browser)
    return LoginSource(f"address:{address}|user:{username.lower()}", username, address)


def _count_failure(db, source: LoginSource, record: dict | None, user: dict | None, now: int):
    """Count one more failure of a source, hold it back when it has failed too often, refuse."""
    config = current_app.config
    longest = config["LOGIN_LOCKOUT_SECONDS"] * 1000
    fresh = record is None or now - record["last_failed_at"] > longest
    failures = 1 if fresh else record["failures"] + 1
    over = failures - config["LOGIN_MAX_FAILURES"]
    until = now + min(longest, config["LOGIN_HOLD_SECONDS"] * 1000 * 2 ** min(over, 20)) \
        if over >= 0 else None
    store.record_login_failure_of(db, source.key, source.username, source.address, failures, now,
                                  until)
    if until and user is not None:
        store.audit(db, now, None, "login.throttled", f"user:{user['username']}",
                    {"address": source.address, "known_browser": source.browser is not None,
                     "failures": failures, "seconds": (until - now) // 1000})
    raise Unauthorized(_l("Usuario o contraseña incorrectos."), code="bad_credentials")


KNOWN_COOKIE = "turnos_known"
KNOWN_MAX = 5  # accounts one shared desk PC remembers


def _known_signer():
    """Return the signer of the known-browser cookie (the instance's secret key)."""
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer(current_app.secret_key, salt="turnos-known-browser")


def known_browsers() -> dict[str, str]:
    """Return ``{username: browser id}`` of the accounts that logged in from this browser."""
    from itsdangerous import BadData

    raw = request.cookies.get(KNOWN_COOKIE)
    if not raw or len(raw) > 2000:
        return {}
    try:
        value = _known_signer().loads(raw)
    except BadData:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def remember_browser(response, username: str) -> None:
    """Mark this browser as one that logged in as ``username`` (its failures then count apart)."""
    known = known_browsers()
    known.pop(username.lower(), None)
    known[username.lower()] = secrets.token_urlsafe(12)
    known = dict(list(known.items())[-KNOWN_MAX:])
    response.set_cookie(KNOWN_COOKIE, _known_signer().dumps(known), max_age=400 * 24 * 3600,
                        httponly=True, samesite="Lax",
                        secure=current_app.config.get("SESSION_COOKIE_SECURE", False))


_DUMMY_HASH = generate_password_hash("not-a-real-password", method="pbkdf2:sha256:1000")


def user_principal(user: dict, via: str) -> Principal:
    """Build the principal of a staff user read with its ``site_ids`` (``store.user_for_token``,
    ``store.user_with_sites``)."""
    return Principal(kind="user", role=user["role"], user_id=user["id"], username=user["username"],
                     display_name=user["display_name"], via=via,
                     site_ids=user["site_ids"])


def device_principal(device: dict, via: str) -> Principal:
    """Build the principal of a paired device."""
    return Principal(kind="device", role=device["kind"], device_id=device["id"],
                     device_name=device["name"], site_id=device["site_id"],
                     config=json.loads(device["config"] or "{}"), via=via)


# --- tokens ------------------------------------------------------------------

def token_hash(token: str) -> str:
    """Return the stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_staff_token(db, user: dict, clock) -> str:
    """Create a staff API token for a user and return it (shown once)."""
    token = STAFF_TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now_ms()
    ttl = current_app.config["API_TOKEN_TTL_SECONDS"] * 1000
    store.insert_api_token(db, user["id"], token_hash(token), now, now + ttl)
    return token


def new_device_token() -> tuple[str, str]:
    """Return a new device token and its hash."""
    token = DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token_hash(token)


def principal_for_token(db, token, clock) -> Principal | None:
    """Return the principal of a bearer token, or None when it is unknown or revoked."""
    if not isinstance(token, str) or len(token) > 200:
        return None
    if token.startswith(DEVICE_TOKEN_PREFIX):
        return _device_principal(db, token, "bearer", clock)
    if token.startswith(STAFF_TOKEN_PREFIX):
        digest = token_hash(token)

        def read():
            user = store.user_for_token(db, digest, clock.now_ms())
            return (user_principal(user, "bearer"), user["token_expires_at"]) if user else (None, None)

        return _remembered(db, digest, "bearer", clock, read)
    return None


def _device_principal(db, token: str, via: str, clock) -> Principal | None:
    """Return the principal of a device token (a bearer token or the paired browser's cookie)."""
    digest = token_hash(token)

    def read():
        device = store.device_for_token(db, digest)
        if device is None:
            return None, None
        _touch(db, device, clock)
        return device_principal(device, via), None

    return _remembered(db, digest, via, clock, read)


# --- who a token belongs to, kept per process ----------------------------------------------
# Every API request and socket names its token, and reading whose it is costs a database round
# trip: two of the five of a desk's call and no-show on PostgreSQL. Each process keeps what it
# read for ``AUTH_CACHE_SECONDS`` (5 s). A change of who may do what made through the
# application (a revoked device or token, a disabled or demoted user, changed sites, a renamed
# or re-paired device) is forgotten once it commits: in this process at once, in the others
# through the message queue (before their sockets are cut), and in none while that queue is
# down (a process then reads every token again). A change made from outside the application (a
# SQL console) counts within those seconds; a token's expiry counts to the millisecond.

_known: dict[tuple, tuple[float, int | None, Principal]] = {}
_known_lock = threading.Lock()
_forgotten = 0  # how many times everything was forgotten: a read begun before is not kept
KNOWN_LIMIT = 10_000  # tokens kept at most: then the stale ones go (all, if none is stale)


def _keep_seconds() -> float:
    """Return how long this process may keep a token's principal now (0: not at all)."""
    if not has_app_context():
        return 0
    seconds = float(current_app.config.get("AUTH_CACHE_SECONDS") or 0)
    shared = current_app.extensions.get(cluster.EXTENSION)
    if shared is not None and not shared.hears_others:
        return 0  # a revocation made through another process could not reach this one
    return seconds


def _remembered(db, digest: str, via: str, clock, read) -> Principal | None:
    """Return a token's principal, from this process's memory while fresh, else from ``read()``.

    ``read`` returns the principal (None: unknown or revoked, never kept) and the
    token's expiry in milliseconds (None: it does not expire).
    """
    seconds = _keep_seconds()
    if seconds <= 0:
        return read()[0]
    key = (db.path, digest, via)
    now = time.monotonic()
    hit = _known.get(key)
    if hit is not None and hit[0] > now and (hit[1] is None or clock.now_ms() < hit[1]):
        return hit[2]
    forgotten = _forgotten
    principal, expires_at = read()
    if principal is not None:
        with _known_lock:
            if forgotten == _forgotten:  # nothing was forgotten while this read waited
                if len(_known) >= KNOWN_LIMIT:
                    _drop_stale(now)
                _known[key] = (now + seconds, expires_at, principal)
    return principal


def _drop_stale(now: float) -> None:
    """Drop the kept principals no longer fresh, or all of them when every one still is (lock held)."""
    for key in [key for key, (fresh_until, _, _) in _known.items() if fresh_until <= now]:
        del _known[key]
    if len(_known) >= KNOWN_LIMIT:
        _known.clear()


def forget_principals() -> None:
    """Forget every principal this process keeps (who may do what changed, or may have)."""
    global _forgotten
    with _known_lock:
        _forgotten += 1
        _known.clear()


def _forget_principals_everywhere() -> None:
    """Forget the kept principals in this process and, through the message queue, in the others."""
    shared = current_app.extensions.get(cluster.EXTENSION) if has_app_context() else None
    if shared is None:
        forget_principals()
    else:
        shared.control(cluster.FORGET_PRINCIPALS)


store.CREDENTIALS_LISTENERS.append(_forget_principals_everywhere)


def _touch(db, device: dict, clock) -> None:
    """Record a device as seen, at most once a minute (a write per request would cost)."""
    now = clock.now_ms()
    if not device["last_seen_at"] or now - device["last_seen_at"] > 60_000:
        store.touch_device(db, device["id"], now)


def principal_from_session(db, clock) -> Principal | None:
    """Return the principal of the browser session or of a paired device's cookie, or None."""
    if "user_id" in session:
        max_age = current_app.config["SESSION_IDLE_SECONDS"] * 1000
        lifetime = current_app.permanent_session_lifetime.total_seconds() * 1000
        now = clock.now_ms()
        # Idle and absolute expiry: a session left open on a shared desk PC dies
        # after a quiet spell, and any session dies at its lifetime however busy.
        if now - session.get("seen_at", 0) > max_age or now - session.get("login_at", 0) > lifetime:
            session.clear()
            return None
        user = store.user_with_sites(db, session["user_id"])
        if user is None or not user["active"] or session.get("pw") != user["password_hash"][-12:]:
            session.clear()
            return None
        if now - session.get("seen_at", 0) > 60_000:
            session["seen_at"] = now
        return user_principal(user, "session")
    token = request.cookies.get(DEVICE_COOKIE)
    if token and token.startswith(DEVICE_TOKEN_PREFIX) and len(token) < 200:
        return _device_principal(db, token, "cookie", clock)
    return None


def login_session(user: dict, clock) -> None:
    """Start a browser session for a user (a fresh session, so no fixation)."""
    lang = session.get("lang")
    session.clear()
    session.permanent = True
    session["user_id"] = user["id"]
    session["pw"] = user["password_hash"][-12:]
    session["seen_at"] = session["login_at"] = clock.now_ms()
    # The session was cleared: the next page gets a fresh CSRF token (no fixation of it either).
    g.pop("csrf_token", None)
    if lang:
        session["lang"] = lang


def csrf_token() -> str:
    """Return this session's CSRF token (Flask-WTF's, created when missing)."""
    from flask_wtf.csrf import generate_csrf

    return generate_csrf()


def current_principal() -> Principal | None:
    """Return the principal of this request (bearer token first, then session)."""
    if "principal" in g:
        return g.principal
    db = get_db()
    clock = current_clock()
    header = request.headers.get("Authorization", "")
    principal = None
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized(_l("Cabecera Authorization no válida: use «Bearer <token>»."),
                               code="bad_authorization")
        principal = principal_for_token(db, token.strip(), clock)
        if principal is None:
            raise Unauthorized(_l("El token no es válido, expiró o fue revocado."),
                               code="invalid_token")
    else:
        principal = principal_from_session(db, clock)
    g.principal = principal
    return principal


def check_csrf() -> None:
    """Refuse a state-changing browser request whose CSRF token is missing or wrong.

    The token is Flask-WTF's (``CSRFProtect``): the ``csrf_token`` form field or
    the ``X-CSRF-Token`` header. Bearer-token clients and JSON clients without a
    browser session cannot be driven by another site, so they are not asked.
    """
    if request.method in SAFE_METHODS or request.headers.get("Authorization"):
        return
    has_session = "user_id" in session or DEVICE_COOKIE in request.cookies
    if not has_session and not request.form and request.mimetype != "application/x-www-form-urlencoded":
        return
    from flask_wtf.csrf import CSRFError

    try:
        current_app.extensions["csrf"].protect()
    except CSRFError:
        raise Forbidden(_l("La solicitud no trae un token CSRF válido. Recargue la página e intente de "
                           "nuevo."),
                        code="csrf_failed") from None


def require(*roles: str):
    """Decorate a view so only principals with one of these roles reach it."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            principal = current_principal()
            if principal is None:
                raise Unauthorized(_l("Inicie sesión para continuar."), code="login_required")
            if principal.role not in roles:
                raise Forbidden(_l("Su rol no permite esta acción."), code="forbidden")
            return view(*args, **kwargs)

        wrapped.roles = roles
        return wrapped

    return decorator


def require_site(principal: Principal, site: dict) -> None:
    """Refuse a principal acting on a site it does not belong to."""
    if not principal.may_use_site(site["id"]):
        raise Forbidden(_l("No tiene acceso a la sede «%(s)s».", s=site["name"]), code="wrong_site")


_READ = object()


def ticket_condition(principal: Principal) -> tuple[str, dict]:
    """Return who may move a ticket as a SQL condition over ``tickets``, with its parameters.

    The same rule as ``may_act_for_desk`` for the ticket's desk, plus the
    site: a manager moves any ticket of the sites she may use, anyone else
    only a ticket of a desk whose open session is hers. A desk's step (start,
    finish, no-show) checks it in the statement that makes the change, so the
    step reads nothing first; when it changes nothing, the caller reads the
    ticket to tell why (``shared.web.ticket_for_action``). Only staff move
    tickets: a device matches no row.
    """
    clauses, params = [], {}
    if not principal.is_staff:
        return "0 = 1", params
    if not principal.is_admin and principal.site_ids:
        names = [f"_may_site{n}" for n in range(len(principal.site_ids))]
        clauses.append(f"site_id IN ({', '.join(':' + name for name in names)})")
        params.update(zip(names, principal.site_ids))
    if principal.role not in MANAGERS:
        clauses.append("desk_id IN (SELECT desk_id FROM desk_sessions "
                       "WHERE user_id = :_may_user AND ended_at IS NULL)")
        params["_may_user"] = principal.user_id
    return " AND ".join(clauses), params  # empty: any ticket


def desk_condition(principal: Principal) -> tuple[str, dict]:
    """Return who may call at a desk (``:desk``) as a SQL condition, with its parameters.

    ``may_act_for_desk``'s rule for a principal who may use the desk's site
    (checked before, in memory): a manager calls at any desk, anyone else only at
    the desk whose open session is hers. The claim checks it, so a call reads
    nothing first; when it claims nothing, the caller reads the desk's session
    to tell why.
    """
    if principal.role in MANAGERS:
        return "", {}
    return ("EXISTS (SELECT 1 FROM desk_sessions WHERE desk_id = :desk AND ended_at IS NULL "
            "AND user_id = :_may_user)", {"_may_user": principal.user_id})


def may_act_for_desk(db, principal: Principal, desk: dict, holder_id=_READ) -> bool:
    """Tell whether a principal may operate a desk: its holder, or a supervisor/admin.

    ``ticket_condition`` and ``desk_condition`` say the same in SQL: change the three together.

    ``holder_id`` is the user holding the desk now (None: nobody) when the
    caller already read it; otherwise the desk's open session is read.
    """
    if not principal.is_staff or not principal.may_use_site(desk["site_id"]):
        return False
    if principal.role in MANAGERS:
        return True
    if holder_id is _READ:
        session_row = store.open_session(db, desk["id"])
        holder_id = session_row["user_id"] if session_row is not None else None
    return holder_id is not None and holder_id == principal.user_id


def principal_for_socket(db, token, clock) -> Principal | None:
    """Return the principal of a connecting socket (token in auth, else the session)."""
    if token:
        return principal_for_token(db, token, clock)
    return principal_from_session(db, clock)


def sites_for_socket(db, principal: Principal, wanted) -> list[dict]:
    """Return the sites a socket joins: a device's own, or the staff's (one if asked)."""
    if principal.kind == "device":
        site = store.site_by_id(db, principal.site_id)
        return [site] if site else []
    if wanted:
        site = store.find_site(db, wanted)
        return [site] if site and principal.may_use_site(site["id"]) else []
    return [s for s in store.list_sites(db, only_active=True) if principal.may_use_site(s["id"])]


# --- optional citizen IDs ------------------------------------------------------

ID_KEY_FILE = "id_hash_key"
_ID_SEPARATORS = str.maketrans("", "", " .-_")
_ID_FORM = re.compile(r"^[A-Z0-9]{3,20}$")


def _id_hash_key() -> bytes:
    """Return the instance's key for ID hashes, generating it on first use (never in the repo)."""
    keys = current_app.extensions.setdefault("turnos.keys", {})
    if ID_KEY_FILE not in keys and current_app.config.get("ID_HASH_KEY"):
        keys[ID_KEY_FILE] = bytes.fromhex(current_app.config["ID_HASH_KEY"])
    if ID_KEY_FILE not in keys:
        path = Path(current_app.config.get("INSTANCE") or current_app.instance_path) / ID_KEY_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32))
        keys[ID_KEY_FILE] = bytes.fromhex(path.read_text().strip())
    return keys[ID_KEY_FILE]


def normalize_id(value) -> str:
    """Return an ID number without spaces, dots or dashes, in capitals; refuse anything else."""
    text = value.translate(_ID_SEPARATORS).upper() if isinstance(value, str) else ""
    if not _ID_FORM.match(text):
        raise Invalid(_l("El documento debe tener entre 3 y 20 letras o números."),
                      code="invalid_id_number")
    return text


def keyed_id_hash(value: str) -> str:
    """Return the keyed hash (HMAC-SHA256, instance key) of an ID number; the number is never stored."""
    return hmac.new(_id_hash_key(), normalize_id(value).encode(), hashlib.sha256).hexdigest()


def record_citizen_id(db, site: dict, ticket: dict, value: str, now_ms: int) -> None:
    """Keep a citizen's ID for a ticket as a keyed hash, where the site asks for IDs."""
    if not site.get("id_capture"):
        raise Conflict(_l("La sede «%(s)s» no solicita documento de identidad.", s=site["name"]),
                       code="id_capture_off")
    if ticket["site_id"] != site["id"]:
        raise Forbidden(_l("El turno es de otra sede."), code="wrong_site")
    if not store.record_id_hash(db, ticket["id"], site["id"], keyed_id_hash(value), now_ms):
        raise Conflict(_l("El turno %(code)s ya tiene un documento registrado.", code=ticket["code"]),
                       code="id_already_recorded")
