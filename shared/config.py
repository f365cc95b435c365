"""Configuration: defaults, the instance folder, and the secret key kept in it."""

import os
import secrets
from pathlib import Path

from .db import resolve

DEFAULTS = {
    "DATABASE_URL": None,                 # postgresql://... or sqlite:PATH (unset: the instance's file)
    "DATABASE_POOL_SIZE": None,           # connections per process (PostgreSQL default 10)
    "SECRET_KEY": None,                   # signs sessions; from <instance>/secret_key unless set
    "ID_HASH_KEY": None,                  # hex key of citizen ID hashes; <instance>/id_hash_key unless set
    "PUBLIC_URL": "",                     # base of the QR address; the request's host when empty
    "MAX_CONTENT_LENGTH": 64 * 1024,      # bytes; larger bodies get 413
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,       # True behind HTTPS (serve --secure-cookies)
    "PERMANENT_SESSION_LIFETIME": 12 * 3600,
    "SESSION_IDLE_SECONDS": 8 * 3600,
    "API_TOKEN_TTL_SECONDS": 12 * 3600,
    "LOGIN_MAX_FAILURES": 5,             # failures in a row before a source is held back
    "LOGIN_HOLD_SECONDS": 60,            # the first hold; doubled after each further failure
    "LOGIN_LOCKOUT_SECONDS": 15 * 60,    # the longest hold; failures older than this are forgotten
    "RATELIMIT_STORAGE_URI": None,  # rate-limit counters; redis://host:6379/1 when scaled
    "KIOSK_RATE_LIMIT": (30, 60),         # tickets per device per window (seconds)
    "PASSWORD_HASH_METHOD": "scrypt",
    # CSRF (Flask-WTF): checked by shared.auth.check_csrf for browser requests only; a token
    # lives as long as its session (an official keeps the desk page open all day); no
    # Referer check (the ticket status page sends no referrer, by design).
    "WTF_CSRF_CHECK_DEFAULT": False,
    "WTF_CSRF_TIME_LIMIT": None,
    "WTF_CSRF_SSL_STRICT": False,
    "SOCKETIO_ASYNC_MODE": None,          # None: what is installed (threading in tests)
    "SOCKETIO_MESSAGE_QUEUE": None,       # e.g. redis://127.0.0.1:6379/0 for several processes
    "SOCKETIO_CORS_ORIGINS": [],
    "BABEL_DEFAULT_LOCALE": "es",
    "LANGUAGES": ("es", "en"),
    "PRINT_TIMEOUT_SECONDS": 5.0,
    "ESTIMATE_CACHE_SECONDS": 60,         # one replay of the room serves a line this long (0: none)
    "QUEUE_EVENT_INTERVAL": 0.2,          # seconds between queue_changed of a site (0: every change)
    "CONFIG_CACHE_SECONDS": 5,            # sites, services, desks kept per process (0: read every time)
    "AUTH_CACHE_SECONDS": 5,              # who a token belongs to, kept per process (0: read every time)
    "ALERT_INTERVAL_SECONDS": 20,         # how often the lines are checked against their targets
    "BEHIND_PROXY": 0,                    # reverse proxies in front (nginx: 1) whose X-Forwarded-* to trust
    "WAL_CHECKPOINT_SECONDS": 1.0,        # serve: checkpoint the WAL from a thread this often
    "COOPERATIVE_SQLITE": False,          # serve (gevent): wait for SQLite locks without blocking the loop
    "MIGRATE_ON_START": True,             # bring the schema up to date when the app starts
    "PRINTER_POLL_SECONDS": 20.0,         # serve: ask every server-attached kiosk printer (0: never)
    "PRINTER_POLL_TIMEOUT_SECONDS": 1.0,  # a printer silent this long reads "unknown"
    "DEMO": False,
    # Appointments, tickets from phones, notifications, public wait times (shared/channels.py).
    "CHANNELS_INTERVAL_SECONDS": 10,      # serve: no-shows, reminders, "near" messages, sending (0: off)
    "SMTP_HOST": None,                    # e-mail to citizens is off until a mail server is given
    "SMTP_PORT": 25,
    "SMTP_USER": None,
    "SMTP_PASSWORD": None,
    "SMTP_STARTTLS": False,
    "SMTP_FROM": "turnos@localhost",
    "NOTIFY_WEBHOOK_URL": None,           # an SMS/WhatsApp gateway's webhook (off when unset)
    "NOTIFY_WEBHOOK_SECRET": "",          # signs each webhook body (X-Turnos-Signature)
    "PUBLIC_CACHE_SECONDS": 10,           # the public wait times are built at most this often
    "PUBLIC_FRAME_ANCESTORS": "*",        # who may frame the public wait-time page (CSP frame-ancestors)
}


def instance_path(path: str | os.PathLike | None) -> Path:
    """Return the instance folder (``./instance`` by default), creating it."""
    folder = Path(path or os.environ.get("TURNOS_INSTANCE") or "instance").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def secret_key(folder: Path) -> str:
    """Return the instance's secret key, generating it on first start (never in the repo)."""
    key_file = folder / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return key_file.read_text().strip()


def from_environment(environ=None) -> dict:
    """Return settings given as ``TURNOS_<NAME>`` environment variables (JSON values).

    For example ``TURNOS_KIOSK_RATE_LIMIT='[600, 60]'`` or ``TURNOS_PUBLIC_URL=https://...``
    (a value that is not JSON is taken as a string).
    """
    import json

    environ = os.environ if environ is None else environ
    settings = {}
    for key, raw in environ.items():
        if key.startswith("TURNOS_") and key[7:] in DEFAULTS:
            try:
                settings[key[7:]] = json.loads(raw)
            except ValueError:
                settings[key[7:]] = raw
    return settings


def build(folder: Path, overrides: dict | None = None) -> dict:
    """Return the full configuration: defaults, then environment, then explicit overrides.

    ``DATABASE`` is where the data lives: a PostgreSQL URL, or a SQLite file
    (``turnos.sqlite3`` in the instance folder unless ``DATABASE_URL`` says otherwise).
    Several processes or machines share one secret key: give it to all of them as
    ``TURNOS_SECRET_KEY`` (or let them share the instance folder).
    """
    config = dict(DEFAULTS)
    config["INSTANCE"] = str(folder)
    config.update(from_environment())
    config.update({k: v for k, v in (overrides or {}).items() if v is not None or k not in config})
    if not config.get("SECRET_KEY"):
        config["SECRET_KEY"] = secret_key(folder)
    if not config.get("DATABASE"):
        config["DATABASE"] = resolve(config.get("DATABASE_URL"), folder)
    if not config.get("RATELIMIT_STORAGE_URI"):
        # Several processes count one limit together, in the Redis that joins them.
        config["RATELIMIT_STORAGE_URI"] = config.get("SOCKETIO_MESSAGE_QUEUE") or "memory://"
    return config
