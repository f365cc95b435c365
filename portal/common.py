"""What the public pages and the public API share: the site asked for, the phone's cookie."""

import secrets

from flask import current_app, request

from shared import store
from shared.db import get_db
from shared.errors import not_found

PHONE_COOKIE = "turnos_phone"      # a random id per phone: the daily limit of tickets from phones
VISITS_COOKIE = "turnos_visits"    # the visits this phone took (the entrance QR confirms them)
MAX_VISITS = 5


def site_or_404(ident) -> dict:
    """Return an active site by code or id, or answer 404."""
    site = store.find_site(get_db(), ident) if ident is not None else None
    if site is None or not site["active"]:
        raise not_found("site", ident)
    return site


def device_cookie() -> tuple[str, bool]:
    """Return this phone's random id (and whether it is new and must be set)."""
    value = request.cookies.get(PHONE_COOKIE, "")
    if 16 <= len(value) <= 64 and value.isalnum():
        return value, False
    return secrets.token_hex(16), True


def remembered_visits() -> list[str]:
    """Return the visits this phone took (newest first)."""
    raw = request.cookies.get(VISITS_COOKIE, "")
    return [v for v in raw.split(".") if 8 <= len(v) <= 64][:MAX_VISITS]


def remember_visit(response, visit_id: str, new_device: str | None) -> None:
    """Keep a visit (and a new phone id) in this phone's cookies."""
    secure = bool(current_app.config.get("SESSION_COOKIE_SECURE"))
    visits = [visit_id] + [v for v in remembered_visits() if v != visit_id]
    response.set_cookie(VISITS_COOKIE, ".".join(visits[:MAX_VISITS]), max_age=86400,
                        httponly=True, samesite="Lax", secure=secure)
    if new_device:
        response.set_cookie(PHONE_COOKIE, new_device, max_age=365 * 86400, httponly=True,
                            samesite="Lax", secure=secure)
