"""Device pairing: a one-time code turns a browser into a kiosk, display or survey screen."""

import secrets

from . import auth, store
from .db import immediate

# No 0/O, 1/I/L: the code may be read aloud or typed on a TV remote.
_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"


def new_pairing_code(db, device_id: int, clock, ttl_seconds: int = 900) -> str:
    """Give a device a fresh one-time pairing code and return it."""
    code = "".join(secrets.choice(_ALPHABET) for _ in range(8))
    store.set_device_pairing(db, device_id, auth.token_hash(code), clock.now_ms() + ttl_seconds * 1000)
    return code


def device_for_code(db, code: str, clock) -> dict | None:
    """Return the device a live pairing code belongs to, or None."""
    if not isinstance(code, str) or not 4 <= len(code) <= 16:
        return None
    return store.device_for_pairing(db, auth.token_hash(code.strip().upper()), clock.now_ms())


def pair(db, code: str, clock) -> tuple[dict, str] | None:
    """Consume a pairing code: give its device a new token; return (device, token) or None."""
    with immediate(db):
        device = device_for_code(db, code, clock)
        if device is None:
            return None
        token, digest = auth.new_device_token()
        store.set_device_token(db, device["id"], digest)
    return device, token
