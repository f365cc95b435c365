"""Administration of a site's desks and the services each one calls, in order."""

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from shared import store
from shared.db import get_db
from shared.errors import Conflict, DomainError, not_found
from shared.web import ADMINS, require
from shared.web import MANAGERS as READERS

from . import forms
from .common import announce, audit_change, bp, changes, page, refusal, visible_site, write

# --- desks ------------------------------------------------------------------------------

def _desk_fields(desk: dict | None, service_ids: list[int]) -> MultiDict:
    """Return a desk's stored values as form fields (service orders as order_<id>)."""
    fields = MultiDict({"active": "1"} if desk is None else
                       {"code": desk["code"], "name": desk["name"],
                        "active": "1" if desk["active"] else ""})
    for position, service_id in enumerate(service_ids, start=1):
        fields[f"order_{service_id}"] = str(position)
    return fields


def _desks_page(site: dict, status: int = 200, **context):
    """Render a site's desks with the new-desk form."""
    context.setdefault("fields", _desk_fields(None, []))
    db = get_db()
    names = {s["code"]: s["name"] for s in store.list_services(db, site["id"])}
    return page("desks.html", status, site=site, desks=store.list_desks(db, site["id"]),
                 services=store.list_services(db, site["id"]), service_names=names, **context)


@bp.get("/sites/<site>/desks")
@require(*READERS)
def desks(site):
    """List a site's desks with the services each serves, in order."""
    return _desks_page(visible_site(site))


@bp.post("/sites/<site>/desks")
@require(*ADMINS)
def desk_create(site):
    """Create a desk at a site."""
    s = visible_site(site)
    db = get_db()
    try:
        values, service_ids = forms.desk_values(request.form, store.list_services(db, s["id"]),
                                                creating=True)
        if store.find_desk(db, values["code"], s["id"]) is not None:
            raise Conflict(_l("Ya existe el módulo «%(c)s» en esta sede.", c=values["code"]),
                           field="code")
    except DomainError as exc:
        return _desks_page(s, exc.status, fields=request.form, **refusal(exc))
    with write(db):
        desk_id = store.upsert_desk(db, s["id"], values)
        store.set_desk_services(db, desk_id, service_ids)
        audit_change("desk.create", f"site:{s['code']}/desk:{values['code']}",
               {"name": values["name"], "services": _codes(service_ids)})
        announce([s], "desks")
    flash(_("Módulo «%(n)s» creado.", n=values["name"]))
    return redirect(url_for(".desks", site=s["code"]))


def _codes(service_ids: list[int]) -> list[str]:
    """Return the codes of some services, in the same order."""
    db = get_db()
    return [store.service_by_id(db, i)["code"] for i in service_ids]


def _desk_of(site: dict, desk_id: int) -> dict:
    """Return a desk of a site, or refuse."""
    desk = store.desk_by_id(get_db(), desk_id)
    if desk is None or desk["site_id"] != site["id"]:
        raise not_found("desk", desk_id)
    return desk


@bp.get("/sites/<site>/desks/<int:desk_id>")
@require(*READERS)
def desk_edit(site, desk_id):
    """Show a desk's settings."""
    s = visible_site(site)
    desk = _desk_of(s, desk_id)
    db = get_db()
    return page("desk.html", site=s, desk=desk, services=store.list_services(db, s["id"]),
                 fields=_desk_fields(desk, store.desk_service_ids(db, desk["id"])))


@bp.post("/sites/<site>/desks/<int:desk_id>")
@require(*ADMINS)
def desk_update(site, desk_id):
    """Change a desk's name, state and the services it serves."""
    s = visible_site(site)
    desk = _desk_of(s, desk_id)
    db = get_db()
    services_of_site = store.list_services(db, s["id"])
    try:
        values, service_ids = forms.desk_values(request.form, services_of_site, creating=False)
    except DomainError as exc:
        return page("desk.html", exc.status, site=s, desk=desk, services=services_of_site,
                     fields=request.form, **refusal(exc))
    before = _codes(store.desk_service_ids(db, desk["id"]))
    with write(db):
        store.update_desk(db, desk["id"], values)
        store.set_desk_services(db, desk["id"], service_ids)
        detail = changes(desk, values)
        if before != _codes(service_ids):
            detail["services"] = [before, _codes(service_ids)]
        audit_change("desk.update", f"site:{s['code']}/desk:{desk['code']}", detail)
        announce([s], "desks")
    flash(_("Cambios guardados."))
    return redirect(url_for(".desks", site=s["code"]))
