"""Background status checks of every server-attached kiosk printer.

A printer is asked for its status only when a job runs, so without this a
printer that ran out of paper stays "Sin papel" on `/printer/`, the monitor
and the kiosk API until the next ticket, even after the roll was changed.
`serve` starts one loop that asks every kiosk printer the server drives
(TCP, serial, USB) every ``PRINTER_POLL_SECONDS`` with a short timeout:
a printer that does not answer is `unknown`, one that refuses is `offline`,
and each change reaches the staff as ``printer_status`` (and an alert when
it gets worse). A printer busy with a job is skipped, not disturbed.

Printers behind a kiosk's printer agent report themselves (every 30 s);
the virtual printer is always ready; a file printer cannot answer.
"""

from __future__ import annotations

import json
import logging

from flask_babel import force_locale

from .. import store
from ..cluster import current_cluster
from ..db import connection
from ..events import socketio
from . import status as printer_status
from .connections import parse_spec
from .delivery import check_status
from .settings import AGENT, printer_settings

log = logging.getLogger(__name__)

POLL_SECONDS = 20.0          # paper changed at the printer shows within this (plus one timeout)
POLL_TIMEOUT_SECONDS = 1.0   # a printer that answers does so in milliseconds
POLLED_KINDS = ("tcp", "serial", "usb")


def poll_once(app) -> int:
    """Ask every server-attached kiosk printer for its status and note it; return how many answered."""
    timeout = float(app.config.get("PRINTER_POLL_TIMEOUT_SECONDS") or POLL_TIMEOUT_SECONDS)
    asked = 0
    with app.app_context(), force_locale("es"), connection(app) as db:
        for row in store.printer_states(db):
            spec = printer_settings(json.loads(row["config"] or "{}"))["printer"]
            try:
                parsed = parse_spec(spec) if spec != AGENT else None
            except ValueError:
                continue
            if parsed is None or parsed.kind not in POLLED_KINDS:
                continue
            status = check_status(parsed, timeout, wait=False)
            if status is None:  # printing a ticket right now: its job reports the status
                continue
            printer_status.note_reported(app, db, store.device_by_id(db, row["device_id"]), status.value)
            asked += 1
    return asked


def _loop(app, interval: float) -> None:
    """Poll the printers forever, one round every ``interval`` seconds (one process of several does)."""
    while True:
        try:
            if current_cluster(app).holds("printer-status", ttl=3 * interval):
                poll_once(app)
        except Exception:  # a background loop has nobody to answer; log and try again later
            log.exception("checking the kiosk printers failed")
        socketio.sleep(interval)


def start_printer_watch(app):
    """Start the background printer status checks of this app (``serve`` does this)."""
    interval = app.config.get("PRINTER_POLL_SECONDS", POLL_SECONDS)
    if not interval or interval <= 0:
        return None
    task = socketio.start_background_task(_loop, app, float(interval))
    app.extensions["turnos.printer_watch"] = task
    return task
