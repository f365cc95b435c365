"""The kiosk's «Tengo cita»: a code typed on the screen or read by a barcode reader becomes a ticket.

A USB or serial barcode reader in keyboard mode types what it reads and
presses Enter; the page takes a burst of keys ending in Enter as a scan from
any step at rest, and the same code can be typed on the on-screen keys. The
code is an appointment's (it becomes a ticket of the appointment class,
printed like any ticket: ``kiosk.views.check_in``) or the arrival code of a
ticket taken from a phone (``shared.checkin``). Early or late, the answer says
why and whether the site gives a walk-in ticket instead (``walk_in`` with the
service to offer).
"""

from flask_babel import lazy_gettext as _l

from shared import appointments, contract, store
from shared.contract import Body, Text
from shared.errors import DomainError
from shared.web import absolute


class KioskCheckIn(Body):
    """A code from the kiosk's keys or its barcode reader."""

    code = Text(max_length=300, required=True)
    site = contract.Ref()


def refusal(db, code: str, exc: DomainError) -> tuple[dict, int]:
    """Return the answer to a refused code; early or late, with the service a walk-in ticket is for."""
    body = exc.to_dict()
    if isinstance(exc, appointments.OutsideWindow):
        found = store.appointment_by_code(db, appointments.normalize_code(code) or "")
        service = store.service_by_id(db, found["service_id"]) if found else None
        body["service"] = service["code"] if service and exc.details.get("walk_in") else None
    return body, exc.status


def arrival_reply(engine, ticket: dict) -> dict:
    """Return the answer to a confirmed arrival of a ticket from a phone (nothing to print)."""
    reply = dict(engine.with_estimate(ticket))
    reply.update(status_url=absolute(reply["status_url"]), qr_url=f"/kiosk/qr/{ticket['visit_id']}.png",
                 print=None, repeated=False, checked_in="remote",
                 message=str(_l("Llegada confirmada. Espere a que lo llamen.")))
    return reply
