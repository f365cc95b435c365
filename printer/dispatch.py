"""Print jobs of issued tickets: record them, run them outside the request, report the outcome.

The ticket is committed first and its print job is a row in ``print_jobs``;
the job then runs in a background task (or goes to the kiosk's remote printer
agent), so a printer fault never costs a citizen a turn. The outcome reaches
the kiosk as ``print_result`` in its ``device:<id>`` room and the staff of the
site; a failure or a roll near its end also raises an ``alert`` to the staff.

A remote kiosk's printer is driven by ``python run.py printer-agent``
(``printer/agent.py``). The server hands each job to the agent's socket once
(status ``printing``), re-offers the jobs still unanswered when the agent
connects again, and records the first answer; the agent keeps its own record,
so a job it already printed is answered again, never printed again.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import secrets
import threading
from pathlib import Path

from flask import current_app, request
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_socketio import join_room

from shared import events, media, store
from shared.db import connection, get_db, immediate
from shared.errors import Conflict, Invalid, not_found
from shared.events import socketio
from shared.timefmt import iso, ticket_time

from .connections import PrinterStatus, parse_spec
from .jobs import MESSAGES, deliver
from .layout import PAPER, TicketContent, render_escpos, render_png

log = logging.getLogger(__name__)

AGENT = "agent"
DEFAULTS = {"printer": "virtual:", "paper": "80mm", "profile": "TM-T20II", "codepage": "CP858",
            "native_qr": True}
JOB_STATES = ("pending", "printing", "printed", "failed")
# An agent that comes back later than this does not print the old jobs: the
# citizen has long left the kiosk with the ticket on screen.
REOFFER_SECONDS = 120
# A job still without an outcome after this long is listed among the failures.
STALE_SECONDS = 120

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

AGENT_MESSAGES = {
    "no_agent": MESSAGES["offline"],
    "stale": MESSAGES["timeout"],
}


# --- settings ----------------------------------------------------------------------

def printer_settings(config: dict | None) -> dict:
    """Return a kiosk's printer settings: its device config over the defaults."""
    config = config or {}
    return {key: config.get(key, default) for key, default in DEFAULTS.items()}


def validate_settings(values: dict) -> dict:
    """Check printer settings an administrator sends; return them, or raise Invalid."""
    from escpos import capabilities

    out = {}
    if values.get("printer") is not None:
        spec = values["printer"].strip()
        if spec != AGENT:
            try:
                parse_spec(spec)
            except ValueError:
                raise Invalid(_l("Impresora no válida: use virtual:, tcp:HOST:9100, serial:/dev/ttyUSB0, "
                                 "usb:VID:PID, file:/dev/usb/lp0, agent o none."),
                              code="invalid_printer", field="printer") from None
        out["printer"] = spec
    if values.get("paper") is not None:
        if values["paper"] not in PAPER:
            raise Invalid(_l("Papel no válido: use 80mm o 58mm."), code="invalid_paper", field="paper")
        out["paper"] = values["paper"]
    profile_name = values.get("profile")
    if profile_name is not None:
        try:
            capabilities.get_profile(profile_name)
        except (KeyError, ValueError):
            raise Invalid(_l("Perfil de impresora desconocido: «%(p)s».", p=profile_name),
                          code="invalid_profile", field="profile") from None
        out["profile"] = profile_name
    if values.get("codepage") is not None:
        profile = capabilities.get_profile(profile_name or DEFAULTS["profile"])
        if values["codepage"] not in profile.get_code_pages():
            raise Invalid(_l("Página de códigos no disponible en ese perfil: «%(c)s».",
                             c=values["codepage"]), code="invalid_codepage", field="codepage")
        out["codepage"] = values["codepage"]
    if values.get("native_qr") is not None:
        out["native_qr"] = bool(values["native_qr"])
    return out


def virtual_dir(app) -> Path:
    """Return the folder where the virtual printer keeps each ticket's bytes and preview."""
    return Path(app.config["INSTANCE"]) / "tickets"


def job_name(job: dict) -> str:
    """Return the file-safe name of a job (also its virtual printer file name)."""
    code = json.loads(job["content"]).get("code", "")
    return f"{job['id']:06d}-{code}" if code else f"{job['id']:06d}"


def device_room(device_id: int) -> str:
    """Return the room of one paired device's sockets."""
    return f"device:{device_id}"


def agent_room(device_id: int) -> str:
    """Return the room of a kiosk's remote printer agent."""
    return f"agent:{device_id}"


# --- content --------------------------------------------------------------------------

def ticket_content(engine, ticket: dict, status_url: str, config: dict | None = None, *,
                   body: dict | None = None) -> dict:
    """Return what is printed on a ticket, as TicketContent fields, with today's estimate.

    ``body`` is the ticket's API shape with its estimate when the caller has it
    already (the estimate simulates the queue: it is worth computing once).
    """
    config = config or {}
    body = body or engine.with_estimate(ticket)
    site = engine.lookup.site(ticket["site_id"])
    wait = body.get("estimated_wait_seconds")
    content = {
        "entity_name": site["entity_name"] or site["name"],
        "site_name": site["name"] if site["entity_name"] else "",
        "service_name": body["service_name"],
        "code": ticket["code"],
        "priority_label": body["priority_label"],
        "issued_at": ticket_time(ticket["issued_at"], site["timezone"]),
        "ahead": int(body.get("ahead") or 0),
        # "~0 min" reads like a promise; with nobody ahead the line is left out.
        "estimated_wait_minutes": int(math.ceil(wait / 60)) if wait else None,
        "status_url": status_url,
    }
    span = body.get("estimated_wait_range_seconds")
    if wait and span:
        content["estimated_wait_range_minutes"] = (int(span[0] // 60), int(math.ceil(span[1] / 60)))
    if isinstance(config.get("footer"), str) and config["footer"].strip():
        content["footer"] = config["footer"].strip()[:200]
    logo = _logo(engine.db, site)
    if logo:
        content["logo_path"] = logo
    return content


def _logo(db, site: dict) -> str | None:
    """Return this machine's copy of the site's logo (kept in the database), or None."""
    reference = site.get("logo_path")
    if not reference:
        return None
    if media.is_media(reference):
        copy = media.local_copy(current_app.config["INSTANCE"], db, reference[len(media.PREFIX):])
        return str(copy) if copy else None
    path = Path(reference)  # a logo kept on disk before logos moved to the database
    if not path.is_absolute():
        path = Path(current_app.config["INSTANCE"]) / path
    return str(path) if path.is_file() else None


def create_job(db, *, ticket: dict, device_id: int | None, settings: dict, content: dict, now_ms: int,
               reprint_of: int | None = None, requested_by: int | None = None) -> dict:
    """Record a pending print job for a ticket (inside the caller's transaction) and return it."""
    return store.insert_print_job(db, {
        "uid": secrets.token_hex(12), "ticket_id": ticket["id"], "site_id": ticket["site_id"],
        "device_id": device_id, "status": "pending", "printer": settings["printer"],
        "paper": settings["paper"], "profile": settings["profile"], "codepage": settings["codepage"],
        "native_qr": int(bool(settings["native_qr"])),
        "content": json.dumps(content, ensure_ascii=False), "reprint_of": reprint_of,
        "requested_by": requested_by, "created_at": now_ms, "updated_at": now_ms,
    })


def render(job: dict, *, preview: bool = False) -> tuple[bytes, bytes | None]:
    """Return a job's ESC/POS bytes and, when asked, its PNG preview; raise ValueError on bad settings."""
    content = TicketContent(**json.loads(job["content"]))
    data = render_escpos(content, paper=job["paper"], profile=job["profile"], codepage=job["codepage"],
                         native_qr=bool(job["native_qr"]))
    return data, render_png(content, paper=job["paper"]) if preview else None


def job_json(job: dict, tz: str | None = None) -> dict:
    """Return the public shape of a print job (times in the site's zone)."""
    return {"id": job["id"], "ticket": job["ticket_id"], "device": job["device_id"],
            "status": job["status"], "printer": _printer_kind(job["printer"]),
            "attempts": job["attempts"], "error": job["error"], "message": job["message"],
            "printer_status": job["printer_status"], "warning": job["warning"],
            "reprint_of": job["reprint_of"],
            "created_at": iso(job["created_at"], tz), "updated_at": iso(job["updated_at"], tz)}


def _printer_kind(spec: str) -> str:
    """Return the kind of a printer spec (virtual, tcp, serial, usb, file, none, agent)."""
    return spec if spec in (AGENT, "none") else spec.partition(":")[0]


# --- running jobs ---------------------------------------------------------------------

class _Tasks:
    """Counts the print tasks under way, so tests and benchmarks can wait until none is."""

    def __init__(self):
        self.running = 0
        self.changed = threading.Condition()

    def add(self) -> None:
        """Count one more task."""
        with self.changed:
            self.running += 1

    def done(self) -> None:
        """Count one task as finished."""
        with self.changed:
            self.running -= 1
            self.changed.notify_all()


_tasks = _Tasks()


def wait_idle(timeout: float = 10.0) -> bool:
    """Wait until no print task is under way; return False if some still are after timeout."""
    with _tasks.changed:
        return _tasks.changed.wait_for(lambda: _tasks.running == 0, timeout)


def submit(app, job: dict) -> None:
    """Run a recorded job outside the request: on a local printer or through the kiosk's agent."""
    _tasks.add()
    target = _offer_task if job["printer"] == AGENT else _print_task
    try:
        socketio.start_background_task(target, app, job["id"])
    except Exception:
        # The ticket is committed and valid; the job stays pending and, after a while,
        # is listed among the failures for a supervisor to reprint.
        _tasks.done()
        log.exception("print job %s could not be started", job["id"])


def _print_task(app, job_id: int) -> None:
    """Print one job on the kiosk's own printer and record the outcome."""
    try:
        with app.app_context(), force_locale("es"), connection(app) as db:
            clock = app.extensions["turnos.clock"]
            job = store.claim_print_job(db, job_id, clock.now_ms())
            if job is None:
                return
            record_outcome(app, db, job, print_locally(app, job))
    except Exception:
        log.exception("print job %s could not be recorded", job_id)
    finally:
        _tasks.done()


def print_locally(app, job: dict) -> dict:
    """Render and send one job to the printer in its spec; return the outcome as a dict."""
    kind = _printer_kind(job["printer"])
    try:
        data, png = render(job, preview=kind == "virtual")
    except (ValueError, KeyError) as exc:
        return _failure("bad_spec", MESSAGES["bad_spec"], detail=str(exc))
    outcome = deliver(job["printer"], data, job_id=job_name(job), png=png,
                      virtual_dir=str(virtual_dir(app)),
                      timeout=float(app.config.get("PRINT_TIMEOUT_SECONDS") or 5.0))
    return {"ok": outcome.ok, "status": str(outcome.status), "error": outcome.error,
            "message": outcome.message, "warning": outcome.warning, "detail": outcome.detail,
            "bytes_sent": outcome.bytes_sent, "elapsed_ms": round(outcome.elapsed_ms, 1)}


def _failure(error: str, message: str, *, status: str = PrinterStatus.UNKNOWN.value,
             detail: str | None = None) -> dict:
    """Return the outcome of a job that never reached a printer."""
    return {"ok": False, "status": status, "error": error, "message": message, "warning": None,
            "detail": detail, "bytes_sent": 0, "elapsed_ms": None}


def record_outcome(app, db, job: dict, outcome: dict) -> dict | None:
    """Store a job's first outcome and tell the kiosk and the staff; None if it already had one."""
    clock = app.extensions["turnos.clock"]
    announcer = app.extensions.get("turnos.announcer") or events.NullAnnouncer()
    now = clock.now_ms()
    status = outcome.get("status") or PrinterStatus.UNKNOWN.value
    values = {"status": "printed" if outcome["ok"] else "failed", "error": outcome.get("error"),
              "message": outcome.get("message") or "", "printer_status": status,
              "warning": outcome.get("warning"), "detail": outcome.get("detail"),
              "bytes_sent": int(outcome.get("bytes_sent") or 0),
              "elapsed_ms": outcome.get("elapsed_ms"), "updated_at": now}
    device = store.device_by_id(db, job["device_id"]) if job["device_id"] else None
    with immediate(db):
        done = store.finish_print_job(db, job["id"], values)
        if done is None:
            return None
        previous = store.printer_state(db, device["id"]) if device else None
        if device:
            store.set_printer_state(db, device["id"], status, state_text(outcome["ok"], done["error"], status),
                                    now)
    ticket = store.ticket_by_id(db, job["ticket_id"])
    payload = {"ticket": ticket["id"], "code": ticket["code"], "job": done["id"],
               "device": done["device_id"], "ok": bool(outcome["ok"]), "status": status,
               "error": done["error"], "message": done["message"], "warning": done["warning"]}
    staff = events.staff_room(job["site_id"])
    if device:
        announcer.emit(events.PRINT_RESULT, payload, device_room(device["id"]))
    announcer.emit(events.PRINT_RESULT, payload, staff)
    device_name = device["name"] if device else ""
    base = {"site_id": job["site_id"], "device": done["device_id"], "device_name": device_name,
            "ticket": ticket["id"], "code": ticket["code"], "job": done["id"]}
    if not outcome["ok"] and done["error"] == "unconfirmed":
        announcer.emit(events.ALERT, dict(base, kind="print_unconfirmed", level="warning",
                                          error=done["error"], status=status,
                                          message=str(_l("La impresora de «%(device)s» no confirmó el turno "
                                                         "%(code)s: revise que haya salido; si no, "
                                                         "reimprímalo.", code=ticket["code"],
                                                         device=device_name or "-"))), staff)
    elif not outcome["ok"]:
        reason = ERROR_LABELS.get(done["error"] or "", done["error"] or "")
        announcer.emit(events.ALERT, dict(base, kind="print_failed", level="error",
                                          error=done["error"], status=status,
                                          message=str(_l("No se imprimió el turno %(code)s en «%(device)s»: "
                                                         "%(reason)s. El turno es válido; puede reimprimirlo.",
                                                         code=ticket["code"], device=device_name or "-",
                                                         reason=reason))), staff)
    was = previous["status"] if previous else None
    if device and status != was:
        announcer.emit(events.PRINTER_STATUS, {"device": device["id"], "device_name": device_name,
                                               "status": status,
                                               "message": state_text(outcome["ok"], done["error"], status)},
                       staff)
        if status == PrinterStatus.NEAR_END.value:
            announcer.emit(events.ALERT, dict(base, kind="paper_near_end", level="warning",
                                              status=status, error=None,
                                              message=str(_l("Queda poco papel en la impresora de «%(device)s»: "
                                                             "cambie el rollo pronto.", device=device_name))),
                           staff)
    return done


# --- reprint -----------------------------------------------------------------------------

def reprint(app, db, engine, ticket: dict, *, device_id: int | None, user_id: int | None,
            status_url: str) -> dict:
    """Queue a new print of a ticket still waiting or called; return the new job."""
    if ticket["status"] not in ("waiting", "called"):
        raise Conflict(_l("El turno %(code)s ya no está en espera: no se reimprime.", code=ticket["code"]),
                       code="ticket_closed")
    jobs = store.ticket_print_jobs(db, ticket["id"])
    if device_id is None:
        device_id = next((j["device_id"] for j in reversed(jobs) if j["device_id"]), None) \
            or ticket["device_id"]
    device = store.device_by_id(db, device_id) if device_id else None
    if device is None or device["kind"] != "kiosk" or device["revoked_at"]:
        raise Conflict(_l("No hay un kiosco con impresora para reimprimir el turno %(code)s.",
                          code=ticket["code"]), code="no_printer")
    if device["site_id"] != ticket["site_id"]:
        raise Invalid(_l("Ese kiosco es de otra sede."), code="wrong_site")
    config = json.loads(device["config"] or "{}")
    clock = app.extensions["turnos.clock"]
    content = ticket_content(engine, ticket, status_url, config)
    with immediate(db):
        job = create_job(db, ticket=ticket, device_id=device["id"], settings=printer_settings(config),
                         content=content, now_ms=clock.now_ms(),
                         reprint_of=jobs[-1]["id"] if jobs else None, requested_by=user_id)
        store.audit(db, clock.now_ms(), user_id, "ticket.reprint", f"ticket:{ticket['id']}",
                    {"job": job["id"], "device": device["id"]})
    submit(app, job)
    return job


# --- the remote printer agent, server side --------------------------------------------------

# This process's printer-agent sockets, per kiosk (its presence is shared with the others).
_local_agents: dict[int, set[str]] = {}


def agent_online(device_id: int) -> bool:
    """Tell whether a kiosk's printer agent is connected to any server process."""
    return current_app.extensions["turnos.cluster"].is_present(agent_room(device_id))


def _agent_arrived(device_id: int) -> None:
    """Note that this socket is the printer agent of a kiosk, for every process to know."""
    _local_agents.setdefault(device_id, set()).add(request.sid)
    current_app.extensions["turnos.cluster"].mark_present(agent_room(device_id))


def _agent_left() -> None:
    """Forget a printer agent's socket when it disconnects (a disconnect hook)."""
    device_id = request.environ.get("turnos.agent_device")
    sids = _local_agents.get(device_id)
    if device_id is None or sids is None:
        return
    sids.discard(request.sid)
    if not sids:
        del _local_agents[device_id]
        current_app.extensions["turnos.cluster"].mark_absent(agent_room(device_id))


events.disconnect_hooks.append(_agent_left)


def _offer_task(app, job_id: int) -> None:
    """Hand a new job to the kiosk's agent, or fail it when no agent comes within the timeout."""
    try:
        with app.app_context(), force_locale("es"):
            with connection(app) as db:
                job = store.print_job_by_id(db, job_id)
                if agent_online(job["device_id"]):
                    offer(app, db, job)
                    return
            # The agent may be reconnecting (a server restart): it gets the job on arrival.
            socketio.sleep(float(app.config.get("PRINT_TIMEOUT_SECONDS") or 5.0))
            with connection(app) as db:
                job = store.print_job_by_id(db, job_id)
                if job["status"] == "pending":
                    record_outcome(app, db, job, _failure("no_agent", AGENT_MESSAGES["no_agent"],
                                                          status=PrinterStatus.OFFLINE.value))
    except Exception:
        log.exception("print job %s could not be offered to its agent", job_id)
    finally:
        _tasks.done()


def offer(app, db, job: dict) -> bool:
    """Mark a job as handed out and send it to the kiosk's agent; False if it is already done."""
    clock = app.extensions["turnos.clock"]
    try:
        data, _png = render(job)
    except (ValueError, KeyError) as exc:
        record_outcome(app, db, job, _failure("bad_spec", MESSAGES["bad_spec"], detail=str(exc)))
        return False
    claimed = store.claim_print_job(db, job["id"], clock.now_ms(), from_states=("pending", "printing"))
    if claimed is None:
        return False
    socketio.emit(events.PRINT_JOB, {"job": claimed["uid"], "name": job_name(claimed),
                                     "ticket": claimed["ticket_id"],
                                     "code": json.loads(claimed["content"]).get("code"),
                                     "attempt": claimed["attempts"],
                                     "data": base64.b64encode(data).decode("ascii")},
                  to=agent_room(claimed["device_id"]))
    return True


def _socket_kiosk():
    """Return the kiosk principal of the current socket, or None."""
    principal = request.environ.get("turnos.principal")
    return principal if principal is not None and principal.role == "kiosk" else None


@socketio.on(events.AGENT_READY)
def on_agent_ready(data=None):
    """Accept a kiosk's printer agent: join its room, note its status, re-offer unanswered jobs."""
    principal = _socket_kiosk()
    if principal is None:
        return {"ok": False, "error": "forbidden"}
    app = current_app._get_current_object()
    db = get_db()
    device = store.device_by_id(db, principal.device_id)
    if printer_settings(json.loads(device["config"] or "{}"))["printer"] != AGENT:
        return {"ok": False, "error": "not_agent",
                "message": "This kiosk does not print through an agent: set its printer to 'agent'."}
    join_room(agent_room(device["id"]))
    request.environ["turnos.agent"] = True
    request.environ["turnos.agent_device"] = device["id"]
    _agent_arrived(device["id"])
    data = data if isinstance(data, dict) else {}
    with force_locale("es"):
        note_status(app, db, device, data.get("status"), data.get("message"))
        clock = app.extensions["turnos.clock"]
        offered = 0
        for job in store.open_print_jobs(db, device["id"]):
            if clock.now_ms() - job["created_at"] > REOFFER_SECONDS * 1000:
                record_outcome(app, db, job, _failure("timeout", AGENT_MESSAGES["stale"],
                                                      detail="the agent came back too late"))
            elif offer(app, db, job):
                offered += 1
    return {"ok": True, "device": device["id"], "offered": offered}


@socketio.on(events.PRINT_RESULT)
def on_print_result(data=None):
    """Record an agent's answer to a job (answering the same job twice changes nothing)."""
    principal = _socket_kiosk()
    if principal is None or not request.environ.get("turnos.agent"):
        return {"ok": False, "error": "forbidden"}
    if not isinstance(data, dict) or not isinstance(data.get("job"), str) \
            or not isinstance(data.get("ok"), bool):
        return {"ok": False, "error": "invalid"}
    db = get_db()
    job = store.print_job_by_uid(db, data["job"][:64])
    if job is None or job["device_id"] != principal.device_id:
        return {"ok": False, "error": "unknown_job"}
    status = data.get("status") if data.get("status") in set(PrinterStatus) else "unknown"
    outcome = {"ok": data["ok"], "status": status, "error": _short(data.get("error")),
               "message": _short(data.get("message"), 300) or "",
               "warning": _short(data.get("warning")), "detail": _short(data.get("detail"), 300),
               "bytes_sent": data.get("bytes_sent") if isinstance(data.get("bytes_sent"), int) else 0,
               "elapsed_ms": data.get("elapsed_ms") if isinstance(data.get("elapsed_ms"), (int, float)) else None}
    if not outcome["ok"] and not outcome["error"]:
        outcome["error"] = "unknown_error"
    with force_locale("es"):
        record_outcome(current_app._get_current_object(), db, job, outcome)
    return {"ok": True}


@socketio.on(events.PRINTER_STATUS)
def on_printer_status(data=None):
    """Note the printer status an agent reports between jobs."""
    principal = _socket_kiosk()
    if principal is None or not request.environ.get("turnos.agent") or not isinstance(data, dict):
        return {"ok": False, "error": "forbidden"}
    db = get_db()
    with force_locale("es"):
        note_status(current_app._get_current_object(), db,
                    store.device_by_id(db, principal.device_id), data.get("status"), data.get("message"))
    return {"ok": True}


def _short(value, limit: int = 64):
    """Return a text value cut to a limit, or None when it is not text."""
    return value[:limit] if isinstance(value, str) else None


def state_text(ok: bool, error: str | None, status: str) -> str:
    """Return how the staff read a printer's state after a job (the cause when it failed)."""
    if not ok and error:
        text = str(ERROR_LABELS.get(error, error))
        return text[:1].upper() + text[1:] + "."
    return str(STATUS_MESSAGES.get(status, STATUS_MESSAGES["unknown"]))


def note_status(app, db, device: dict, status, message=None) -> None:
    """Store a printer status reported between jobs and alert the staff when it gets worse."""
    if status not in set(PrinterStatus):
        return
    clock = app.extensions["turnos.clock"]
    announcer = app.extensions.get("turnos.announcer") or events.NullAnnouncer()
    text = str(STATUS_MESSAGES[status])
    with immediate(db):
        previous = store.printer_state(db, device["id"])
        store.set_printer_state(db, device["id"], status, text, clock.now_ms())
    if previous is not None and previous["status"] == status:
        return
    staff = events.staff_room(device["site_id"])
    announcer.emit(events.PRINTER_STATUS, {"device": device["id"], "device_name": device["name"],
                                           "status": status, "message": text}, staff)
    alerts = {"near_end": ("paper_near_end", "warning",
                           _l("Queda poco papel en la impresora de «%(device)s»: cambie el rollo pronto.",
                              device=device["name"])),
              "paper_out": ("printer_problem", "error",
                            _l("La impresora de «%(device)s» no tiene papel.", device=device["name"])),
              "cover_open": ("printer_problem", "error",
                             _l("La impresora de «%(device)s» tiene la tapa abierta.", device=device["name"])),
              "cutter_error": ("printer_problem", "error",
                               _l("La impresora de «%(device)s» tiene un error de la cuchilla de corte "
                                  "(papel atascado).", device=device["name"])),
              "error": ("printer_problem", "error",
                        _l("La impresora de «%(device)s» reporta un error: revísela y reiníciela.",
                           device=device["name"])),
              "offline": ("printer_problem", "error",
                          _l("La impresora de «%(device)s» está apagada o desconectada.",
                             device=device["name"]))}
    if status in alerts:
        kind, level, text = alerts[status]
        announcer.emit(events.ALERT, {"kind": kind, "level": level, "site_id": device["site_id"],
                                      "device": device["id"], "device_name": device["name"],
                                      "status": status, "message": str(text)}, staff)


def stale_before(app) -> int:
    """Return the time before which a job without an outcome counts as a failure."""
    return app.extensions["turnos.clock"].now_ms() - STALE_SECONDS * 1000


def find_job(db, job_id: int) -> dict:
    """Return a print job by id, or raise not found."""
    job = store.print_job_by_id(db, job_id)
    if job is None:
        raise not_found("print_job", job_id)
    return job
