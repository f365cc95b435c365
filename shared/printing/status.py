"""A kiosk printer's state as the staff see it, and the one path from a state to an alert.

Whatever tells the server about a printer (the outcome of a job, the remote
agent between jobs, the background polling of ``watch``) goes through
``note``: it stores the state, tells the staff when it changed
(``printer_status``) and raises the alert of a state that needs a person
(``alert``), unless the job's own alert already said it. The monitor reads
the same table (``ALERTS``) for the alerts it lists.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from .. import store
from ..clock import current_clock
from ..db import immediate
from ..events import announcer_for
from .connections import PrinterStatus

STATUS_MESSAGES = {
    "ok": _l("Impresora lista."),
    "near_end": _l("Queda poco papel."),
    "paper_out": _l("Sin papel."),
    "cover_open": _l("Tapa de la impresora abierta."),
    "cutter_error": _l("Error de la cuchilla de corte (papel atascado)."),
    "error": _l("La impresora reporta un error: revísela y reiníciela."),
    "offline": _l("Impresora apagada o desconectada."),
    "unknown": _l("La impresora no informa su estado."),
}

# Why a job failed, as the staff read it.
ERROR_LABELS = {
    "paper_out": _l("sin papel"),
    "cover_open": _l("la tapa de la impresora está abierta"),
    "printer_error": _l("la impresora reporta un error (papel atascado o cuchilla de corte)"),
    "unconfirmed": _l("la impresora no confirmó que imprimió el tiquete"),
    "busy": _l("la impresora estaba ocupada con otro trabajo"),
    "offline": _l("impresora apagada o desconectada"),
    "timeout": _l("la impresora no respondió a tiempo"),
    "refused": _l("la impresora rechazó la conexión"),
    "link_lost": _l("se perdió la conexión durante la impresión"),
    "bad_spec": _l("impresora mal configurada"),
    "unknown_error": _l("error inesperado de la impresora"),
    "interrupted": _l("el agente se interrumpió durante la impresión"),
    "no_agent": _l("el agente de impresión del kiosco no está conectado"),
}

# The states that need a person: (alert kind, level, message with the kiosk's name).
ALERTS = {
    "near_end": ("paper_near_end", "warning",
                 _l("Queda poco papel en la impresora de «%(device)s»: cambie el rollo pronto.")),
    "paper_out": ("printer_problem", "error", _l("La impresora de «%(device)s» no tiene papel.")),
    "cover_open": ("printer_problem", "error",
                   _l("La impresora de «%(device)s» tiene la tapa abierta.")),
    "cutter_error": ("printer_problem", "error",
                     _l("La impresora de «%(device)s» tiene un error de la cuchilla de corte "
                        "(papel atascado).")),
    "error": ("printer_problem", "error",
              _l("La impresora de «%(device)s» reporta un error: revísela y reiníciela.")),
    "offline": ("printer_problem", "error",
                _l("La impresora de «%(device)s» está apagada o desconectada.")),
}


def state_text(ok: bool, error: str | None, status: str) -> str:
    """Return how the staff read a printer's state after a job (the cause when it failed)."""
    if not ok and error:
        text = str(ERROR_LABELS.get(error, error))
        return text[:1].upper() + text[1:] + "."
    return str(STATUS_MESSAGES.get(status, STATUS_MESSAGES["unknown"]))


def alert_of(status: str, device_name: str) -> dict | None:
    """Return the alert a printer state raises (kind, level, message), or None when it needs nobody."""
    if status not in ALERTS:
        return None
    kind, level, message = ALERTS[status]
    return {"kind": kind, "level": level, "message": str(message % {"device": device_name})}


def note(app, db, device: dict, status: str, text: str, *, alerted: bool = False,
         extra: dict | None = None) -> None:
    """Store a printer's state; on a change tell the staff, and raise its alert unless ``alerted``.

    Call it inside the transaction of the act that learnt the state (a job's
    outcome) or alone: the staff hear it once that transaction commits.
    ``extra`` goes into the alert (the job and ticket it came from).
    """
    announce = announcer_for(db, app)
    with immediate(db):
        previous = store.printer_state(db, device["id"])
        store.set_printer_state(db, device["id"], status, text, current_clock(app).now_ms())
        if previous is not None and previous["status"] == status:
            return
        announce.printer_status(device["site_id"], {"device": device["id"], "device_name": device["name"],
                                                    "status": status, "message": text})
        alert = None if alerted else alert_of(status, device["name"])
        if alert is not None:
            announce.alert(device["site_id"], dict(extra or {}, **alert, site_id=device["site_id"],
                                                   device=device["id"], device_name=device["name"],
                                                   status=status))


def note_reported(app, db, device: dict, status) -> None:
    """Note a state reported between jobs (by an agent or the polling); ignore an unknown word."""
    if status not in set(PrinterStatus):
        return
    note(app, db, device, status, str(STATUS_MESSAGES[status]))
