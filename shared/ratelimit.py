"""Rate limits on Flask-Limiter: logins, tokens, tickets a device issues, ratings.

The counters live in the storage ``RATELIMIT_STORAGE_URI`` names:
``memory://`` for the one embedded process, ``redis://host:6379/1`` when
several server processes must share them (each counts alone while Redis is away). A refusal is a 429 with
``{"error": "rate_limited", "message": ...}`` (rendered by the app's HTTP
error handler). Windows are fixed and follow the application's clock (a key
names its window), so a frozen clock in tests moves them as it moves time.
"""

from collections.abc import Callable

from flask import current_app, request
from flask_limiter import Limiter

from .clock import current_clock

limiter = Limiter(key_func=lambda: request.remote_addr or "", strategy="fixed-window")


def init_app(app) -> None:
    """Attach the limiter to the application (its storage from RATELIMIT_STORAGE_URI).

    While a shared storage (Redis) is away, each process counts in its own memory
    (Flask-Limiter's in-memory fallback, with the same limits) and goes back to the
    shared counters once the storage answers (Flask-Limiter looks again after 1, 2,
    4 ... 32 s): a Redis restart must not refuse every kiosk's ticket and every sign-in.
    """
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)
    limiter.init_app(app)


def limit(name: str, rate, key: Callable[[], str] = lambda: request.remote_addr or "", *,
          exempt_when: Callable[[], bool] | None = None, only_created: bool = False,
          methods: list[str] | None = None, on_breach=None):
    """Decorate a view: at most ``rate`` = (hits, seconds) — or a config key holding it — per key.

    ``only_created`` counts only answers 201 (a new ticket, not a repeated one);
    ``on_breach`` may return the page to answer with instead of the JSON refusal.
    """

    def window() -> tuple[int, int]:
        """Return (hits, seconds) of this limit now."""
        hits, seconds = current_app.config[rate] if isinstance(rate, str) else rate
        return int(hits), int(seconds)

    def limit_value() -> str:
        hits, seconds = window()
        return f"{hits} per {seconds} second"

    def key_func() -> str:
        seconds = window()[1]
        now = current_clock().now_ms()
        return f"{name}:{key()}:{now // (seconds * 1000)}"

    return limiter.limit(limit_value, key_func=key_func, exempt_when=exempt_when, methods=methods,
                         deduct_when=(lambda response: response.status_code == 201)
                         if only_created else None, on_breach=on_breach)
