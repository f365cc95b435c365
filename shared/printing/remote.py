"""The server's side of a remote kiosk's printer agent: its presence, the jobs it is handed, its answers.

A remote kiosk's printer is driven by ``python run.py printer-agent``
(``shared/printing/agent.py``). The server hands each job to the agent's
socket once (status ``printing``), re-offers the jobs still unanswered when
the agent connects again, and records the first answer; the agent keeps its
own record, so a job it already printed is answered again, never printed
again. The socket events themselves are the printer face's
(``printer/agent_events.py``).
"""

from __future__ import annotations

import base64
import json

from flask import current_app

from .. import store
from ..clock import current_clock
from ..cluster import current_cluster
from ..events import PRINT_JOB, agent_room, socketio
from . import jobs
from . import status as printer_status
from .connections import PrinterStatus
from .delivery import MESSAGES
from .settings import AGENT, printer_settings

# An agent that comes back later than this does not print the old jobs: the
# citizen has long left the kiosk with the ticket on screen.
REOFFER_SECONDS = 120
AGENT_MESSAGES = {
    "no_agent": MESSAGES["offline"],
    "stale": MESSAGES["timeout"],
}

# This process's printer-agent sockets, per kiosk (its presence is shared with the others).
_local_agents: dict[int, set[str]] = {}


def agent_online(device_id: int) -> bool:
    """Tell whether a kiosk's printer agent is connected to any server process."""
    return current_cluster().is_present(agent_room(device_id))


def agent_arrived(device_id: int, sid: str) -> None:
    """Note that a socket is the printer agent of a kiosk, for every process to know."""
    _local_agents.setdefault(device_id, set()).add(sid)
    current_cluster().mark_present(agent_room(device_id))


def agent_left(device_id: int, sid: str) -> None:
    """Forget a printer agent's socket (its presence ends with its kiosk's last one)."""
    sids = _local_agents.get(device_id)
    if sids is None:
        return
    sids.discard(sid)
    if not sids:
        del _local_agents[device_id]
        current_cluster().mark_absent(agent_room(device_id))


def prints_through_agent(device: dict) -> bool:
    """Tell whether a kiosk's printer is set to be driven by its remote agent."""
    return printer_settings(json.loads(device["config"] or "{}"))["printer"] == AGENT


def offer(app, db, job: dict) -> bool:
    """Mark a job as handed out and send it to the kiosk's agent; False if it is already done."""
    try:
        data, _png = jobs.render(job)
    except (ValueError, KeyError) as exc:
        jobs.record_outcome(app, db, job, jobs.failure("bad_spec", MESSAGES["bad_spec"], detail=str(exc)))
        return False
    claimed = store.claim_print_job(db, job["id"], current_clock(app).now_ms(),
                                    from_states=("pending", "printing"))
    if claimed is None:
        return False
    socketio.emit(PRINT_JOB, {"job": claimed["uid"], "name": jobs.job_name(claimed),
                              "ticket": claimed["ticket_id"],
                              "code": json.loads(claimed["content"]).get("code"),
                              "attempt": claimed["attempts"],
                              "data": base64.b64encode(data).decode("ascii")},
                  to=agent_room(claimed["device_id"]))
    return True


def fail_unanswered(app, db, job: dict) -> None:
    """Fail a job still pending after its agent's grace time: no agent came for it."""
    if job["status"] == "pending":
        jobs.record_outcome(app, db, job, jobs.failure("no_agent", AGENT_MESSAGES["no_agent"],
                                                       status=PrinterStatus.OFFLINE.value))


def welcome(db, device: dict, status, message=None) -> int:
    """Note an arriving agent's printer state and offer it the jobs still unanswered; return how many."""
    app = current_app._get_current_object()
    printer_status.note_reported(app, db, device, status)
    now = current_clock().now_ms()
    offered = 0
    for job in store.open_print_jobs(db, device["id"]):
        if now - job["created_at"] > REOFFER_SECONDS * 1000:
            jobs.record_outcome(app, db, job, jobs.failure("timeout", AGENT_MESSAGES["stale"],
                                                           detail="the agent came back too late"))
        elif offer(app, db, job):
            offered += 1
    return offered


def answer(db, device_id: int, data: dict) -> dict:
    """Record an agent's answer to one of its kiosk's jobs (a second answer changes nothing)."""
    job = store.print_job_by_uid(db, data["job"][:64])
    if job is None or job["device_id"] != device_id:
        return {"ok": False, "error": "unknown_job"}
    status = data.get("status") if data.get("status") in set(PrinterStatus) else "unknown"
    outcome = {"ok": data["ok"], "status": status, "error": _short(data.get("error")),
               "message": _short(data.get("message"), 300) or "",
               "warning": _short(data.get("warning")), "detail": _short(data.get("detail"), 300),
               "bytes_sent": data.get("bytes_sent") if isinstance(data.get("bytes_sent"), int) else 0,
               "elapsed_ms": data.get("elapsed_ms")
               if isinstance(data.get("elapsed_ms"), (int, float)) else None}
    if not outcome["ok"] and not outcome["error"]:
        outcome["error"] = "unknown_error"
    jobs.record_outcome(current_app._get_current_object(), db, job, outcome)
    return {"ok": True}


def _short(value, limit: int = 64):
    """Return a text value cut to a limit, or None when it is not text."""
    return value[:limit] if isinstance(value, str) else None
