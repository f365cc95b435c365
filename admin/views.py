"""Administration pages under /admin/: sites, services, desks, categories, users, devices, audit, layout.

Every page needs the admin role; supervisors may read the configuration pages
(never users, the audit log or pairing codes). Every change is validated
before anything is written, recorded in the audit log in the same
transaction, and announced as ``config_changed`` to the site's room so
kiosks, screens and desks refresh without a restart.
"""

import base64
import contextlib
import io
import json
import time
from pathlib import Path

from flask import (Blueprint, current_app, flash, redirect, render_template, request, send_file,
                   url_for)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from api.views import absolute
from shared import auth, devices, events, layout, media, store
from shared.auth import require
from shared.db import IntegrityError, get_db, immediate
from shared.errors import Conflict, DomainError, Invalid, not_found
from shared.hours import WEEKDAYS
from shared.priority import DEFAULT_PARAMS, POLICIES
from shared.timefmt import DEFAULT_TIMEZONE, local_datetime

from . import forms

bp = Blueprint("admin", __name__, url_prefix="/admin", template_folder="templates",
               static_folder="static")

ADMIN = ("admin",)
READERS = ("admin", "supervisor")
PAIRING_MINUTES = 15
LOGO_MAX_PIXELS = 2000


# --- request plumbing ----------------------------------------------------------------

@bp.before_request
def login_first():
    """Send a browser without credentials to the login page (scripts get 401 from the views)."""
    from server import wants_json

    if auth.current_principal() is None and not wants_json():
        return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))
    return None


@bp.after_request
def no_store(response):
    """Keep administration pages (pairing codes, user lists) out of browser and proxy caches."""
    response.headers["Cache-Control"] = "no-store"
    return response


@contextlib.contextmanager
def _write(db):
    """Run a change in one write transaction; a clash with a simultaneous change is a 409, not a 500."""
    try:
        with immediate(db):
            yield
    except IntegrityError as exc:
        raise Conflict(_l("Otro cambio hecho al mismo tiempo choca con este: recargue la página e "
                          "intente de nuevo."), code="concurrent_change") from exc


def _me() -> auth.Principal:
    """Return the signed-in principal (the role decorator already checked it)."""
    return auth.current_principal()


def _now() -> int:
    """Return the current time in milliseconds."""
    return current_app.extensions["turnos.clock"].now_ms()


def _audit(action: str, target: str, detail: dict | None = None) -> None:
    """Record an administrative change (inside the change's transaction)."""
    store.audit(get_db(), _now(), _me().user_id, action, target, detail)


def _announce(sites, what: str) -> None:
    """Tell the kiosks, screens and desks of some sites that their configuration changed."""
    announcer = current_app.extensions.get("turnos.announcer") or events.NullAnnouncer()
    for site in sites:
        announcer.emit(events.CONFIG_CHANGED, {"site": site["code"], "what": what},
                       events.site_room(site["id"]))


def _changes(before: dict, after: dict) -> dict:
    """Return ``{field: [old, new]}`` for the fields a change touches."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def _error(exc: DomainError) -> dict:
    """Return the template variables that show a refusal next to its field."""
    return {"error_message": str(exc.message), "error_field": exc.details.get("field")}


def _site(code: str) -> dict:
    """Return a site the principal may see, by code."""
    site = store.find_site(get_db(), code)
    if site is None:
        raise not_found("site", code)
    auth.require_site(_me(), site)
    return site


def _visible_sites() -> list[dict]:
    """Return the sites the principal may see."""
    me = _me()
    return [s for s in store.list_sites(get_db()) if me.may_use_site(s["id"])]


def _page(template: str, status: int = 200, **context):
    """Render an administration page with what every page shows."""
    me = _me()
    context.setdefault("can_edit", me is not None and me.is_admin)
    context.setdefault("error_message", None)
    context.setdefault("error_field", None)
    context.setdefault("fields", MultiDict())
    return render_template(f"admin/{template}", printer_links=_printer_links(),
                           weekdays=WEEKDAYS, weekday_labels=forms.WEEKDAY_LABELS, **context), status


def _printer_links() -> list[tuple[str, str]]:
    """Return the printer pages other parts of Turnos serve (virtual tickets, failures)."""
    links = []
    for rule in current_app.url_map.iter_rules():
        path = rule.rule
        if (rule.arguments or "GET" not in rule.methods or rule.endpoint.endswith("static")
                or not (path.startswith("/admin/printer") or path.startswith("/printer"))):
            continue
        if "fail" in path:
            label = _("Fallas de impresión")
        elif "ticket" in path or "virtual" in path:
            label = _("Tiquetes de la impresora virtual")
        else:
            label = _("Impresoras")
        links.append((label, path))
    return sorted(set(links), key=lambda link: link[1])


@bp.app_template_filter("admin_time")
def admin_time(ms, tz=None) -> str:
    """Format a stored millisecond time as local ``YYYY-MM-DD HH:MM`` (blank when missing)."""
    if not ms:
        return ""
    return local_datetime(ms, tz or DEFAULT_TIMEZONE).strftime("%Y-%m-%d %H:%M")


# --- overview ------------------------------------------------------------------------

@bp.get("/")
@require(*READERS)
def index():
    """Show each site with its services, desks and devices at a glance."""
    db = get_db()
    rows = []
    for site in _visible_sites():
        services = store.list_services(db, site["id"])
        rows.append({"site": site, "services": len(services),
                     "active_services": sum(1 for s in services if s["active"]),
                     "desks": len(store.list_desks(db, site["id"])),
                     "devices": sum(1 for d in store.list_devices(db, site["id"])
                                    if not d["revoked_at"])})
    held = store.held_back_logins(db, _now()) if _me().is_admin else []
    return _page("index.html", rows=rows, held=held)


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
    return _page("sites.html", status, sites=_visible_sites(), policies=POLICIES,
                 policy_defaults=DEFAULT_PARAMS, **context)


@bp.get("/sites")
@require(*READERS)
def sites():
    """List the sites."""
    return _sites_page()


@bp.post("/sites")
@require(*ADMIN)
def site_create():
    """Create a site."""
    db = get_db()
    try:
        values = forms.site_values(request.form, creating=True)
        if store.find_site(db, values["code"]) is not None:
            raise Conflict(_l("Ya existe una sede con el código «%(c)s».", c=values["code"]),
                           field="code")
    except DomainError as exc:
        return _sites_page(exc.status, fields=request.form, **_error(exc))
    with _write(db):
        site_id = store.upsert_site(db, values, _now())
        _audit("site.create", f"site:{values['code']}", {"name": values["name"]})
    flash(_("Sede «%(s)s» creada. Agregue sus servicios y módulos.", s=values["name"]))
    return redirect(url_for(".site_edit", site=store.site_by_id(db, site_id)["code"]))


def _site_page(site: dict, status: int = 200, **context):
    """Render a site's edit page."""
    context.setdefault("fields", _site_fields(site))
    return _page("site.html", status, site=site, policies=POLICIES, policy_defaults=DEFAULT_PARAMS,
                 **context)


@bp.get("/sites/<site>")
@require(*READERS)
def site_edit(site):
    """Show a site's settings."""
    return _site_page(_site(site))


@bp.post("/sites/<site>")
@require(*ADMIN)
def site_update(site):
    """Change a site's settings."""
    s = _site(site)
    try:
        values = forms.site_values(request.form, creating=False)
    except DomainError as exc:
        return _site_page(s, exc.status, fields=request.form, **_error(exc))
    db = get_db()
    with _write(db):
        store.update_site(db, s["id"], values)
        _audit("site.update", f"site:{s['code']}", _changes(s, values))
    _announce([s], "site")
    flash(_("Cambios guardados."))
    return redirect(url_for(".site_edit", site=s["code"]))


@bp.post("/sites/<site>/logo")
@require(*ADMIN)
def site_logo_upload(site):
    """Store the logo printed on a site's tickets (PNG, JPEG or GIF, kept in the instance)."""
    from PIL import Image, UnidentifiedImageError

    s = _site(site)
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
        return _site_page(s, exc.status, **_error(exc))
    png = io.BytesIO()
    image.convert("RGBA" if "A" in image.getbands() or image.mode == "P" else "RGB").save(
        png, format="PNG")
    db = get_db()
    with _write(db):
        # Kept in the database: every server process (and machine) prints and shows it.
        key = media.put(db, media.key_for(f"logo/{s['code']}", png.getvalue(), "png"), "image/png",
                        png.getvalue(), _now())
        _forget_logo(db, s)
        store.update_site(db, s["id"], {"logo_path": media.PREFIX + key})
        _audit("site.logo", f"site:{s['code']}", {"size": list(image.size)})
    _announce([s], "site")
    flash(_("Logo guardado: saldrá en los próximos tiquetes."))
    return redirect(url_for(".site_edit", site=s["code"]))


def _forget_logo(db, s: dict) -> None:
    """Drop a site's current logo from the database (it is being replaced or removed)."""
    if media.is_media(s["logo_path"]):
        store.drop_media(db, s["logo_path"][len(media.PREFIX):])


@bp.post("/sites/<site>/logo/delete")
@require(*ADMIN)
def site_logo_delete(site):
    """Stop printing a logo on a site's tickets."""
    s = _site(site)
    db = get_db()
    with _write(db):
        _forget_logo(db, s)
        store.update_site(db, s["id"], {"logo_path": None})
        _audit("site.logo_removed", f"site:{s['code']}")
    _announce([s], "site")
    flash(_("Logo retirado."))
    return redirect(url_for(".site_edit", site=s["code"]))


@bp.get("/sites/<site>/logo")
@require(*READERS)
def site_logo(site):
    """Serve a site's ticket logo."""
    s = _site(site)
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
        "active": "1" if service["active"] else "",
    })
    for day, value in forms.hours_text(service["opening_hours"]).items():
        fields["hours_" + day] = value
    return fields


def _check_prefix(site: dict, prefix: str, service_id: int | None) -> None:
    """Refuse a ticket prefix another service of the site uses, or one its codes could mistake."""
    db = get_db()
    other = store.service_with_prefix(db, site["id"], prefix)
    if other is not None and other["id"] != service_id:
        raise Conflict(_l("El prefijo «%(p)s» ya lo usa el servicio «%(s)s».", p=prefix,
                          s=other["name"]), field="prefix")
    # Preferential tickets print P + prefix (PA-001): "PA" would read like a preferential "A".
    for service in store.list_services(db, site["id"]):
        if service["id"] != service_id and prefix in ("P" + service["prefix"],
                                                      service["prefix"][1:] if
                                                      service["prefix"].startswith("P") else None):
            raise Conflict(_l("El prefijo «%(p)s» se confundiría con los turnos preferenciales "
                              "de «%(s)s» (P + prefijo).", p=prefix, s=service["name"]),
                           field="prefix")


def _services_page(site: dict, status: int = 200, **context):
    """Render a site's services with the new-service form (placed after the others by default)."""
    services_of_site = store.list_services(get_db(), site["id"])
    if "fields" not in context:
        context["fields"] = _service_fields(None)
        context["fields"]["sort_order"] = str(max([s["sort_order"] for s in services_of_site],
                                                  default=0) + 1)
    return _page("services.html", status, site=site, services=services_of_site, **context)


@bp.get("/sites/<site>/services")
@require(*READERS)
def services(site):
    """List a site's services."""
    return _services_page(_site(site))


@bp.post("/sites/<site>/services")
@require(*ADMIN)
def service_create(site):
    """Create a service at a site."""
    s = _site(site)
    db = get_db()
    try:
        values = forms.service_values(request.form, creating=True)
        if store.find_service(db, s["id"], values["code"]) is not None:
            raise Conflict(_l("Ya existe un servicio con el código «%(c)s» en esta sede.",
                              c=values["code"]), field="code")
        _check_prefix(s, values["prefix"], None)
    except DomainError as exc:
        return _services_page(s, exc.status, fields=request.form, **_error(exc))
    with _write(db):
        store.upsert_service(db, s["id"], values)
        _audit("service.create", f"site:{s['code']}/service:{values['code']}",
               {"name": values["name"], "prefix": values["prefix"]})
    _announce([s], "services")
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
    s = _site(site)
    service = _service_of(s, service_id)
    return _page("service.html", site=s, service=service, fields=_service_fields(service))


@bp.post("/sites/<site>/services/<int:service_id>")
@require(*ADMIN)
def service_update(site, service_id):
    """Change a service's settings."""
    s = _site(site)
    service = _service_of(s, service_id)
    try:
        values = forms.service_values(request.form, creating=False)
        _check_prefix(s, values["prefix"], service["id"])
    except DomainError as exc:
        return _page("service.html", exc.status, site=s, service=service, fields=request.form,
                     **_error(exc))
    db = get_db()
    with _write(db):
        store.update_service(db, service["id"], values)
        _audit("service.update", f"site:{s['code']}/service:{service['code']}",
               _changes(service, values))
    _announce([s], "services")
    flash(_("Cambios guardados."))
    return redirect(url_for(".services", site=s["code"]))


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
    return _page("desks.html", status, site=site, desks=store.list_desks(db, site["id"]),
                 services=store.list_services(db, site["id"]), service_names=names, **context)


@bp.get("/sites/<site>/desks")
@require(*READERS)
def desks(site):
    """List a site's desks with the services each serves, in order."""
    return _desks_page(_site(site))


@bp.post("/sites/<site>/desks")
@require(*ADMIN)
def desk_create(site):
    """Create a desk at a site."""
    s = _site(site)
    db = get_db()
    try:
        values, service_ids = forms.desk_values(request.form, store.list_services(db, s["id"]),
                                                creating=True)
        if store.find_desk(db, values["code"], s["id"]) is not None:
            raise Conflict(_l("Ya existe el módulo «%(c)s» en esta sede.", c=values["code"]),
                           field="code")
    except DomainError as exc:
        return _desks_page(s, exc.status, fields=request.form, **_error(exc))
    with _write(db):
        desk_id = store.upsert_desk(db, s["id"], values)
        store.set_desk_services(db, desk_id, service_ids)
        _audit("desk.create", f"site:{s['code']}/desk:{values['code']}",
               {"name": values["name"], "services": _codes(service_ids)})
    _announce([s], "desks")
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
    s = _site(site)
    desk = _desk_of(s, desk_id)
    db = get_db()
    return _page("desk.html", site=s, desk=desk, services=store.list_services(db, s["id"]),
                 fields=_desk_fields(desk, store.desk_service_ids(db, desk["id"])))


@bp.post("/sites/<site>/desks/<int:desk_id>")
@require(*ADMIN)
def desk_update(site, desk_id):
    """Change a desk's name, state and the services it serves."""
    s = _site(site)
    desk = _desk_of(s, desk_id)
    db = get_db()
    services_of_site = store.list_services(db, s["id"])
    try:
        values, service_ids = forms.desk_values(request.form, services_of_site, creating=False)
    except DomainError as exc:
        return _page("desk.html", exc.status, site=s, desk=desk, services=services_of_site,
                     fields=request.form, **_error(exc))
    before = _codes(store.desk_service_ids(db, desk["id"]))
    with _write(db):
        store.update_desk(db, desk["id"], values)
        store.set_desk_services(db, desk["id"], service_ids)
        detail = _changes(desk, values)
        if before != _codes(service_ids):
            detail["services"] = [before, _codes(service_ids)]
        _audit("desk.update", f"site:{s['code']}/desk:{desk['code']}", detail)
    _announce([s], "desks")
    flash(_("Cambios guardados."))
    return redirect(url_for(".desks", site=s["code"]))


# --- priority categories -------------------------------------------------------------------

def _category_fields(category: dict | None) -> MultiDict:
    """Return a category's stored values as form fields."""
    if category is None:
        return MultiDict({"active": "1", "kiosk_visible": "1", "sort_order": "0"})
    return MultiDict({"code": category["code"], "label": category["label"],
                      "pictogram": category["pictogram"], "legal_note": category["legal_note"],
                      "kiosk_visible": "1" if category["kiosk_visible"] else "",
                      "active": "1" if category["active"] else "",
                      "sort_order": str(category["sort_order"])})


def _categories_page(status: int = 200, **context):
    """Render the priority categories with the new-category form."""
    context.setdefault("fields", _category_fields(None))
    return _page("categories.html", status, categories=store.list_categories(get_db()),
                 pictograms=forms.KNOWN_PICTOGRAMS, **context)


@bp.get("/categories")
@require(*READERS)
def categories():
    """List the priority categories."""
    return _categories_page()


@bp.post("/categories")
@require(*ADMIN)
def category_create():
    """Create a priority category."""
    db = get_db()
    try:
        values = forms.category_values(request.form, creating=True)
        if store.find_category(db, values["code"]) is not None:
            raise Conflict(_l("Ya existe la categoría «%(c)s».", c=values["code"]), field="code")
    except DomainError as exc:
        return _categories_page(exc.status, fields=request.form, **_error(exc))
    with _write(db):
        store.upsert_category(db, values)
        _audit("category.create", f"category:{values['code']}", {"label": values["label"]})
    _announce(store.list_sites(db), "categories")
    flash(_("Categoría «%(n)s» creada.", n=values["label"]))
    return redirect(url_for(".categories"))


def _category(code: str) -> dict:
    """Return a priority category by code, or refuse."""
    category = store.find_category(get_db(), code)
    if category is None:
        raise not_found("priority", code)
    return category


@bp.get("/categories/<code>")
@require(*READERS)
def category_edit(code):
    """Show a priority category."""
    category = _category(code)
    return _page("category.html", category=category, fields=_category_fields(category),
                 pictograms=forms.KNOWN_PICTOGRAMS)


@bp.post("/categories/<code>")
@require(*ADMIN)
def category_update(code):
    """Change a priority category."""
    category = _category(code)
    try:
        values = forms.category_values(request.form, creating=False)
    except DomainError as exc:
        return _page("category.html", exc.status, category=category, fields=request.form,
                     pictograms=forms.KNOWN_PICTOGRAMS, **_error(exc))
    db = get_db()
    with _write(db):
        store.upsert_category(db, dict(values, code=category["code"]))
        _audit("category.update", f"category:{category['code']}", _changes(category, values))
    _announce(store.list_sites(db), "categories")
    flash(_("Cambios guardados."))
    return redirect(url_for(".categories"))


# --- users ---------------------------------------------------------------------------------

def _users_page(status: int = 200, **context):
    """Render the users with the new-user form."""
    db = get_db()
    context.setdefault("fields", MultiDict({"role": "official"}))
    site_names = {s["id"]: s["name"] for s in store.list_sites(db)}
    held = {row["username"] for row in store.held_back_logins(db, _now())}
    return _page("users.html", status, users=store.list_users(db), site_options=_site_options(),
                 user_sites=store.user_sites_map(db), site_names=site_names, now=_now(),
                 held=held, **context)


def _site_options() -> list[tuple[int, str]]:
    """Return (id, name) of every site, for the sites a user works in."""
    return [(s["id"], s["name"]) for s in store.list_sites(get_db())]


@bp.get("/users")
@require(*ADMIN)
def users():
    """List the staff accounts."""
    return _users_page()


@bp.post("/users")
@require(*ADMIN)
def user_create():
    """Create a staff account."""
    db = get_db()
    clock = current_app.extensions["turnos.clock"]
    try:
        values, site_ids = forms.user_values(request.form, store.list_sites(db), creating=True)
        with _write(db):
            user_id = auth.create_user(db, values["username"], values["password"], values["role"],
                                       clock, display_name=values["display_name"],
                                       site_ids=site_ids)
            _audit("user.create", f"user:{values['username']}",
                   {"role": values["role"], "sites": site_ids})
    except DomainError as exc:
        fields = MultiDict(request.form)
        fields.poplist("password")
        fields.poplist("password2")
        return _users_page(exc.status, fields=fields, **_error(exc))
    flash(_("Usuario «%(u)s» creado.", u=values["username"]))
    return redirect(url_for(".user_edit", user_id=user_id))


def _user(user_id: int) -> dict:
    """Return a user by id, or refuse."""
    user = store.user_by_id(get_db(), user_id)
    if user is None:
        raise not_found("user", user_id)
    return user


def _user_page(user: dict, status: int = 200, **context):
    """Render a user's page."""
    db = get_db()
    if "fields" not in context:
        fields = MultiDict({"display_name": user["display_name"], "role": user["role"],
                            "active": "1" if user["active"] else ""})
        for site_id in store.user_site_ids(db, user["id"]):
            fields.add("sites", str(site_id))
        context["fields"] = fields
    since = _now() - current_app.config["LOGIN_LOCKOUT_SECONDS"] * 1000
    return _page("user.html", status, user=user, site_options=_site_options(), now=_now(),
                 failures=store.login_failures_of_user(db, user["username"], since), **context)


@bp.get("/users/<int:user_id>")
@require(*ADMIN)
def user_edit(user_id):
    """Show a staff account."""
    return _user_page(_user(user_id))


def _keep_an_admin(user: dict, role: str, active: int) -> None:
    """Refuse to leave the instance without an active administrator."""
    if (user["role"] == "admin" and user["active"] and (role != "admin" or not active)
            and store.count_active_admins(get_db()) <= 1):
        raise Conflict(_l("Debe quedar al menos un administrador activo."), field="role")


@bp.post("/users/<int:user_id>")
@require(*ADMIN)
def user_update(user_id):
    """Change a user's name, role, sites or state; disabling ends their sessions at once."""
    user = _user(user_id)
    db = get_db()
    try:
        values, site_ids = forms.user_values(request.form, store.list_sites(db), creating=False)
        _keep_an_admin(user, values["role"], values["active"])
    except DomainError as exc:
        return _user_page(user, exc.status, fields=request.form, **_error(exc))
    before_sites = store.user_site_ids(db, user["id"])
    with _write(db):
        store.update_user(db, user["id"], values)
        store.set_user_sites(db, user["id"], site_ids)
        detail = _changes(user, values)
        if sorted(before_sites) != site_ids:
            detail["sites"] = [sorted(before_sites), site_ids]
        if not values["active"]:
            store.revoke_user_tokens(db, user["id"], _now())
        _audit("user.disable" if user["active"] and not values["active"] else "user.update",
               f"user:{user['username']}", detail)
    if not values["active"] or values["role"] != user["role"] or "sites" in detail:
        # Sockets keep the role and sites they connected with: make them reconnect.
        devices.disconnect_sockets(user_id=user["id"])
    flash(_("Cambios guardados."))
    return redirect(url_for(".user_edit", user_id=user["id"]))


@bp.post("/users/<int:user_id>/password")
@require(*ADMIN)
def user_password(user_id):
    """Set a new password: clears a lockout and ends the user's sessions and API tokens."""
    user = _user(user_id)
    try:
        password = forms.password_pair(request.form)
    except DomainError as exc:
        return _user_page(user, exc.status, **_error(exc))
    db = get_db()
    held = [r for r in store.login_failures_of_user(db, user["username"], 0)
            if r["blocked_until"] and r["blocked_until"] > _now()]
    with _write(db):
        store.set_password(db, user["id"], auth.hash_password(password))
        store.revoke_user_tokens(db, user["id"], _now())
        store.clear_login_failures_of_user(db, user["username"])
        _audit("user.password_reset", f"user:{user['username']}", {"was_held_back": bool(held)})
    devices.disconnect_sockets(user_id=user["id"])
    flash(_("Contraseña cambiada. Entréguela a la persona por un medio seguro."))
    return redirect(url_for(".user_edit", user_id=user["id"]))


@bp.post("/users/<int:user_id>/unlock")
@require(*ADMIN)
def user_unlock(user_id):
    """Let every source held back after failed logins try this account again (password kept)."""
    user = _user(user_id)
    db = get_db()
    with _write(db):
        store.unlock_user(db, user["id"])
        cleared = store.clear_login_failures_of_user(db, user["username"])
        _audit("user.unlock", f"user:{user['username']}", {"sources": cleared})
    flash(_("Cuenta desbloqueada."))
    return redirect(url_for(".user_edit", user_id=user["id"]))


# --- devices -------------------------------------------------------------------------------

KIND_LABELS = {"kiosk": _l("Kiosco"), "display": _l("Pantalla de sala"),
               "survey": _l("Pantalla de encuesta")}


def device_state(device: dict, now: int) -> str:
    """Return a device's state: revoked, paired, pairing (live code) or new."""
    if device["revoked_at"]:
        return "revoked"
    if device["pairing_code_hash"] and (device["pairing_expires_at"] or 0) > now:
        return "pairing"
    if device["token_hash"]:
        return "paired"
    return "new"


def _devices_page(status: int = 200, **context):
    """Render every device the principal may see, with the new-device form."""
    db = get_db()
    sites_seen = _visible_sites()
    rows = []
    now = _now()
    for site in sites_seen:
        for device in store.list_devices(db, site["id"]):
            rows.append({"device": device, "site": site, "state": device_state(device, now),
                         "config": json.loads(device["config"] or "{}")})
    context.setdefault("fields", MultiDict({"kind": "kiosk"}))
    return _page("devices.html", status, rows=rows, kinds=KIND_LABELS,
                 site_choices=[(s["id"], s["name"]) for s in sites_seen], **context)


@bp.get("/devices")
@require(*READERS)
def devices_list():
    """List the kiosks, screens and survey screens, with their state and last contact."""
    return _devices_page()


@bp.post("/devices")
@require(*ADMIN)
def device_create():
    """Register a device and show its one-time pairing code."""
    db = get_db()
    try:
        values = forms.device_values(request.form, _visible_sites())
    except DomainError as exc:
        return _devices_page(exc.status, fields=request.form, **_error(exc))
    clock = current_app.extensions["turnos.clock"]
    with _write(db):
        device_id = store.insert_device(db, values["site_id"], values["kind"], values["name"], None,
                                        {}, _now())
        code = devices.new_pairing_code(db, device_id, clock, ttl_seconds=PAIRING_MINUTES * 60)
        site = store.site_by_id(db, values["site_id"])
        _audit("device.create", f"device:{device_id}",
               {"site": site["code"], "kind": values["kind"], "name": values["name"]})
    return _pairing_page(store.device_by_id(db, device_id), code)


def _pairing_page(device: dict, code: str):
    """Show a pairing code once, with the link and its QR for the device to open."""
    import qrcode
    import qrcode.image.svg

    link = absolute(f"/pair/{code}")
    image = qrcode.make(link, image_factory=qrcode.image.svg.SvgPathImage, box_size=12, border=2)
    buffer = io.BytesIO()
    image.save(buffer)
    qr = "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()
    site = store.site_by_id(get_db(), device["site_id"])
    return _page("pairing.html", device=device, site=site, code=code, link=link, qr=qr,
                 minutes=PAIRING_MINUTES, kinds=KIND_LABELS)


def _device(device_id: int) -> dict:
    """Return a device the principal may see, or refuse."""
    device = store.device_by_id(get_db(), device_id)
    if device is None:
        raise not_found("device", device_id)
    auth.require_site(_me(), store.site_by_id(get_db(), device["site_id"]))
    return device


def _device_fields(device: dict) -> MultiDict:
    """Return a device's name and settings as form fields."""
    config = json.loads(device["config"] or "{}")
    fields = MultiDict({"name": device["name"]})
    if device["kind"] == "kiosk":
        from printer.dispatch import printer_settings

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
    return _page("device.html", status, device=device, site=site,
                 state=device_state(device, _now()), kinds=KIND_LABELS,
                 service_choices=[(s["code"], f"{s['name']} ({s['code']})")
                                  for s in store.list_services(db, site["id"])],
                 desk_choices=[(d["code"], d["name"]) for d in store.list_desks(db, site["id"])],
                 survey_desk_choices=[(str(d["id"]), d["name"])
                                      for d in store.list_desks(db, site["id"])],
                 profile_choices=[(p, p) for p in forms.printer_profiles()], **context)


@bp.get("/devices/<int:device_id>")
@require(*READERS)
def device_edit(device_id):
    """Show a device: state, last contact and settings."""
    return _device_page(_device(device_id))


@bp.post("/devices/<int:device_id>")
@require(*ADMIN)
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
        return _device_page(device, exc.status, fields=request.form, **_error(exc))
    before = json.loads(device["config"] or "{}")
    config = dict(before, **settings)
    with _write(db):
        store.rename_device(db, device["id"], name)
        store.set_device_config(db, device["id"], config)
        detail = _changes(before, settings)
        if name != device["name"]:
            detail["name"] = [device["name"], name]
        _audit("device.update", f"device:{device['id']}", detail)
    _announce([site], "devices")
    flash(_("Cambios guardados. El dispositivo los toma al recargar."))
    return redirect(url_for(".device_edit", device_id=device["id"]))


@bp.post("/devices/<int:device_id>/pair")
@require(*ADMIN)
def device_pair(device_id):
    """Give a device a new one-time pairing code (its current link keeps working until used)."""
    device = _device(device_id)
    if device["revoked_at"]:
        raise Conflict(_l("El dispositivo fue revocado: registre uno nuevo."), code="device_revoked")
    db = get_db()
    with _write(db):
        code = devices.new_pairing_code(db, device["id"], current_app.extensions["turnos.clock"],
                                        ttl_seconds=PAIRING_MINUTES * 60)
        _audit("device.pairing_code", f"device:{device['id']}")
    return _pairing_page(device, code)


@bp.post("/devices/<int:device_id>/revoke")
@require(*ADMIN)
def device_revoke(device_id):
    """Revoke a device: its token stops working at once, for pages, the API and sockets."""
    device = _device(device_id)
    devices.revoke(get_db(), device["id"], current_app.extensions["turnos.clock"], _me().user_id)
    flash(_("Dispositivo «%(n)s» revocado: ya no puede conectarse.", n=device["name"]))
    return redirect(url_for(".devices_list"))


@bp.post("/devices/<int:device_id>/print-test")
@require(*ADMIN)
def device_print_test(device_id):
    """Print a test page on a kiosk's printer and show what the printer answered."""
    from printer.dispatch import AGENT, printer_settings, virtual_dir
    from printer.jobs import deliver
    from printer.layout import render_test_page, render_test_page_png

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
    with _write(db):
        _audit("device.print_test", f"device:{device['id']}",
               {"printer": settings["printer"], "ok": outcome.ok, "error": outcome.error,
                "status": str(outcome.status)})
    flash(_("Página de prueba: %(m)s (estado de la impresora: %(s)s)", m=outcome.message,
            s=str(outcome.status)), "ok" if outcome.ok else "error")
    return redirect(url_for(".device_edit", device_id=device["id"]))


# --- audit -------------------------------------------------------------------------------

@bp.get("/audit")
@require(*ADMIN)
def audit():
    """Show who changed what and when, and the preferential marks made by officials."""
    db = get_db()
    action = (request.args.get("action") or "").strip()[:40]
    entries = []
    for row in store.search_audit(db, action, 300):
        row["detail"] = json.loads(row["detail"] or "{}")
        entries.append(row)
    marks = []
    for row in store.preferential_marks(db, 200):
        row["data"] = json.loads(row["data"] or "{}")
        marks.append(row)
    return _page("audit.html", entries=entries, marks=marks, action=action)


# --- layout (TOML) --------------------------------------------------------------------------

@bp.get("/layout")
@require(*READERS)
def layout_page():
    """Offer the TOML layout for download and, to administrators, an import form."""
    return _page("layout.html")


@bp.get("/layout/export")
@require(*READERS)
def layout_export():
    """Download every site, service, desk and category as a TOML layout."""
    text = layout.export(get_db())
    day = local_datetime(_now(), DEFAULT_TIMEZONE).strftime("%Y%m%d")
    return current_app.response_class(
        text, mimetype="application/toml",
        headers={"Content-Disposition": f'attachment; filename="turnos-layout-{day}.toml"'})


@bp.post("/layout/import")
@require(*ADMIN)
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
        _check_layout_prefixes(parsed)
    except DomainError as exc:
        return _page("layout.html", exc.status, **_error(exc))
    clock = current_app.extensions["turnos.clock"]
    with _write(db):
        counts = layout.apply(db, parsed, clock)
        _audit("layout.import", upload.filename[:80], counts)
    _announce(store.list_sites(db), "layout")
    flash(_("Diseño cargado: %(s)s sedes, %(v)s servicios, %(d)s módulos, %(c)s categorías.",
            s=counts["sites"], v=counts["services"], d=counts["desks"],
            c=counts["priority_categories"]))
    return redirect(url_for(".layout_page"))


def _check_layout_prefixes(parsed: dict) -> None:
    """Refuse a layout that would give one prefix to two services of a site (by code)."""
    db = get_db()
    for site in parsed["sites"]:
        existing = store.find_site(db, site["code"])
        if existing is None:
            continue
        prefixes = {s["code"]: s["prefix"] for s in store.list_services(db, existing["id"])}
        prefixes.update({s["code"]: s["prefix"] for s in site["services"]})
        seen = {}
        for service_code, prefix in prefixes.items():
            if prefix in seen:
                raise Invalid(_l("En la sede «%(s)s» los servicios «%(a)s» y «%(b)s» tendrían el "
                                 "mismo prefijo «%(p)s».", s=site["code"], a=seen[prefix],
                                 b=service_code, p=prefix), code="invalid_layout")
            seen[prefix] = service_code


def init_app(app) -> None:
    """Register the administration pages, their API and the retention purge of close-day."""
    from . import api, channels, retention

    app.register_blueprint(bp)
    api.init_app(app)
    channels.init_app(app)
    hooks = app.extensions.setdefault("turnos.close_day_hooks", [])
    if retention.purge_expired not in hooks:
        hooks.append(retention.purge_expired)
