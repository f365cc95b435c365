"""The kiosk's «Tengo cita»: a code typed on the screen or read by a barcode reader becomes a ticket.

A USB or serial barcode reader in keyboard mode types what it reads and
presses Enter; the page takes a burst of keys ending in Enter as a scan from
any step at rest, and the same code can be typed on the on-screen keys. The
code is an appointment's (it becomes a ticket of the appointment class,
printed like any ticket) or the arrival code of a ticket taken from a phone
(``shared.checkin``). Early or late, the answer says why and whether the site
gives a walk-in ticket instead (``walk_in`` with the service to offer).
"""

from flask import current_app, jsonify
from flask_babel import lazy_gettext as _l

from api import contract
from api.contract import Body, Text
from api.views import absolute
from printer import dispatch
from shared import appointments, auth, store
from shared.auth import require
from shared.checkin import check_in_code
from shared.db import get_db
from shared.errors import DomainError
from shared.present import status_path
from shared.queue import Actor, QueueEngine

from .views import PREVIEW_ROLES, _issued_reply, _site_of, bp


class KioskCheckIn(Body):
    """A code from the kiosk's keys or its barcode reader."""

    code = Text(max_length=300, required=True)
    site = contract.Ref()


@bp.post("/api/checkin")
@require("kiosk", *PREVIEW_ROLES)
def check_in():
    """Check in an appointment (a ticket, printed) or confirm a ticket from a phone, by its code."""
    data = contract.load(KioskCheckIn())
    principal = auth.current_principal()
    app = current_app._get_current_object()
    db = get_db()
    clock = app.extensions["turnos.clock"]
    site = _site_of(principal, data["site"])
    engine = QueueEngine(db, clock, app.extensions.get("turnos.announcer"))
    actor = Actor(user_id=principal.user_id, device_id=principal.device_id, role=principal.role)
    try:
        result = check_in_code(engine, site, data["code"], actor)
    except appointments.OutsideWindow as exc:
        found = store.appointment_by_code(db, appointments.normalize_code(data["code"]) or "")
        service = store.service_by_id(db, found["service_id"]) if found else None
        body = exc.to_dict()
        body["service"] = service["code"] if service and exc.details.get("walk_in") else None
        return jsonify(body), exc.status
    except DomainError as exc:
        return jsonify(exc.to_dict()), exc.status
    ticket = result["ticket"]
    if result["kind"] == "remote":
        reply = dict(engine.with_estimate(ticket))
        reply.update(status_url=absolute(reply["status_url"]), qr_url=f"/kiosk/qr/{ticket['visit_id']}.png",
                     print=None, repeated=False, checked_in="remote",
                     message=str(_l("Llegada confirmada. Espere a que lo llamen.")))
        return jsonify(reply), 200
    config = principal.config if principal.kind == "device" else {}
    content = dispatch.ticket_content(engine, ticket, absolute(status_path(ticket)), config,
                                      body=result["body"])
    from shared.db import immediate

    with immediate(db):
        job = dispatch.create_job(db, ticket=ticket, device_id=principal.device_id,
                                  settings=dispatch.printer_settings(config), content=content,
                                  now_ms=clock.now_ms())
    response, status = _issued_reply(ticket["id"], job["id"], repeated=False, engine=engine,
                                     body=result["body"])
    payload = response.get_json()
    payload.update(checked_in="appointment", message=str(_l("Cita registrada. Este es su turno.")))
    dispatch.submit(app, job)
    return jsonify(payload), 201
