"""Which site a waiting-room screen shows, its zone, and the snapshot its socket receives.

A paired display watches its own site with its own settings. An admin may
preview a site (``?site=``) with the default settings, or one display device
(``?device=``) with that device's settings.

The server shapes the snapshot (only the zone's calls, each ticket once,
today's only); the page applies the same zone to live ``ticket_called`` and
``queue_changed`` events, which go to the whole site's room. The zone is a
matter of presentation, not of secrecy: every call is public in the room.
"""

import json
from dataclasses import dataclass

from flask import request
from flask_babel import lazy_gettext as _l
from flask_socketio import join_room

from shared import speech, store
from shared.errors import DomainError, Forbidden, Invalid, not_found
from shared.events import SNAPSHOT, device_room, site_room, socketio
from shared.present import call_json
from shared.sockets import remember_principal
from shared.timefmt import day_bounds_ms, local_day

from .config import DisplayConfig, parse


@dataclass
class Screen:
    """A site seen through one display's settings."""

    site: dict
    config: DisplayConfig
    device_id: int | None = None


def screen_for(db, principal, site_ident=None, device_ident=None) -> Screen:
    """Return what a principal's display shows; refuse anyone but a display or an admin."""
    if principal is None:
        raise Forbidden(_l("Esta pantalla no está vinculada."), code="not_paired")
    if principal.role == "display":
        site = store.site_by_id(db, principal.site_id)
        if site is None:
            raise not_found("site", principal.site_id)
        return Screen(site, parse(principal.config), principal.device_id)
    if not principal.is_admin:
        raise Forbidden(_l("Solo una pantalla vinculada o un administrador puede ver esta página."),
                        code="forbidden")
    if device_ident not in (None, ""):
        device_id = store.as_id(device_ident)
        device = store.device_by_id(db, device_id) if device_id is not None else None
        if device is None or device["kind"] != "display":
            raise not_found("device", device_ident)
        site = store.site_by_id(db, device["site_id"])
        _check_site(principal, site)
        return Screen(site, parse(json.loads(device["config"] or "{}")), device["id"])
    if site_ident in (None, ""):
        raise Invalid(_l("Indique la sede que desea ver (?site=) o una pantalla (?device=)."),
                      code="missing_site")
    if not isinstance(site_ident, (str, int)) or isinstance(site_ident, bool):
        raise not_found("site", site_ident)
    site = store.find_site(db, site_ident)
    if site is None:
        raise not_found("site", site_ident)
    _check_site(principal, site)
    return Screen(site, parse({}))


def _check_site(principal, site: dict) -> None:
    """Refuse an admin limited to other sites."""
    if not principal.may_use_site(site["id"]):
        raise Forbidden(_l("No tiene acceso a la sede «%(s)s».", s=site["name"]), code="wrong_site")


@dataclass
class Zone:
    """The services and desks a screen shows (None: all) and the services whose queues it counts."""

    services: list[str] | None
    desks: list[str] | None
    counted: list[str] | None


def zone_of(db, site: dict, config: DisplayConfig) -> Zone:
    """Resolve a display's zone against a site's real service and desk codes."""
    services = store.list_services(db, site["id"])
    by_upper = {s["code"].upper(): s["code"] for s in services}
    wanted_services = [by_upper.get(c.upper(), c) for c in config.services] or None
    wanted_desks = list(config.desks) or None
    counted = wanted_services
    if counted is None and wanted_desks:
        counted = []
        for desk in store.list_desks(db, site["id"]):
            if desk["code"] in wanted_desks:
                counted += [c for c in desk["services"] if c not in counted]
    return Zone(wanted_services, wanted_desks, counted)


def snapshot(engine, site: dict, config: DisplayConfig) -> dict:
    """Return what a screen needs on (re)connect: today's calls in its zone, counts and settings."""
    db = engine.db
    now = engine.clock.now_ms()
    tz = site["timezone"]
    day_start, _ = day_bounds_ms(local_day(now, tz), tz)
    zone = zone_of(db, site, config)
    # The current call plus the history under it.
    rows = store.display_calls(db, site["id"], day_start, config.history_length + 1,
                               service_codes=zone.services, desk_codes=zone.desks)
    calls = [call_json(r, engine.lookup, recall=r["kind"] == "recalled", at_ms=r["at"]) for r in rows]
    waiting = [s for s in engine.waiting_summary(site)
               if zone.counted is None or s["code"] in zone.counted]
    settings = config.to_json()
    settings.update(services=zone.services or [], desks=zone.desks or [],
                    counted=zone.counted, speech=speech.available())
    return {"site": site["code"], "site_name": site["name"], "display_message": site["display_message"],
            "timezone": tz, "services": waiting, "last_calls": calls, "server_time": now,
            "display": settings}


def on_display_connect(db, engine, principal, auth: dict) -> bool:
    """Admit a display socket: join its site's room (and its device's) and send the snapshot."""
    try:
        screen = screen_for(db, principal, auth.get("site"), auth.get("device"))
    except DomainError:
        return False
    remember_principal(principal)
    join_room(site_room(screen.site["id"]))
    if principal.kind == "device":
        join_room(device_room(principal.device_id))
    socketio.emit(SNAPSHOT, snapshot(engine, screen.site, screen.config), to=request.sid)
    return True
