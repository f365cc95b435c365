"""Administration of sites: the overview, each site's settings and its ticket logo."""

import io
import json
from pathlib import Path

from flask import current_app, flash, redirect, request, send_file, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from PIL import Image, UnidentifiedImageError
from werkzeug.datastructures import MultiDict

from shared import backups, media, store
from shared.db import get_db
from shared.errors import Conflict, DomainError, Invalid, not_found
from shared.priority import DEFAULT_PARAMS, POLICIES
from shared.queue import current_engine
from shared.timefmt import DEFAULT_TIMEZONE
from shared.web import ADMINS, require
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
    visible_site,
    visible_sites,
    write,
)

LOGO_MAX_PIXELS = 2000


# --- overview ------------------------------------------------------------------------

@bp.get("/")
@require(*READERS)
def index():
    """Show each site with its services, desks and devices at a glance."""
    db = get_db()
    rows = []
    for site in visible_sites():
        services = store.list_services(db, site["id"])
        rows.append({"site": site, "services": len(services),
                     "active_services": sum(1 for s in services if s["active"]),
                     "desks": len(store.list_desks(db, site["id"])),
                     "devices": sum(1 for d in store.list_devices(db, site["id"])
                                    if not d["revoked_at"])})
    unclosed = current_engine().unclosed_days([row["site"] for row in rows])
    held = store.held_back_logins(db, now()) if me().is_admin else []
    backup = backups.last(db, now()) if me().is_admin else None
    if backup:
        backup["size"] = format_decimal(round(backup["bytes"] / 1e6, 1)) + " MB"
    return page("index.html", rows=rows, held=held, backup=backup, unclosed=unclosed)


# --- sites ---------------------------------------------------------------------------

def _site_fields(site: dict | None) -> MultiDict:
    """Return a site's stored values as form fields."""
    if site is None:
        return MultiDict({"timezone": DEFAULT_TIMEZONE, "policy": "strict", "active": "1"})
    params = json.loads(site["policy_params"] or "{}")
    fields = MultiDict({
        "code": site["code"], "name": site["name"], "timezone": site["timezone"],
        "entity_name": site["entity_name"], "display_message": site["display_message"],
        "policy": site["policy"], "active": "1" if site["active"] else "",
        "holidays": "\n".join(json.loads(site["holidays"] or "[]")),
        "id_capture": "1" if site["id_capture"] else "", "privacy_notice": site["privacy_notice"],
        "retention_days": str(site["retention_days"] or 0),
        "ratio_n": str(params.get("n", "")),
        "aging_preferential_weight": str(params.get("preferential_weight", "")),
        "aging_grace_seconds": str(params.get("grace_seconds", "")),
        "max_wait_minutes": str((site["max_wait_seconds"] or 0) // 60),
    })
    for day, value in forms.hours_text(site["opening_hours"]).items():
        fields["hours_" + day] = value
    return fields


def _sites_page(status: int = 200, **context):
    """Render the list of sites with the new-site form."""
    context.setdefault("fields", _site_fields(None))
    return page("sites.html", status, sites=visible_sites(), policies=POLICIES,
                 policy_defaults=DEFAULT_PARAMS, **context)


@bp.get("/sites")
@require(*READERS)
def sites():
    """List the sites."""
    return _sites_page()


@bp.post("/sites")
@require(*ADMINS)
def site_create():
    """Create a site."""
    db = get_db()
    try:
        values = forms.site_values(request.form, creating=True)
        if store.find_site(db, values["code"]) is not None:
            raise Conflict(_l("Ya existe una sede con el código «%(c)s».", c=values["code"]),
                           field="code")
    except DomainError as exc:
        return _sites_page(exc.status, fields=request.form, **refusal(exc))
    with write(db):
        site_id = store.upsert_site(db, values, now())
        audit_change("site.create", f"site:{values['code']}", {"name": values["name"]})
    flash(_("Sede «%(s)s» creada. Agregue sus servicios y módulos.", s=values["name"]))
    return redirect(url_for(".site_edit", site=store.site_by_id(db, site_id)["code"]))


def _site_page(site: dict, status: int = 200, **context):
    """Render a site's edit page."""
    context.setdefault("fields", _site_fields(site))
    return page("site.html", status, site=site, policies=POLICIES, policy_defaults=DEFAULT_PARAMS,
                 **context)


@bp.get("/sites/<site>")
@require(*READERS)
def site_edit(site):
    """Show a site's settings."""
    return _site_page(visible_site(site))


@bp.post("/sites/<site>")
@require(*ADMINS)
def site_update(site):
    """Change a site's settings."""
    s = visible_site(site)
    try:
        values = forms.site_values(request.form, creating=False)
    except DomainError as exc:
        return _site_page(s, exc.status, fields=request.form, **refusal(exc))
    db = get_db()
    with write(db):
        store.update_site(db, s["id"], values)
        audit_change("site.update", f"site:{s['code']}", changes(s, values))
        announce([s], "site")
    flash(_("Cambios guardados."))
    return redirect(url_for(".site_edit", site=s["code"]))


@bp.post("/sites/<site>/logo")
@require(*ADMINS)
def site_logo_upload(site):
    """Store the logo printed on a site's tickets (PNG, JPEG or GIF, kept in the database)."""
    s = visible_site(site)
    upload = request.files.get("logo")
    try:
        if upload is None or not upload.filename:
            raise Invalid(_l("Elija un archivo de imagen."), field="logo")
        try:
            image = Image.open(io.BytesIO(upload.read()))
            image.load()
        except (UnidentifiedImageError, OSError, ValueError):
            raise Invalid(_l("El archivo no es una imagen PNG, JPEG o GIF válida."),
                          field="logo") from None
        if image.format not in ("PNG", "JPEG", "GIF") or max(image.size) > LOGO_MAX_PIXELS:
            raise Invalid(_l("Use una imagen PNG, JPEG o GIF de máximo %(n)s píxeles por lado.",
                             n=LOGO_MAX_PIXELS), field="logo")
    except DomainError as exc:
        return _site_page(s, exc.status, **refusal(exc))
    png = io.BytesIO()
    image.convert("RGBA" if "A" in image.getbands() or image.mode == "P" else "RGB").save(
        png, format="PNG")
    db = get_db()
    with write(db):
        # Kept in the database: every server process (and machine) prints and shows it.
        key = media.put(db, media.key_for(f"logo/{s['code']}", png.getvalue(), "png"), "image/png",
                        png.getvalue(), now())
        _forget_logo(db, s)
        store.update_site(db, s["id"], {"logo_path": media.PREFIX + key})
        audit_change("site.logo", f"site:{s['code']}", {"size": list(image.size)})
        announce([s], "site")
    flash(_("Logo guardado: saldrá en los próximos tiquetes."))
    return redirect(url_for(".site_edit", site=s["code"]))


def _forget_logo(db, s: dict) -> None:
    """Drop a site's current logo from the database (it is being replaced or removed)."""
    if media.is_media(s["logo_path"]):
        store.drop_media(db, s["logo_path"][len(media.PREFIX):])


@bp.post("/sites/<site>/logo/delete")
@require(*ADMINS)
def site_logo_delete(site):
    """Stop printing a logo on a site's tickets."""
    s = visible_site(site)
    db = get_db()
    with write(db):
        _forget_logo(db, s)
        store.update_site(db, s["id"], {"logo_path": None})
        audit_change("site.logo_removed", f"site:{s['code']}")
        announce([s], "site")
    flash(_("Logo retirado."))
    return redirect(url_for(".site_edit", site=s["code"]))


@bp.get("/sites/<site>/logo")
@require(*READERS)
def site_logo(site):
    """Serve a site's ticket logo."""
    s = visible_site(site)
    if not s["logo_path"]:
        raise not_found("logo", s["code"])
    if media.is_media(s["logo_path"]):
        kept = media.get(get_db(), s["logo_path"][len(media.PREFIX):])
        if kept is None:
            raise not_found("logo", s["code"])
        response = current_app.response_class(bytes(kept["data"]), mimetype=kept["content_type"])
        response.headers["Cache-Control"] = "no-cache"
        return response
    path = Path(s["logo_path"])  # a logo kept on disk before logos moved to the database
    if not path.is_absolute():
        path = Path(current_app.config["INSTANCE"]) / path
    if not path.is_file():
        raise not_found("logo", s["code"])
    return send_file(path, mimetype="image/png", max_age=0)
