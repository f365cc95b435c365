"""Check-in at the kiosk (or by staff): one code, typed or scanned, for both kinds of visit.

The code is an appointment's (``shared.appointments``: the booking becomes a
ticket) or the arrival code of a ticket taken from a phone (``shared.remote``:
it becomes callable). A barcode reader types what it reads, so a scanned QR
arrives as its whole address: ``.../citas/c/<code>`` (a booking's page) or
``.../t/<visit id>`` (a ticket's status page) are understood as well.
"""

import re

from flask_babel import lazy_gettext as _l

from . import appointments, remote, store
from .errors import Invalid, NotFound
from .present import status_path

_STATUS_URL = re.compile(r"/t/([A-Za-z0-9_-]{8,64})/?$")


def check_in_code(engine, site: dict, text, actor) -> dict:
    """Check in whatever a code names at a site; return ``{kind, ticket, reply}``."""
    db = engine.db
    match = _STATUS_URL.search(text.strip()) if isinstance(text, str) else None
    ticket = store.latest_segment(db, match.group(1)) if match else None
    if ticket is None:
        code = appointments.normalize_code(text)
        if code is None:
            raise NotFound(appointments.NO_CODE, code="unknown_code", field="code")
        appointment = store.appointment_by_code(db, code)
        if appointment is not None:
            issued = appointments.check_in(engine, site, appointment, actor)
            ticket = store.ticket_by_id(db, issued["id"])
            return {"kind": "appointment", "ticket": ticket, "body": issued,
                    "reply": _reply("appointment", engine, ticket)}
        ticket = store.ticket_by_checkin_code(db, code)
    if ticket is None or ticket["channel"] != "remote":
        raise NotFound(appointments.NO_CODE, code="unknown_code", field="code")
    if ticket["site_id"] != site["id"]:
        other = store.site_by_id(db, ticket["site_id"])
        raise Invalid(_l("Este turno es de %(s)s.", s=other["name"]), code="wrong_site")
    confirmed = remote.confirm(engine, ticket, actor, how="kiosk")
    return {"kind": "remote", "ticket": confirmed, "body": engine.with_estimate(confirmed),
            "reply": _reply("remote", engine, confirmed)}


def _reply(kind: str, engine, ticket: dict) -> dict:
    """Return the API answer of a check-in."""
    service = engine.lookup.service(ticket["service_id"])
    return {"kind": kind, "ticket": ticket["id"], "code": ticket["code"],
            "service_name": service["name"], "status_url": status_path(ticket)}
