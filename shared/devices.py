"""Device pairing: a one-time code turns a browser into a kiosk, display or survey screen."""

import secrets

from . import auth, cluster, store
from .db import immediate, on_commit
from .events import device_room, user_room

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


def disconnect_sockets(*, device_id: int | None = None, user_id: int | None = None) -> None:
    """Disconnect at once the sockets of a device or a user, on every server process.

    A socket keeps the principal it authenticated with, so a revoked device or
    a disabled user would go on hearing events until it reconnected. Every
    device socket joins ``device:<id>`` and every staff socket ``user:<id>``;
    the message queue carries the order to every process.
    """
    if device_id is not None:
        cluster.disconnect_room(device_room(device_id))
    if user_id is not None:
        cluster.disconnect_room(user_room(user_id))


def revoke(db, device_id: int, clock, by_user_id: int | None) -> None:
    """Revoke a device's token (HTTP refuses it at once) and drop its open sockets."""
    with immediate(db):
        store.revoke_device(db, device_id, clock.now_ms())
        store.audit(db, clock.now_ms(), by_user_id, "device.revoke", f"device:{device_id}")
        on_commit(db, lambda: disconnect_sockets(device_id=device_id))


def survey_desk(db, site_id: int, config: dict) -> dict | None:
    """Return the desk a survey screen stands beside (its config's desk id), or None.

    The device form stores the desk's id. Configurations written before it
    held the desk's code (a string), which is still read as a code of the
    device's site (migration 0014b rewrites them as ids).
    """
    value = config.get("desk")
    if isinstance(value, bool) or value is None or value == "":
        return None
    if isinstance(value, int):
        desk = store.desk_by_id(db, value) if store.as_id(value) is not None else None
    else:
        desk = store.find_desk(db, str(value), site_id)
    return desk if desk is not None and desk["site_id"] == site_id else None
