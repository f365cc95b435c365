"""Administration of staff accounts: roles, sites, passwords, held-back logins."""

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from shared import auth, devices, store
from shared.db import get_db, on_commit
from shared.errors import Conflict, DomainError, not_found
from shared.web import ADMINS, current_clock, require

from . import forms
from .common import audit_change, bp, changes, now, page, refusal, write

# --- users ---------------------------------------------------------------------------------

def _users_page(status: int = 200, **context):
    """Render the users with the new-user form."""
    db = get_db()
    context.setdefault("fields", MultiDict({"role": "official"}))
    site_names = {s["id"]: s["name"] for s in store.list_sites(db)}
    held = {row["username"] for row in store.held_back_logins(db, now())}
    return page("users.html", status, users=store.list_users(db), site_options=_site_options(),
                 user_sites=store.user_sites_map(db), site_names=site_names, now=now(),
                 held=held, **context)


def _site_options() -> list[tuple[int, str]]:
    """Return (id, name) of every site, for the sites a user works in."""
    return [(s["id"], s["name"]) for s in store.list_sites(get_db())]


@bp.get("/users")
@require(*ADMINS)
def users():
    """List the staff accounts."""
    return _users_page()


@bp.post("/users")
@require(*ADMINS)
def user_create():
    """Create a staff account."""
    db = get_db()
    clock = current_clock()
    try:
        values, site_ids = forms.user_values(request.form, store.list_sites(db), creating=True)
        with write(db):
            user_id = auth.create_user(db, values["username"], values["password"], values["role"],
                                       clock, display_name=values["display_name"],
                                       site_ids=site_ids)
            audit_change("user.create", f"user:{values['username']}",
                   {"role": values["role"], "sites": site_ids})
    except DomainError as exc:
        fields = MultiDict(request.form)
        fields.poplist("password")
        fields.poplist("password2")
        return _users_page(exc.status, fields=fields, **refusal(exc))
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
    since = now() - current_app.config["LOGIN_LOCKOUT_SECONDS"] * 1000
    return page("user.html", status, user=user, site_options=_site_options(), now=now(),
                 failures=store.login_failures_of_user(db, user["username"], since), **context)


@bp.get("/users/<int:user_id>")
@require(*ADMINS)
def user_edit(user_id):
    """Show a staff account."""
    return _user_page(_user(user_id))


def _keep_an_admin(user: dict, role: str, active: int) -> None:
    """Refuse to leave the instance without an active administrator."""
    if (user["role"] == "admin" and user["active"] and (role != "admin" or not active)
            and store.count_active_admins(get_db()) <= 1):
        raise Conflict(_l("Debe quedar al menos un administrador activo."), field="role")


@bp.post("/users/<int:user_id>")
@require(*ADMINS)
def user_update(user_id):
    """Change a user's name, role, sites or state; disabling ends their sessions at once."""
    user = _user(user_id)
    db = get_db()
    try:
        values, site_ids = forms.user_values(request.form, store.list_sites(db), creating=False)
        _keep_an_admin(user, values["role"], values["active"])
    except DomainError as exc:
        return _user_page(user, exc.status, fields=request.form, **refusal(exc))
    before_sites = store.user_site_ids(db, user["id"])
    with write(db):
        store.update_user(db, user["id"], values)
        store.set_user_sites(db, user["id"], site_ids)
        detail = changes(user, values)
        if sorted(before_sites) != site_ids:
            detail["sites"] = [sorted(before_sites), site_ids]
        if not values["active"]:
            store.revoke_user_tokens(db, user["id"], now())
        audit_change("user.disable" if user["active"] and not values["active"] else "user.update",
                     f"user:{user['username']}", detail)
        if not values["active"] or values["role"] != user["role"] or "sites" in detail:
            # Sockets keep the role and sites they connected with: make them reconnect.
            on_commit(db, lambda: devices.disconnect_sockets(user_id=user["id"]))
    flash(_("Cambios guardados."))
    return redirect(url_for(".user_edit", user_id=user["id"]))


@bp.post("/users/<int:user_id>/password")
@require(*ADMINS)
def user_password(user_id):
    """Set a new password: clears a lockout and ends the user's sessions and API tokens."""
    user = _user(user_id)
    try:
        password = forms.password_pair(request.form)
    except DomainError as exc:
        return _user_page(user, exc.status, **refusal(exc))
    db = get_db()
    held = [r for r in store.login_failures_of_user(db, user["username"], 0)
            if r["blocked_until"] and r["blocked_until"] > now()]
    with write(db):
        store.set_password(db, user["id"], auth.hash_password(password))
        store.revoke_user_tokens(db, user["id"], now())
        store.clear_login_failures_of_user(db, user["username"])
        audit_change("user.password_reset", f"user:{user['username']}", {"was_held_back": bool(held)})
        on_commit(db, lambda: devices.disconnect_sockets(user_id=user["id"]))
    flash(_("Contraseña cambiada. Entréguela a la persona por un medio seguro."))
    return redirect(url_for(".user_edit", user_id=user["id"]))


@bp.post("/users/<int:user_id>/unlock")
@require(*ADMINS)
def user_unlock(user_id):
    """Let every source held back after failed logins try this account again (password kept)."""
    user = _user(user_id)
    db = get_db()
    with write(db):
        store.unlock_user(db, user["id"])
        cleared = store.clear_login_failures_of_user(db, user["username"])
        audit_change("user.unlock", f"user:{user['username']}", {"sources": cleared})
    flash(_("Cuenta desbloqueada."))
    return redirect(url_for(".user_edit", user_id=user["id"]))
