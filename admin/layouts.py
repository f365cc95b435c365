"""The site layout as a TOML file: export, and import by administrators."""

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from shared import layout, store
from shared.db import get_db
from shared.errors import DomainError, Invalid
from shared.timefmt import DEFAULT_TIMEZONE, local_datetime
from shared.web import ADMINS, current_clock, require
from shared.web import MANAGERS as READERS

from .common import (
    announce,
    audit_change,
    bp,
    now,
    page,
    refusal,
    write,
)

# --- layout (TOML) --------------------------------------------------------------------------

@bp.get("/layout")
@require(*READERS)
def layout_page():
    """Offer the TOML layout for download and, to administrators, an import form."""
    return page("layout.html")


@bp.get("/layout/export")
@require(*READERS)
def layout_export():
    """Download every site, service, desk and category as a TOML layout."""
    text = layout.export(get_db())
    day = local_datetime(now(), DEFAULT_TIMEZONE).strftime("%Y%m%d")
    return current_app.response_class(
        text, mimetype="application/toml",
        headers={"Content-Disposition": f'attachment; filename="turnos-layout-{day}.toml"'})


@bp.post("/layout/import")
@require(*ADMINS)
def layout_import():
    """Create or update sites, services, desks and categories from an uploaded TOML layout."""
    upload = request.files.get("layout")
    db = get_db()
    try:
        if upload is None or not upload.filename:
            raise Invalid(_l("Elija un archivo .toml."), field="layout")
        try:
            text = upload.read().decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid(_l("El archivo debe estar en UTF-8."), field="layout") from None
        parsed = layout.parse(text)
        layout.check_against(db, parsed)
    except DomainError as exc:
        return page("layout.html", exc.status, **refusal(exc))
    clock = current_clock()
    with write(db):
        counts = layout.apply(db, parsed, clock)
        audit_change("layout.import", upload.filename[:80], counts)
        announce(store.list_sites(db), "layout")
    flash(_("Diseño cargado: %(s)s sedes, %(v)s servicios, %(d)s módulos, %(c)s categorías.",
            s=counts["sites"], v=counts["services"], d=counts["desks"],
            c=counts["priority_categories"]))
    return redirect(url_for(".layout_page"))
