"""Administration of a site's services: prefixes, texts, targets, caps, hours."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from shared import rules, store
from shared.db import get_db
from shared.errors import Conflict, DomainError, not_found
from shared.web import ADMINS, require
from shared.web import MANAGERS as READERS

from . import forms
from .common import announce, audit_change, bp, changes, page, refusal, visible_site, write

# --- services --------------------------------------------------------------------------

def _service_fields(service: dict | None) -> MultiDict:
    """Return a service's stored values as form fields."""
    if service is None:
        return MultiDict({"active": "1", "target_wait_minutes": "15",
                          "default_service_minutes": "5", "daily_cap": "0", "sort_order": "0"})
    fields = MultiDict({
        "code": service["code"], "prefix": service["prefix"], "name": service["name"],
        "description": service["description"], "requirements": service["requirements"],
        "group_name": service["group_name"],
        "target_wait_minutes": str(service["target_wait_seconds"] // 60),
        "default_service_minutes": str(service["default_service_seconds"] // 60),
        "daily_cap": str(service["daily_cap"] or 0), "sort_order": str(service["sort_order"]),
        "active": "1" if service["active"] else "", "pictogram": service["pictogram"],
    })
    for day, value in forms.hours_text(service["opening_hours"]).items():
        fields["hours_" + day] = value
    return fields


def _services_page(site: dict, status: int = 200, **context):
    """Render a site's services with the new-service form (placed after the others by default)."""
    services_of_site = store.list_services(get_db(), site["id"])
    if "fields" not in context:
        context["fields"] = _service_fields(None)
        context["fields"]["sort_order"] = str(max([s["sort_order"] for s in services_of_site],
                                                  default=0) + 1)
    return page("services.html", status, site=site, services=services_of_site,
                pictograms=rules.SERVICE_PICTOGRAMS, **context)


@bp.get("/sites/<site>/services")
@require(*READERS)
def services(site):
    """List a site's services."""
    return _services_page(visible_site(site))


@bp.post("/sites/<site>/services")
@require(*ADMINS)
def service_create(site):
    """Create a service at a site."""
    s = visible_site(site)
    db = get_db()
    try:
        values = forms.service_values(request.form, creating=True)
        if store.find_service(db, s["id"], values["code"]) is not None:
            raise Conflict(_l("Ya existe un servicio con el código «%(c)s» en esta sede.",
                              c=values["code"]), field="code")
        rules.check_prefix(db, s["id"], values["prefix"])
    except DomainError as exc:
        return _services_page(s, exc.status, fields=request.form, **refusal(exc))
    with write(db):
        store.upsert_service(db, s["id"], values)
        audit_change("service.create", f"site:{s['code']}/service:{values['code']}",
               {"name": values["name"], "prefix": values["prefix"]})
        announce([s], "services")
    flash(_("Servicio «%(n)s» creado. Asígnelo a uno o más módulos para que lo atiendan.",
            n=values["name"]))
    return redirect(url_for(".services", site=s["code"]))


def _service_of(site: dict, service_id: int) -> dict:
    """Return a service of a site, or refuse."""
    service = store.service_by_id(get_db(), service_id)
    if service is None or service["site_id"] != site["id"]:
        raise not_found("service", service_id)
    return service


@bp.get("/sites/<site>/services/<int:service_id>")
@require(*READERS)
def service_edit(site, service_id):
    """Show a service's settings."""
    s = visible_site(site)
    service = _service_of(s, service_id)
    return page("service.html", site=s, service=service, fields=_service_fields(service),
                pictograms=rules.SERVICE_PICTOGRAMS)


@bp.post("/sites/<site>/services/<int:service_id>")
@require(*ADMINS)
def service_update(site, service_id):
    """Change a service's settings."""
    s = visible_site(site)
    service = _service_of(s, service_id)
    try:
        values = forms.service_values(request.form, creating=False)
        rules.check_prefix(get_db(), s["id"], values["prefix"], service["id"])
    except DomainError as exc:
        return page("service.html", exc.status, site=s, service=service, fields=request.form,
                    pictograms=rules.SERVICE_PICTOGRAMS, **refusal(exc))
    db = get_db()
    with write(db):
        store.update_service(db, service["id"], values)
        audit_change("service.update", f"site:{s['code']}/service:{service['code']}",
               changes(service, values))
        announce([s], "services")
    flash(_("Cambios guardados."))
    return redirect(url_for(".services", site=s["code"]))
