"""Administration of kiosks, waiting-room screens and survey screens: pairing, settings, test page."""

import base64
import io
import json
import time

import qrcode
import qrcode.image.svg
from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from shared import auth, devices, store
from shared.db import get_db
from shared.errors import Conflict, DomainError, Invalid, not_found
from shared.printing.delivery import deliver
from shared.printing.jobs import virtual_dir
from shared.printing.layout import render_test_page, render_test_page_png
from shared.printing.settings import AGENT, printer_profiles, printer_settings
from shared.web import ADMINS, absolute, current_clock, require
from shared.web import MANAGERS as READERS

from . import forms
from .common import (
    announce,
    audit_change,
    bp,
    changes,
    me,
    now,
    page,
    refusal,
    visible_sites,
    write,
)

PAIRING_MINUTES = 15


# --- devices -------------------------------------------------------------------------------

KIND_LABELS = {"kiosk": _l("Kiosco"), "display": _l("Pantalla de sala"),
               "survey": _l("Pantalla de encuesta")}


def device_state(device: dict, now_ms: int) -> str:
    """Return a device's state: revoked, paired, pairing (live code) or new."""
    if device["revoked_at"]:
        return "revoked"
    if device["pairing_code_hash"] and (device["pairing_expires_at"] or 0) > now_ms:
        return "pairing"
    if device["token_hash"]:
        return "paired"
    return "new"


def _devices_page(status: int = 200, **context):
    """Render every device the principal may see, with the new-device form."""
    db = get_db()
    sites_seen = visible_sites()
    rows = []
    moment = now()
    for site in sites_seen:
        for device in store.list_devices(db, site["id"]):
            rows.append({"device": device, "site": site, "state": device_state(device, moment),
                         "config": json.loads(device["config"] or "{}")})
    context.setdefault("fields", MultiDict({"kind": "kiosk"}))
    return page("devices.html", status, rows=rows, kinds=KIND_LABELS,
                 site_choices=[(s["id"], s["name"]) for s in sites_seen], **context)


@bp.get("/devices")
@require(*READERS)
def devices_list():
    """List the kiosks, screens and survey screens, with their state and last contact."""
    return _devices_page()


@bp.post("/devices")
@require(*ADMINS)
def device_create():
    """Register a device and show its one-time pairing code."""
    db = get_db()
    try:
        values = forms.device_values(request.form, visible_sites())
    except DomainError as exc:
        return _devices_page(exc.status, fields=request.form, **refusal(exc))
    clock = current_clock()
    with write(db):
        device_id = store.insert_device(db, values["site_id"], values["kind"], values["name"], None,
                                        {}, now())
        code = devices.new_pairing_code(db, device_id, clock, ttl_seconds=PAIRING_MINUTES * 60)
        site = store.site_by_id(db, values["site_id"])
        audit_change("device.create", f"device:{device_id}",
               {"site": site["code"], "kind": values["kind"], "name": values["name"]})
    return _pairing_page(store.device_by_id(db, device_id), code)


def _pairing_page(device: dict, code: str):
    """Show a pairing code once, with the link and its QR for the device to open."""
    link = absolute(f"/pair/{code}")
    image = qrcode.make(link, image_factory=qrcode.image.svg.SvgPathImage, box_size=12, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    qr = "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()
    site = store.site_by_id(get_db(), device["site_id"])
    return page("pairing.html", device=device, site=site, code=code, link=link, qr=qr,
                 minutes=PAIRING_MINUTES, kinds=KIND_LABELS)


def _device(device_id: int) -> dict:
    """Return a device the principal may see, or refuse."""
    device = store.device_by_id(get_db(), device_id)
    if device is None:
        raise not_found("device", device_id)
    auth.require_site(me(), store.site_by_id(get_db(), device["site_id"]))
    return device


def _device_fields(device: dict) -> MultiDict:
    """Return a device's name and settings as form fields."""
    config = json.loads(device["config"] or "{}")
    fields = MultiDict({"name": device["name"]})
    if device["kind"] == "kiosk":
        settings = printer_settings(config)
        fields.update({"printer": settings["printer"], "paper": settings["paper"],
                       "profile": settings["profile"], "codepage": config.get("codepage", ""),
                       "native_qr": "1" if settings["native_qr"] else "",
                       "idle_seconds": str(config.get("idle_seconds", 30)),
                       "footer": config.get("footer", "")})
    elif device["kind"] == "display":
        fields.update({"history_length": str(config.get("history_length", 6)),
                       "voice": config.get("voice", "server")})
        for code in config.get("services", []):
            fields.add("services", code)
        for code in config.get("desks", []):
            fields.add("desks", code)
    else:
        desk = devices.survey_desk(get_db(), device["site_id"], config)
        fields["desk"] = str(desk["id"]) if desk else ""
    return fields


def _device_page(device: dict, status: int = 200, **context):
    """Render a device's page."""
    db = get_db()
    site = store.site_by_id(db, device["site_id"])
    context.setdefault("fields", _device_fields(device))
    return page("device.html", status, device=device, site=site,
                 state=device_state(device, now()), kinds=KIND_LABELS,
                 service_choices=[(s["code"], f"{s['name']} ({s['code']})")
                                  for s in store.list_services(db, site["id"])],
                 desk_choices=[(d["code"], d["name"]) for d in store.list_desks(db, site["id"])],
                 survey_desk_choices=[(str(d["id"]), d["name"])
                                      for d in store.list_desks(db, site["id"])],
                 profile_choices=[(p, p) for p in printer_profiles()], **context)


@bp.get("/devices/<int:device_id>")
@require(*READERS)
def device_edit(device_id):
    """Show a device: state, last contact and settings."""
    return _device_page(_device(device_id))


@bp.post("/devices/<int:device_id>")
@require(*ADMINS)
def device_update(device_id):
    """Change a device's name and settings (kiosk printer, display zone, survey desk)."""
    device = _device(device_id)
    db = get_db()
    site = store.site_by_id(db, device["site_id"])
    try:
        name = forms.device_name(request.form)
        settings = forms.device_config(request.form, device["kind"],
                                       store.list_services(db, site["id"]),
                                       store.list_desks(db, site["id"]))
    except DomainError as exc:
        return _device_page(device, exc.status, fields=request.form, **refusal(exc))
    before = json.loads(device["config"] or "{}")
    config = dict(before, **settings)
    with write(db):
        store.rename_device(db, device["id"], name)
        store.set_device_config(db, device["id"], config)
        detail = changes(before, settings)
        if name != device["name"]:
            detail["name"] = [device["name"], name]
        audit_change("device.update", f"device:{device['id']}", detail)
        announce([site], "devices")
    flash(_("Cambios guardados. El dispositivo los toma al recargar."))
    return redirect(url_for(".device_edit", device_id=device["id"]))


@bp.post("/devices/<int:device_id>/pair")
@require(*ADMINS)
def device_pair(device_id):
    """Give a device a new one-time pairing code (its current link keeps working until used)."""
    device = _device(device_id)
    if device["revoked_at"]:
        raise Conflict(_l("El dispositivo fue revocado: registre uno nuevo."), code="device_revoked")
    db = get_db()
    with write(db):
        code = devices.new_pairing_code(db, device["id"], current_clock(),
                                        ttl_seconds=PAIRING_MINUTES * 60)
        audit_change("device.pairing_code", f"device:{device['id']}")
    return _pairing_page(device, code)


@bp.post("/devices/<int:device_id>/revoke")
@require(*ADMINS)
def device_revoke(device_id):
    """Revoke a device: its token stops working at once, for pages, the API and sockets."""
    device = _device(device_id)
    devices.revoke(get_db(), device["id"], current_clock(), me().user_id)
    flash(_("Dispositivo «%(n)s» revocado: ya no puede conectarse.", n=device["name"]))
    return redirect(url_for(".devices_list"))


@bp.post("/devices/<int:device_id>/print-test")
@require(*ADMINS)
def device_print_test(device_id):
    """Print a test page on a kiosk's printer and show what the printer answered."""
    device = _device(device_id)
    if device["kind"] != "kiosk":
        raise Invalid(_l("Solo los kioscos tienen impresora."), code="not_a_kiosk")
    settings = printer_settings(json.loads(device["config"] or "{}"))
    if settings["printer"] == AGENT:
        flash(_("La impresora de este kiosco la maneja su agente de impresión: pruébela en el "
                "kiosco con «python run.py printer-test»."), "error")
        return redirect(url_for(".device_edit", device_id=device["id"]))
    options = {"paper": settings["paper"], "profile": settings["profile"],
               "codepage": settings["codepage"]}
    outcome = deliver(settings["printer"], render_test_page(**options),
                      job_id=f"test-page-{device['id']}-{time.strftime('%Y%m%d-%H%M%S')}",
                      png=render_test_page_png(**options), virtual_dir=str(virtual_dir(current_app)),
                      timeout=float(current_app.config.get("PRINT_TIMEOUT_SECONDS") or 5.0))
    db = get_db()
    with write(db):
        audit_change("device.print_test", f"device:{device['id']}",
               {"printer": settings["printer"], "ok": outcome.ok, "error": outcome.error,
                "status": str(outcome.status)})
    flash(_("Página de prueba: %(m)s (estado de la impresora: %(s)s)", m=outcome.message,
            s=str(outcome.status)), "ok" if outcome.ok else "error")
    return redirect(url_for(".device_edit", device_id=device["id"]))
