"""The officials' desk page: take a desk, call, serve, transfer, pause, all day long."""

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _

from shared import auth, desks, store
from shared.db import get_db
from shared.errors import Forbidden
from shared.queue import UNDO_NO_SHOW_SECONDS
from shared.web import STAFF

from . import api

bp = Blueprint("desk", __name__, url_prefix="/desk", template_folder="templates",
               static_folder="static", static_url_path="/static")

# Keyboard shortcut of each action (shown on its button); letters, so no browser key is taken.
# They fire only without modifier keys and outside form fields, and each user may turn them off.
SHORTCUTS = {"next": "L", "recall": "V", "start": "I", "finish": "F", "no_show": "N",
             "transfer": "T", "pause": "P", "leave": "S"}


def _strings() -> dict:
    """Return the texts the page's script shows, in the reader's language."""
    return {
        "offline": _("Sin conexión con el servidor. Reconectando…"),
        "back_online": _("Conexión restablecida."),
        "login_again": _("Su sesión expiró. Ingrese de nuevo."),
        "network": _("No se pudo contactar al servidor. Intente de nuevo."),
        "nobody": _("No hay turnos en espera para este módulo."),
        "idle": _("Disponible"),
        "paused": _("En pausa"),
        "called": _("Llamado"),
        "serving": _("En atención"),
        "no_ticket": _("Sin turno en curso"),
        "waited": _("Esperó"),
        "since": _("desde"),
        "called_ago": _("Llamado hace"),
        "recalls": _("llamados"),
        "walked": _("Tardó en llegar"),
        "serving_for": _("En atención hace"),
        "waiting_for": _("En espera hace"),
        "pause_label": _("Pausa"),
        "resume_label": _("Reanudar"),
        "taken_by": _("Ocupado por"),
        "free": _("Libre"),
        "yours": _("Suyo"),
        "take": _("Tomar"),
        "last_desk": _("Último módulo usado"),
        "call": _("Llamar"),
        "mark": _("Preferencial"),
        "transferred_from": _("Transferido desde"),
        "appointment": _("Cita de las"),
        "note": _("Nota"),
        "empty_line": _("Nadie en espera."),
        "done_finished": _("Turno %(code)s finalizado."),
        "done_no_show": _("Turno %(code)s marcado como no presentado."),
        "undo": _("Deshacer"),
        "undo_seconds": _("(%(n)s s)"),
        "done_undone": _("Se deshizo: el turno %(code)s sigue llamado en este módulo."),
        "shortcuts_on": _("Atajos de teclado activados."),
        "shortcuts_off": _("Atajos de teclado desactivados."),
        "done_transfer": _("Turno %(code)s transferido a %(service)s."),
        "done_called": _("Llamando el turno %(code)s."),
        "done_recalled": _("Turno %(code)s llamado de nuevo."),
        "done_marked": _("Turno %(code)s marcado como preferencial."),
        "done_paused": _("Módulo en pausa."),
        "done_resumed": _("Módulo disponible."),
        "reason_break": _("Descanso"),
        "reason_lunch": _("Almuerzo"),
        "reason_training": _("Capacitación"),
        "reason_other": _("Otro"),
        "result_finished": _("Atendido"),
        "result_no_show": _("No se presentó"),
        "result_transferred": _("Transferido"),
        "outcome_resolved": _("resuelto"),
        "outcome_pending": _("pendiente"),
        "none": _("—"),
    }


@bp.get("/")
def page():
    """Show the desk page to a logged-in official, supervisor or administrator."""
    principal = auth.current_principal()
    if principal is None or not principal.is_staff:
        return redirect(url_for("accounts.login", next=request.path))
    if principal.role not in STAFF:
        raise Forbidden(_("Su rol no permite esta acción."))
    db = get_db()
    categories = [{"code": c["code"], "label": c["label"]}
                  for c in store.list_categories(db, only_active=True)]
    preferences = api.preferences_of(db, principal.user_id)
    return render_template("desk/desk.html", strings=_strings(), shortcuts=SHORTCUTS,
                           categories=categories, pause_reasons=desks.PAUSE_REASONS,
                           preferences=preferences, undo_seconds=UNDO_NO_SHOW_SECONDS,
                           user={"id": principal.user_id, "username": principal.username,
                                 "role": principal.role})


def init_app(app) -> None:
    """Register the desk page and the desk endpoints of the API."""
    app.register_blueprint(bp)
    api.init_app(app)
