"""Print jobs of issued tickets: their content, their record, and their outcome told once.

The ticket is committed first and its print job is a row in ``print_jobs``,
written in the same transaction; the job then runs outside the request
(``dispatch``), so a printer fault never costs a citizen a turn. The first
outcome is stored and reaches the kiosk (``print_result`` in its device
room) and the site's staff once it commits; a failure raises an ``alert``,
and the printer's new state goes through ``status.note``.
"""

from __future__ import annotations

import json
import math
import secrets
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l

from .. import media, store
from ..clock import current_clock
from ..db import immediate
from ..errors import not_found
from ..events import announcer_for
from ..timefmt import iso, ticket_time
from . import status as printer_status
from .connections import PrinterStatus
from .delivery import MESSAGES, deliver
from .layout import TicketContent, render_escpos, render_png
from .settings import printer_kind

JOB_STATES = ("pending", "printing", "printed", "failed")
# A job still without an outcome after this long is listed among the failures.
STALE_SECONDS = 120


def virtual_dir(app) -> Path:
    """Return the folder where the virtual printer keeps each ticket's bytes and preview."""
    return Path(app.config["INSTANCE"]) / "tickets"


def job_name(job: dict) -> str:
    """Return the file-safe name of a job (also its virtual printer file name)."""
    code = json.loads(job["content"]).get("code", "")
    return f"{job['id']:06d}-{code}" if code else f"{job['id']:06d}"


# --- content and record ------------------------------------------------------------------

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
            "status": job["status"], "printer": printer_kind(job["printer"]),
            "attempts": job["attempts"], "error": job["error"], "message": job["message"],
            "printer_status": job["printer_status"], "warning": job["warning"],
            "reprint_of": job["reprint_of"],
            "created_at": iso(job["created_at"], tz), "updated_at": iso(job["updated_at"], tz)}


# --- printing and its outcome ----------------------------------------------------------

def print_locally(app, job: dict) -> dict:
    """Render and send one job to the printer in its spec; return the outcome as a dict."""
    kind = printer_kind(job["printer"])
    try:
        data, png = render(job, preview=kind == "virtual")
    except (ValueError, KeyError) as exc:
        return failure("bad_spec", MESSAGES["bad_spec"], detail=str(exc))
    outcome = deliver(job["printer"], data, job_id=job_name(job), png=png,
                      virtual_dir=str(virtual_dir(app)),
                      timeout=float(app.config.get("PRINT_TIMEOUT_SECONDS") or 5.0))
    return {"ok": outcome.ok, "status": str(outcome.status), "error": outcome.error,
            "message": outcome.message, "warning": outcome.warning, "detail": outcome.detail,
            "bytes_sent": outcome.bytes_sent, "elapsed_ms": round(outcome.elapsed_ms, 1)}


def failure(error: str, message: str, *, status: str = PrinterStatus.UNKNOWN.value,
            detail: str | None = None) -> dict:
    """Return the outcome of a job that never reached a printer."""
    return {"ok": False, "status": status, "error": error, "message": message, "warning": None,
            "detail": detail, "bytes_sent": 0, "elapsed_ms": None}


def record_outcome(app, db, job: dict, outcome: dict) -> dict | None:
    """Store a job's first outcome and tell the kiosk and the staff; None if it already had one."""
    announce = announcer_for(db, app)
    now = current_clock(app).now_ms()
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
        ticket = store.ticket_by_id(db, job["ticket_id"])
        announce.print_result(job["site_id"], device and device["id"], {
            "ticket": ticket["id"], "code": ticket["code"], "job": done["id"],
            "device": done["device_id"], "ok": bool(outcome["ok"]), "status": status,
            "error": done["error"], "message": done["message"], "warning": done["warning"]})
        device_name = device["name"] if device else ""
        base = {"site_id": job["site_id"], "device": done["device_id"], "device_name": device_name,
                "ticket": ticket["id"], "code": ticket["code"], "job": done["id"]}
        alert = _failure_alert(done, ticket["code"], device_name, status)
        if alert is not None:
            announce.alert(job["site_id"], dict(base, **alert))
        if device:
            # The job's own alert (if any) already tells the staff why: the state adds none.
            printer_status.note(app, db, device, status,
                                printer_status.state_text(outcome["ok"], done["error"], status),
                                alerted=not outcome["ok"],
                                extra={"ticket": ticket["id"], "code": ticket["code"],
                                       "job": done["id"], "error": None})
    return done


def _failure_alert(done: dict, code: str, device_name: str, status: str) -> dict | None:
    """Return the alert of a job that failed or was not confirmed, or None when it printed."""
    if done["status"] != "failed":
        return None
    if done["error"] == "unconfirmed":
        return {"kind": "print_unconfirmed", "level": "warning", "error": done["error"],
                "status": status,
                "message": str(_l("La impresora de «%(device)s» no confirmó el turno %(code)s: "
                                  "revise que haya salido; si no, reimprímalo.", code=code,
                                  device=device_name or "-"))}
    reason = printer_status.ERROR_LABELS.get(done["error"] or "", done["error"] or "")
    return {"kind": "print_failed", "level": "error", "error": done["error"], "status": status,
            "message": str(_l("No se imprimió el turno %(code)s en «%(device)s»: %(reason)s. El "
                              "turno es válido; puede reimprimirlo.", code=code,
                              device=device_name or "-", reason=reason))}


def stale_before(app) -> int:
    """Return the time before which a job without an outcome counts as a failure."""
    return current_clock(app).now_ms() - STALE_SECONDS * 1000


def find_job(db, job_id: int) -> dict:
    """Return a print job by id, or raise not found."""
    job = store.print_job_by_id(db, job_id)
    if job is None:
        raise not_found("print_job", job_id)
    return job
