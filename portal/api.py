"""The public JSON API: wait times of a city, appointments by code, tickets from a phone, check-in.

No login for citizens (``security: []``): a booking's code is its key, a
ticket's visit id its page. Every operation is in ``/api/v1/openapi.json``.
Check-in (``POST /checkins``) is for kiosks and staff.
"""

from datetime import date

from flask import current_app, jsonify, request
from flask_babel import lazy_gettext as _l
from marshmallow import fields

from shared import appointments, auth, contract, publicwaits, ratelimit, remote, store
from shared.checkin import check_in_code
from shared.contract import Body, Query, Shape, Text
from shared.db import get_db
from shared.errors import Invalid, not_found
from shared.present import show_code
from shared.queue import Actor, current_engine
from shared.timefmt import iso, parse_day
from shared.web import current_clock, now_ms, require

from .common import device_cookie, remember_visit, site_or_404

bp = contract.Blueprint("portal_api", __name__, url_prefix="/api/v1",
                        description="Public wait times, appointments and tickets from a phone")

S, W, B, N = fields.String, fields.Integer, fields.Boolean, fields.Float


def maybe(field_class, **kwargs):
    """A key that is always there and may be null."""
    return field_class(required=True, allow_none=True, **kwargs)


# --- shapes -----------------------------------------------------------------------------

class Cell(Shape):
    """The typical wait of one weekday (Monday 0) and hour, from the last eight weeks."""

    weekday = W(required=True)
    hour = W(required=True)
    wait_minutes = N(required=True)
    per_day = N(required=True)


class PublicService(Shape):
    """A service of a service point as citizens see it."""

    code = S(required=True)
    name = S(required=True)
    group = S(required=True)
    open = B(required=True)
    waiting = W(required=True)
    estimated_wait_minutes = maybe(N)
    estimated_wait_range_minutes = maybe(fields.List, cls_or_instance=N())
    appointments = B(required=True)
    remote = B(required=True)
    typical = fields.List(fields.Nested(Cell), required=True)


class PublicSite(Shape):
    """A service point of the city."""

    code = S(required=True)
    name = S(required=True)
    address = S(required=True)
    open = B(required=True)
    services = fields.List(fields.Nested(PublicService), required=True)


class CityWaits(Shape):
    """Each service point and service of a city: waiting, live estimate, open, typical waits."""

    city = S(required=True)
    city_name = S(required=True)
    updated_at = S(required=True, metadata={"format": "date-time"})
    sites = fields.List(fields.Nested(PublicSite), required=True)


class Slot(Shape):
    """A bookable slot."""

    start = S(required=True, metadata={"format": "date-time"})
    end = S(required=True, metadata={"format": "date-time"})
    start_ms = W(required=True)
    free = W(required=True)


class Slots(Shape):
    """The slots of a service on a day."""

    site = S(required=True)
    service = S(required=True)
    day = S(required=True)
    slots = fields.List(fields.Nested(Slot), required=True)


class Appointment(Shape):
    """A booking as its citizen sees it (no personal data)."""

    code = S(required=True)
    site = S(required=True)
    site_name = S(required=True)
    address = S(required=True)
    service = S(required=True)
    service_name = S(required=True)
    requirements = S(required=True)
    day = S(required=True)
    start = S(required=True)
    end = S(required=True)
    status = S(required=True, metadata={"enum": list(appointments.STATUS_LABELS)})
    status_label = S(required=True)
    checkin_opens = S(required=True)
    checkin_closes = S(required=True)
    can_change = B(required=True)
    status_url = maybe(S)


class RemoteTicket(Shape):
    """A ticket taken from a phone: its page, and the code that confirms arrival at the kiosk."""

    code = S(required=True)
    service = S(required=True)
    service_name = S(required=True)
    status_url = S(required=True)
    arrival_code = S(required=True)
    ahead = W(required=True)
    estimated_wait_seconds = maybe(N)


class CheckedIn(Shape):
    """What a check-in produced: an appointment's ticket, or a ticket from a phone confirmed."""

    kind = S(required=True, metadata={"enum": ["appointment", "remote"]})
    ticket = W(required=True)
    code = S(required=True)
    service_name = S(required=True)
    status_url = S(required=True)


# --- requests -----------------------------------------------------------------------------

class SlotQuery(Query):
    """Which service and day."""

    service = Text(max_length=32, required=True)
    day = contract.Day(required=True)


class NewAppointment(Body):
    """A booking: a slot, the privacy notice accepted, and only the data the entity asks for."""

    site = contract.Ref(required=True)
    service = Text(max_length=32, required=True)
    start = contract.Int(required=True, minimum=0, metadata={
        "description": "The slot's start, epoch milliseconds (start_ms of GET .../slots)"})
    accept_privacy = contract.Flag(required=True)
    email = Text(max_length=254)
    phone = Text(max_length=20)
    name = Text(max_length=80, name=True)
    document = Text(max_length=20, name=True)


class Move(Body):
    """The new slot of a booking."""

    start = contract.Int(required=True, minimum=0)


class NewRemoteTicket(Body):
    """A ticket taken from a phone."""

    service = Text(max_length=32, required=True)
    accept_privacy = contract.Flag()
    email = Text(max_length=254)
    phone = Text(max_length=20)


class CheckIn(Body):
    """A code typed or scanned at the kiosk (an appointment's or a ticket from a phone's)."""

    code = Text(max_length=300, required=True)
    site = contract.Ref()


# --- operations --------------------------------------------------------------------------

@bp.route("/public/cities/<city>/waits")
@bp.response(200, CityWaits)
@bp.alt_response(304, description="Not modified (If-None-Match)")
@bp.errors(404, 429)
@bp.doc(security=[])
def city_waits(city):
    """Return each service point and service of a city: people waiting, the live estimated wait,
    whether it is open and the typical wait by weekday and hour (cached for a few seconds)."""
    built = publicwaits.cached(get_db(), current_clock(), city[:64])
    if built is None:
        raise not_found("city", city[:64])
    body, etag = built
    if request.if_none_match.contains(etag.strip('"')):
        response = current_app.response_class(status=304)
    else:
        response = current_app.response_class(body, mimetype="application/json")
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = \
        f"public, max-age={int(current_app.config.get('PUBLIC_CACHE_SECONDS') or 0)}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def slots_json(site: dict, service: dict, conf: dict, config: dict, day: date) -> list[dict]:
    """Return the free slots of a service on a day as the API shows them."""
    tz = site["timezone"]
    return [{"start": iso(s["start"], tz), "end": iso(s["end"], tz), "start_ms": s["start"],
             "free": s["free"]}
            for s in appointments.day_slots(get_db(), site, service, conf, config, day, now_ms())
            if s["free"] > 0]


@bp.route("/public/sites/<site>/slots")
@bp.arguments(SlotQuery, location="query")
@bp.response(200, Slots)
@bp.errors(400, 404, 429)
@bp.doc(security=[])
def slots(query, site):
    """List the free appointment slots of a service on a day."""
    s = site_or_404(site)
    service, conf, config = appointments.bookable(get_db(), s, query["service"])
    day = parse_day(query["day"])
    return jsonify({"site": s["code"], "service": service["code"], "day": day.isoformat(),
                    "slots": slots_json(s, service, conf, config, day)})


@bp.route("/public/appointments", methods=["POST"])
@ratelimit.limit("booking", (20, 3600))
@bp.arguments(NewAppointment)
@bp.response(201, Appointment)
@bp.errors(400, 404, 409, 413, 415, 429)
@bp.doc(security=[])
def book(data):
    """Book an appointment (no account): the answer's code cancels, moves and checks it in."""
    if not data["accept_privacy"]:
        raise Invalid(_l("Debe aceptar el aviso de privacidad para reservar."),
                      code="privacy_not_accepted", field="accept_privacy")
    s = site_or_404(data["site"])
    made = appointments.book(get_db(), s, data["service"], data["start"], now_ms(),
                             email=data["email"], phone=data["phone"], name=data["name"],
                             document=data["document"], source="api")
    return jsonify(appointments.public_json(get_db(), made, now_ms())), 201


def _lookup(code: str) -> dict:
    """Return the appointment of a code (rate limited by address: codes are not to be guessed)."""
    return appointments.find(get_db(), code)


@bp.route("/public/appointments/<code>")
@ratelimit.limit("appointment-code", (60, 60))
@bp.response(200, Appointment)
@bp.errors(404, 429)
@bp.doc(security=[])
def appointment(code):
    """Return a booking by its code."""
    return jsonify(appointments.public_json(get_db(), _lookup(code), now_ms()))


@bp.route("/public/appointments/<code>/cancel", methods=["POST"])
@ratelimit.limit("appointment-code", (60, 60))
@bp.response(200, Appointment)
@bp.errors(404, 409, 429)
@bp.doc(security=[])
def cancel(code):
    """Cancel a booking (its place is free again)."""
    done = appointments.cancel(get_db(), _lookup(code), now_ms())
    return jsonify(appointments.public_json(get_db(), done, now_ms()))


@bp.route("/public/appointments/<code>/move", methods=["POST"])
@ratelimit.limit("appointment-code", (60, 60))
@bp.arguments(Move)
@bp.response(200, Appointment)
@bp.errors(400, 404, 409, 413, 415, 429)
@bp.doc(security=[])
def move(data, code):
    """Move a booking to another free slot of the same service (the code stays)."""
    done = appointments.move(get_db(), _lookup(code), data["start"], now_ms())
    return jsonify(appointments.public_json(get_db(), done, now_ms()))


@bp.route("/public/sites/<site>/remote-tickets", methods=["POST"])
@ratelimit.limit("remote-ticket", (10, 3600))
@bp.arguments(NewRemoteTicket)
@bp.response(201, RemoteTicket)
@bp.errors(400, 403, 404, 409, 413, 415, 429)
@bp.doc(security=[])
def take_remote(data, site):
    """Take a ticket from a phone: it keeps its place and is called only after arrival is confirmed
    (at the kiosk with ``arrival_code`` or with the site's entrance QR)."""
    if (data["email"] or data["phone"]) and not data["accept_privacy"]:
        raise Invalid(_l("Para dejar un contacto debe aceptar el aviso de privacidad."),
                      code="privacy_not_accepted", field="accept_privacy")
    s = site_or_404(site)
    engine = current_engine()
    cookie, fresh = device_cookie()
    ticket = remote.take(engine, s, data["service"], remote.device_key(cookie),
                         email=data["email"], phone=data["phone"])
    shaped = engine.with_estimate(ticket)
    response = jsonify({"code": ticket["code"], "service": shaped["service"],
                        "service_name": shaped["service_name"], "status_url": shaped["status_url"],
                        "arrival_code": show_code(ticket["checkin_code"]),
                        "ahead": shaped["ahead"],
                        "estimated_wait_seconds": shaped["estimated_wait_seconds"]})
    remember_visit(response, ticket["visit_id"], cookie if fresh else None)
    return response, 201


@bp.route("/checkins", methods=["POST"])
@require("kiosk", "admin", "supervisor", "official")
@bp.arguments(CheckIn)
@bp.response(201, CheckedIn)
@bp.errors(400, 401, 403, 404, 409, 413, 415)
def check_in(data):
    """Check in an appointment (it becomes a ticket) or confirm a ticket from a phone, by its code;
    a kiosk checks in at its own site, staff name the site."""
    principal = auth.current_principal()
    db = get_db()
    if principal.kind == "device":
        s = store.site_by_id(db, principal.site_id)
    else:
        if data["site"] is None:
            raise Invalid(_l("Indique la sede."), code="missing_field", field="site")
        s = site_or_404(data["site"])
    auth.require_site(principal, s)
    result = check_in_code(current_engine(), s, data["code"],
                           Actor(user_id=principal.user_id, device_id=principal.device_id,
                                 role=principal.role))
    return jsonify(result["reply"]), 201
