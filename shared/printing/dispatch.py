"""Running print jobs outside the request: on the kiosk's own printer or through its remote agent.

A recorded job starts once its transaction commits; a background task prints
it (``jobs.print_locally``) or hands it to the kiosk's agent (``remote``), and
records the outcome. Tests and benchmarks wait for the tasks with ``wait_idle``.
"""

from __future__ import annotations

import json
import logging
import threading

from flask_babel import force_locale
from flask_babel import lazy_gettext as _l

from .. import store
from ..clock import current_clock
from ..db import connection, immediate, on_commit
from ..errors import Conflict, Invalid
from ..events import socketio
from . import jobs, remote
from .settings import AGENT, printer_settings

log = logging.getLogger(__name__)


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
            job = store.claim_print_job(db, job_id, current_clock(app).now_ms())
            if job is None:
                return
            jobs.record_outcome(app, db, job, jobs.print_locally(app, job))
    except Exception:
        log.exception("print job %s could not be recorded", job_id)
    finally:
        _tasks.done()


def _offer_task(app, job_id: int) -> None:
    """Hand a new job to the kiosk's agent, or fail it when no agent comes within the timeout."""
    try:
        with app.app_context(), force_locale("es"):
            with connection(app) as db:
                job = store.print_job_by_id(db, job_id)
                if remote.agent_online(job["device_id"]):
                    remote.offer(app, db, job)
                    return
            # The agent may be reconnecting (a server restart): it gets the job on arrival.
            socketio.sleep(float(app.config.get("PRINT_TIMEOUT_SECONDS") or 5.0))
            with connection(app) as db:
                remote.fail_unanswered(app, db, store.print_job_by_id(db, job_id))
    except Exception:
        log.exception("print job %s could not be offered to its agent", job_id)
    finally:
        _tasks.done()


def reprint(app, db, engine, ticket: dict, *, device_id: int | None, user_id: int | None,
            status_url: str) -> dict:
    """Queue a new print of a ticket still waiting or called; return the new job."""
    if ticket["status"] not in ("waiting", "called"):
        raise Conflict(_l("El turno %(code)s ya no está en espera: no se reimprime.", code=ticket["code"]),
                       code="ticket_closed")
    earlier = store.ticket_print_jobs(db, ticket["id"])
    if device_id is None:
        device_id = next((j["device_id"] for j in reversed(earlier) if j["device_id"]), None) \
            or ticket["device_id"]
    device = store.device_by_id(db, device_id) if device_id else None
    if device is None or device["kind"] != "kiosk" or device["revoked_at"]:
        raise Conflict(_l("No hay un kiosco con impresora para reimprimir el turno %(code)s.",
                          code=ticket["code"]), code="no_printer")
    if device["site_id"] != ticket["site_id"]:
        raise Invalid(_l("Ese kiosco es de otra sede."), code="wrong_site")
    config = json.loads(device["config"] or "{}")
    now = current_clock(app).now_ms()
    content = jobs.ticket_content(engine, ticket, status_url, config)
    with immediate(db):
        job = jobs.create_job(db, ticket=ticket, device_id=device["id"],
                              settings=printer_settings(config), content=content, now_ms=now,
                              reprint_of=earlier[-1]["id"] if earlier else None, requested_by=user_id)
        store.audit(db, now, user_id, "ticket.reprint", f"ticket:{ticket['id']}",
                    {"job": job["id"], "device": device["id"]})
        on_commit(db, lambda: submit(app, job))
    return job
