"""Administration of the priority categories a kiosk offers."""

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
from .common import announce, audit_change, bp, changes, page, refusal, write

# --- priority categories -------------------------------------------------------------------

def _category_fields(category: dict | None) -> MultiDict:
    """Return a category's stored values as form fields."""
    if category is None:
        return MultiDict({"active": "1", "kiosk_visible": "1", "sort_order": "0"})
    return MultiDict({"code": category["code"], "label": category["label"],
                      "pictogram": category["pictogram"], "legal_note": category["legal_note"],
                      "kiosk_visible": "1" if category["kiosk_visible"] else "",
                      "active": "1" if category["active"] else "",
                      "sort_order": str(category["sort_order"]),
                      "min_age": str(category["min_age"] or "")})


def _categories_page(status: int = 200, **context):
    """Render the priority categories with the new-category form."""
    context.setdefault("fields", _category_fields(None))
    return page("categories.html", status, categories=store.list_categories(get_db()),
                 pictograms=rules.CATEGORY_PICTOGRAMS, **context)


@bp.get("/categories")
@require(*READERS)
def categories():
    """List the priority categories."""
    return _categories_page()


@bp.post("/categories")
@require(*ADMINS)
def category_create():
    """Create a priority category."""
    db = get_db()
    try:
        values = forms.category_values(request.form, creating=True)
        if store.find_category(db, values["code"]) is not None:
            raise Conflict(_l("Ya existe la categoría «%(c)s».", c=values["code"]), field="code")
    except DomainError as exc:
        return _categories_page(exc.status, fields=request.form, **refusal(exc))
    with write(db):
        store.upsert_category(db, values)
        audit_change("category.create", f"category:{values['code']}", {"label": values["label"]})
        announce(store.list_sites(db), "categories")
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
    return page("category.html", category=category, fields=_category_fields(category),
                 pictograms=rules.CATEGORY_PICTOGRAMS)


@bp.post("/categories/<code>")
@require(*ADMINS)
def category_update(code):
    """Change a priority category."""
    category = _category(code)
    try:
        values = forms.category_values(request.form, creating=False)
    except DomainError as exc:
        return page("category.html", exc.status, category=category, fields=request.form,
                     pictograms=rules.CATEGORY_PICTOGRAMS, **refusal(exc))
    db = get_db()
    with write(db):
        store.upsert_category(db, dict(values, code=category["code"]))
        audit_change("category.update", f"category:{category['code']}", changes(category, values))
        announce(store.list_sites(db), "categories")
    flash(_("Cambios guardados."))
    return redirect(url_for(".categories"))
