"""Admin-side JSON API: a site's privacy settings and the optional citizen ID of a ticket."""

from flask import Blueprint, jsonify
from flask_babel import lazy_gettext as _l

from shared import auth
from shared.auth import require
from shared.db import get_db, immediate
from shared.errors import Conflict, Forbidden
from shared.queue import current_engine

bp = Blueprint("admin_api", __name__, url_prefix="/api/v1")

# A kiosk sends the ID right after issuing; later, the citizen has left the kiosk.
ID_WINDOW_SECONDS = 300


@bp.get("/sites/<site>/privacy")
@require("admin", "supervisor", "official", "kiosk")
def site_privacy(site):
    """Tell a kiosk whether the site asks for an ID and the privacy notice to show first."""
    from api.views import site_for

    s = site_for(site)
    return jsonify({"site": s["code"], "id_capture": bool(s["id_capture"]),
                    "privacy_notice": s["privacy_notice"] if s["id_capture"] else ""})


@bp.post("/tickets/<int:ticket_id>/citizen-id")
@require("kiosk")
def record_citizen_id(ticket_id):
    """Keep the citizen's ID of a ticket just issued by this kiosk, only as a keyed hash."""
    from api.views import body

    data = body({"id_number": (str, True)})
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


def _document() -> None:
    """Describe these endpoints in the OpenAPI document."""
    from api.openapi import P_SITE, P_TICKET, STR, _obj, _op, register

    register("/sites/{site}/privacy", "get", _op(
        "Whether a site asks for an ID at the kiosk, and its privacy notice", params=[P_SITE],
        ok_schema=_obj({"site": STR, "id_capture": {"type": "boolean"}, "privacy_notice": STR})))
    register("/tickets/{ticket_id}/citizen-id", "post", _op(
        "Record the citizen's ID of a ticket just issued by this kiosk (kept as a keyed hash "
        "only; never shown on screens or tickets)", ok=204, params=[P_TICKET],
        body=_obj({"id_number": {"type": "string", "minLength": 3, "maxLength": 40}},
                  ["id_number"]), errors=(400, 401, 403, 404, 409, 415)))


def init_app(app) -> None:
    """Register the admin API and document it."""
    app.register_blueprint(bp)
    _document()
