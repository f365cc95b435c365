"""Admin-side JSON API: a site's privacy settings and the optional citizen ID of a ticket."""

from flask import jsonify
from flask_babel import lazy_gettext as _l
from marshmallow import fields

from shared import auth, contract
from shared.contract import Body, Shape, Text
from shared.db import get_db, immediate
from shared.errors import Conflict, Forbidden
from shared.queue import current_engine
from shared.web import STAFF, require, site_for

bp = contract.Blueprint("admin_api", __name__, url_prefix="/api/v1",
                        description="Privacy: whether a site asks for an ID, and recording it")

# A kiosk sends the ID right after issuing; later, the citizen has left the kiosk.
ID_WINDOW_SECONDS = 300


class Privacy(Shape):
    """Whether a site asks for an ID at the kiosk, and the notice to show first."""

    site = fields.String(required=True)
    id_capture = fields.Boolean(required=True)
    privacy_notice = fields.String(required=True)


class CitizenId(Body):
    """The citizen's ID number (kept only as a keyed hash)."""

    id_number = Text(required=True, max_length=40, name=True, metadata={"minLength": 3})


@bp.route("/sites/<site>/privacy")
@require(*STAFF, "kiosk")
@bp.response(200, Privacy)
@bp.errors(401, 403, 404)
def site_privacy(site):
    """Tell a kiosk whether the site asks for an ID and the privacy notice to show first."""
    s = site_for(site)
    return jsonify({"site": s["code"], "id_capture": bool(s["id_capture"]),
                    "privacy_notice": s["privacy_notice"] if s["id_capture"] else ""})


@bp.route("/tickets/<int:ticket_id>/citizen-id", methods=["POST"])
@require("kiosk")
@bp.arguments(CitizenId)
@bp.response(204)
@bp.errors(400, 401, 403, 404, 409, 413, 415)
def record_citizen_id(data, ticket_id):
    """Record the citizen's ID of a ticket just issued by this kiosk (kept as a keyed hash
    only; never shown on screens or tickets)."""
    engine = current_engine()
    ticket = engine.ticket(ticket_id)
    principal = auth.current_principal()
    site = engine.lookup.site(ticket["site_id"])
    auth.require_site(principal, site)
    if ticket["device_id"] != principal.device_id:
        raise Forbidden(_l("Solo el kiosco que entregó el turno puede registrar el documento."),
                        code="not_your_ticket")
    now = engine.clock.now_ms()
    if now - ticket["issued_at"] > ID_WINDOW_SECONDS * 1000:
        raise Conflict(_l("El turno %(code)s se entregó hace más de %(m)s minutos.",
                          code=ticket["code"], m=ID_WINDOW_SECONDS // 60), code="too_late")
    db = get_db()
    with immediate(db):
        auth.record_citizen_id(db, site, ticket, data["id_number"], now)
    return "", 204


def init_app(app) -> None:
    """Register the admin API (described in the one API document)."""
    contract.register(app, bp)
