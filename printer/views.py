"""Printer pages for supervisors and administrators: kiosk printers, failed prints, reprints,
and the virtual printer's tickets with their previews; plus the reprint and print-job API.
"""

import json
import re

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, send_from_directory
from flask_babel import lazy_gettext as _l
from marshmallow import fields

from shared import auth, contract, store
from shared.contract import Body, Choice, Id, Int, Query, Shape
from shared.db import get_db
from shared.errors import DomainError, Forbidden, not_found
from shared.present import status_path
from shared.printing import dispatch, jobs, remote
from shared.printing.settings import AGENT, printer_settings
from shared.printing.status import state_text
from shared.queue import current_engine
from shared.timefmt import ticket_time
from shared.web import MANAGERS, absolute, require

from . import agent_events

bp = Blueprint("printer", __name__, url_prefix="/printer", template_folder="templates",
               static_folder="static")
api_bp = contract.Blueprint("printer_api", __name__, url_prefix="/api/v1",
                            description="Print jobs and reprints")

_FILE = re.compile(r"^(?P<id>\d{6,})-[A-Za-z0-9_-]+$")
GALLERY_SIZE = 48


def _manager() -> auth.Principal | None:
    """Return the supervisor or administrator viewing a page (None: send them to log in)."""
    principal = auth.current_principal()
    if principal is None:
        return None
    if principal.role not in MANAGERS:
        raise Forbidden(_l("Solo supervisores y administradores ven las impresoras."), code="forbidden")
    return principal


def _site_ids(principal: auth.Principal) -> list[int] | None:
    """Return the sites a manager sees (None: all of them)."""
    if principal.is_admin or not principal.site_ids:
        return None
    return list(principal.site_ids)


def _login():
    """Send an anonymous visitor to the login page, back here afterwards."""
    return redirect(f"/login?next={request.full_path.rstrip('?')}")


def failures(db, principal, limit: int = 100) -> list[dict]:
    """Return failed jobs, unconfirmed jobs and jobs left without an outcome, newest first.

    A job a later successful print of the same ticket replaced (a reprint) is
    resolved and no longer listed, so nobody reprints it twice.
    """
    app = current_app._get_current_object()
    out = store.print_problems(db, site_ids=_site_ids(principal), stale_before_ms=jobs.stale_before(app),
                               limit=limit)
    zones = {s["id"]: s["timezone"] for s in store.list_sites(db)}
    for row in out:
        row["when"] = ticket_time(row["updated_at"], zones.get(row["site_id"]))
        row["reason"] = state_text(False, row["error"] or "timeout", row["printer_status"] or "unknown")
    return out


@bp.get("/")
def index():
    """Show each kiosk's printer, the prints that failed (with a reprint button) and the latest jobs."""
    principal = _manager()
    if principal is None:
        return _login()
    db = get_db()
    site_ids = _site_ids(principal)
    sites = {s["id"]: s for s in store.list_sites(db)}
    printers = []
    for row in store.printer_states(db, site_ids):
        settings = printer_settings(json.loads(row["config"] or "{}"))
        printers.append(dict(row, printer=settings["printer"], paper=settings["paper"],
                             site=sites[row["site_id"]],
                             agent_online=remote.agent_online(row["device_id"])
                             if settings["printer"] == AGENT else None))
    problems = failures(db, principal)
    recent = store.list_print_jobs(db, site_ids=site_ids, limit=30)
    return render_template("printer/index.html", printers=printers,
                           failed=[j for j in problems if j["error"] != "unconfirmed"],
                           unconfirmed=[j for j in problems if j["error"] == "unconfirmed"],
                           recent=recent, sites=sites, reprinted=request.args.get("reprinted", type=int),
                           error=request.args.get("error"))


@bp.post("/jobs/<int:job_id>/reprint")
def reprint_page(job_id):
    """Reprint the ticket of a failed job from the printers page."""
    principal = _manager()
    if principal is None:
        return _login()
    db = get_db()
    job = jobs.find_job(db, job_id)
    auth.require_site(principal, store.site_by_id(db, job["site_id"]))
    ticket = store.ticket_by_id(db, job["ticket_id"])
    try:
        new = dispatch.reprint(current_app._get_current_object(), db, current_engine(), ticket,
                               device_id=job["device_id"], user_id=principal.user_id,
                               status_url=absolute(status_path(ticket)))
    except DomainError as exc:
        return render_template("printer/index.html", printers=[], failed=failures(db, principal),
                               unconfirmed=[], recent=[], sites={}, reprinted=None,
                               error=str(exc.message)), exc.status
    return redirect(f"/printer/?reprinted={new['id']}")


@bp.get("/virtual")
def virtual():
    """Show the newest tickets the virtual printer received, as their PNG previews."""
    principal = _manager()
    if principal is None:
        return _login()
    db = get_db()
    folder = jobs.virtual_dir(current_app)
    files = sorted(folder.glob("*.png"), key=lambda p: p.stat().st_mtime, reverse=True) \
        if folder.is_dir() else []
    tickets = []
    for path in files:
        entry = _virtual_entry(db, principal, path.stem)
        if entry is not None:
            tickets.append(entry)
        if len(tickets) >= GALLERY_SIZE:
            break
    return render_template("printer/virtual.html", tickets=tickets)


def _virtual_entry(db, principal, name: str) -> dict | None:
    """Return what the gallery shows of one stored ticket, or None if the viewer may not see it."""
    match = _FILE.match(name)
    job = store.print_job_by_id(db, int(match["id"])) if match else None
    if job is None:
        # Test pages and files of another database: administrators only.
        return {"name": name, "job": None, "code": name} if principal.is_admin else None
    if not principal.may_use_site(job["site_id"]):
        return None
    ticket = store.ticket_by_id(db, job["ticket_id"])
    return {"name": name, "job": job, "code": ticket["code"] if ticket else name}


@bp.get("/virtual/<name>.<ext>")
def virtual_file(name, ext):
    """Return one stored ticket of the virtual printer: its PNG preview or its ESC/POS bytes."""
    principal = _manager()
    if principal is None:
        return _login()
    if ext not in ("png", "bin") or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", name):
        raise not_found("ticket", name)
    if _virtual_entry(get_db(), principal, name) is None:
        raise not_found("ticket", name)
    return send_from_directory(jobs.virtual_dir(current_app), f"{name}.{ext}",
                               mimetype="image/png" if ext == "png" else "application/octet-stream",
                               max_age=0)


# --- API ------------------------------------------------------------------------------

class Reprint(Body):
    """Which kiosk prints the ticket again."""

    device = Id(metadata={"description": "Kiosk device id (default: the kiosk that printed it)"})


class JobsQuery(Query):
    """Which print jobs to list."""

    status = Choice(jobs.JOB_STATES, code="invalid_status",
                    message=_l("Estado no válido: use pending, printing, printed o failed."))
    limit = Int(minimum=1, maximum=500, text=True, load_default=100, refuse_as=(
        "invalid_limit", _l("El límite debe ser un número entre 1 y 500.")))


class Job(Shape):
    """A print job: its ticket, kiosk, state and what the printer answered."""

    id = fields.Integer(required=True)
    ticket = fields.Integer(required=True)
    device = fields.Integer(required=True, allow_none=True)
    status = fields.String(required=True, metadata={"enum": list(jobs.JOB_STATES)})
    printer = fields.String(required=True)
    attempts = fields.Integer(required=True)
    error = fields.String(required=True, allow_none=True)
    message = fields.String(required=True, allow_none=True)
    printer_status = fields.String(required=True, allow_none=True)
    warning = fields.String(required=True, allow_none=True)
    reprint_of = fields.Integer(required=True, allow_none=True)
    created_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    updated_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})


class ListedJob(Job):
    """A print job in a list, with its ticket's code and state and its kiosk's name."""

    code = fields.String(required=True)
    site = fields.String(required=True)
    device_name = fields.String(required=True, allow_none=True)
    ticket_status = fields.String(required=True)


class Jobs(Shape):
    """The newest print jobs."""

    jobs = fields.List(fields.Nested(ListedJob), required=True)


@api_bp.route("/tickets/<int:ticket_id>/reprint", methods=["POST"])
@require(*MANAGERS)
@api_bp.arguments(Reprint)
@api_bp.response(202, Job)
@api_bp.errors(400, 401, 403, 404, 409, 413, 415)
def reprint_ticket(data, ticket_id):
    """Print a waiting or called ticket again on its kiosk's printer (or on the kiosk given)."""
    engine = current_engine()
    ticket = engine.ticket(ticket_id)
    principal = auth.current_principal()
    site = engine.lookup.site(ticket["site_id"])
    auth.require_site(principal, site)
    job = dispatch.reprint(current_app._get_current_object(), get_db(), engine, ticket,
                           device_id=data["device"], user_id=principal.user_id,
                           status_url=absolute(status_path(ticket)))
    return jsonify(jobs.job_json(job, site["timezone"])), 202


@api_bp.route("/print-jobs")
@require(*MANAGERS)
@api_bp.arguments(JobsQuery, location="query")
@api_bp.response(200, Jobs)
@api_bp.errors(400, 401, 403)
def print_jobs(query):
    """List the newest print jobs of the caller's sites (?status=, ?limit= up to 500)."""
    status, limit = query["status"], query["limit"]
    principal = auth.current_principal()
    db = get_db()
    rows = store.list_print_jobs(db, site_ids=_site_ids(principal), status=status, limit=int(limit))
    out = []
    for row in rows:
        item = jobs.job_json(row)
        item.update(code=row["code"], site=row["site"], device_name=row["device_name"],
                    ticket_status=row["ticket_status"])
        out.append(item)
    return jsonify({"jobs": out})


def init_app(app) -> None:
    """Register the printer pages, the printing API and the printer agent's socket events."""
    app.register_blueprint(bp)
    contract.register(app, api_bp)
    agent_events.init_app(app)
