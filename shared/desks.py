"""Desk sessions: who holds a desk, and their pauses, recorded for occupancy."""

import sqlite3

from flask_babel import lazy_gettext as _l

from . import store
from .db import immediate
from .errors import Conflict, Invalid
from .timefmt import iso

PAUSE_REASONS = ("break", "lunch", "training", "other")


def _payload(engine, desk: dict, state: str, **extra) -> dict:
    """Return the ``desk_changed`` payload."""
    site = engine.lookup.site(desk["site_id"])
    body = {"desk": desk["code"], "desk_id": desk["id"], "desk_name": desk["name"], "state": state,
            "at": iso(engine.clock.now_ms(), site["timezone"])}
    body.update(extra)
    return body


def open_session(engine, desk: dict, user_id: int) -> dict:
    """Make a user the holder of a desk; refuse if the desk or the user is taken."""
    db = engine.db
    if not desk["active"]:
        raise Conflict(_l("%(desk)s está inactivo.", desk=desk["name"]), code="desk_inactive")
    now = engine.clock.now_ms()
    with immediate(db):
        current = store.open_session(db, desk["id"])
        if current is not None and current["user_id"] == user_id:
            return current
        if current is not None:
            raise Conflict(_l("%(desk)s ya lo ocupa %(who)s.", desk=desk["name"],
                              who=current["display_name"] or current["username"]),
                           code="desk_taken")
        mine = store.session_of_user(db, user_id)
        if mine is not None:
            other = store.desk_by_id(db, mine["desk_id"])
            raise Conflict(_l("Usted ya ocupa %(desk)s: ciérrelo antes de tomar otro.",
                              desk=other["name"]), code="user_has_desk", desk=other["code"])
        try:
            session_row = store.start_session(db, desk["id"], user_id, now)
        except sqlite3.IntegrityError as exc:  # a concurrent request won the race
            raise Conflict(_l("El módulo acaba de ser ocupado por otra persona."),
                           code="desk_taken") from exc
    user = store.user_by_id(db, user_id)
    engine.announce.desk_changed(desk["site_id"], desk["id"], _payload(
        engine, desk, "open", holder=user["username"], holder_name=user["display_name"]))
    return session_row


def close_session(engine, desk: dict, user_id: int | None, reason: str = "logout") -> None:
    """End the session of a desk; refuse while it still holds a ticket."""
    db = engine.db
    now = engine.clock.now_ms()
    with immediate(db):
        current = store.open_session(db, desk["id"])
        if current is None:
            raise Conflict(_l("%(desk)s no tiene una sesión abierta.", desk=desk["name"]),
                           code="no_session")
        held = store.desk_open_ticket(db, desk["id"])
        if held is not None:
            raise Conflict(_l("El módulo tiene el turno %(code)s en curso: finalícelo o transfiéralo "
                              "antes de cerrar la sesión.", code=held["code"]), code="desk_busy")
        store.end_session(db, current["id"], now, reason)
    engine.announce.desk_changed(desk["site_id"], desk["id"], _payload(engine, desk, "closed"))


def pause(engine, desk: dict, reason: str) -> dict:
    """Pause a desk (break, lunch, training, other); refuse while it holds a ticket."""
    if reason not in PAUSE_REASONS:
        raise Invalid(_l("Motivo de pausa no válido: use break, lunch, training u other."),
                      code="invalid_reason")
    db = engine.db
    now = engine.clock.now_ms()
    with immediate(db):
        current = store.open_session(db, desk["id"])
        if current is None:
            raise Conflict(_l("%(desk)s no tiene una sesión abierta.", desk=desk["name"]),
                           code="no_session")
        if store.open_pause(db, current["id"]) is not None:
            raise Conflict(_l("El módulo ya está en pausa."), code="already_paused")
        held = store.desk_open_ticket(db, desk["id"])
        if held is not None:
            raise Conflict(_l("El módulo tiene el turno %(code)s en curso: finalícelo antes de la pausa.",
                              code=held["code"]), code="desk_busy")
        row = store.start_pause(db, current["id"], reason, now)
    engine.announce.desk_changed(desk["site_id"], desk["id"],
                                 _payload(engine, desk, "paused", reason=reason))
    return row


def resume(engine, desk: dict) -> dict:
    """End a desk's pause."""
    db = engine.db
    now = engine.clock.now_ms()
    with immediate(db):
        current = store.open_session(db, desk["id"])
        ended = store.end_pause(db, current["id"], now) if current else None
        if ended is None:
            raise Conflict(_l("El módulo no está en pausa."), code="not_paused")
    engine.announce.desk_changed(desk["site_id"], desk["id"], _payload(engine, desk, "open"))
    return ended


def check_not_paused(engine, desk: dict) -> None:
    """Refuse to call from a desk that is paused."""
    current = store.open_session(engine.db, desk["id"])
    if current is not None and store.open_pause(engine.db, current["id"]) is not None:
        raise Conflict(_l("El módulo está en pausa: reanude antes de llamar."), code="desk_paused")
