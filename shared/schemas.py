"""The shapes the API answers with (documented in the OpenAPI document and checked by the fuzzer),
and the request parts several faces' endpoints share.

They mirror ``shared.present`` (which builds them) and the views; a key added
there without a line here makes the fuzzer's schema check fail.
"""

from marshmallow import fields, validate

from .contract import Query, Shape, Text
from .queue import STATUS_LABELS

STATUSES = list(STATUS_LABELS)
S = fields.String
I = fields.Integer  # noqa: E741
N = fields.Float
B = fields.Boolean


class DeskQuery(Query):
    """Makes ``{desk}`` a desk code within this site."""

    site = Text(max_length=64, name=True, metadata={
        "description": "Site code: makes {desk} a desk code within that site"})


def maybe(field_class, **kwargs):
    """A key that is always there and may be null."""
    return field_class(required=True, allow_none=True, **kwargs)


def when():
    """A timestamp (ISO 8601 with milliseconds and the site's offset) that may be null."""
    return maybe(S, metadata={"format": "date-time"})


class Me(Shape):
    """The caller: a staff user or a paired device."""

    kind = S(required=True, metadata={"enum": ["user", "device"]})
    role = S(required=True, metadata={"enum": ["admin", "supervisor", "official", "kiosk",
                                              "display", "survey"]})
    username = maybe(S)
    display_name = S(required=True)
    device = maybe(I)
    device_name = S(required=True)


class Token(Shape):
    """A staff bearer token (shown once)."""

    token = S(required=True)
    role = S(required=True)
    username = S(required=True)
    expires_in = I(required=True, metadata={"description": "Seconds"})


class Device(Shape):
    """A device just registered, with its token (shown once)."""

    id = I(required=True)
    token = S(required=True)
    site = S(required=True)
    kind = S(required=True, metadata={"enum": ["kiosk", "display", "survey"]})
    name = S(required=True)


class Site(Shape):
    """A site (a citizen-service centre)."""

    id = I(required=True)
    code = S(required=True)
    name = S(required=True)
    timezone = S(required=True)
    policy = S(required=True, metadata={"enum": ["strict", "ratio", "aging"]})
    policy_params = fields.Dict(required=True)
    entity_name = S(required=True)
    display_message = S(required=True)
    active = B(required=True)


class Sites(Shape):
    """The sites the caller may use."""

    sites = fields.List(fields.Nested(Site), required=True)


class DeskRow(Shape):
    """A desk with the services it calls (in order) and who holds it."""

    id = I(required=True)
    code = S(required=True)
    name = S(required=True)
    active = B(required=True)
    services = fields.List(S(), required=True)
    holder = maybe(S)
    holder_name = maybe(S)


class SiteDesks(Shape):
    """A site's desks."""

    site = S(required=True)
    desks = fields.List(fields.Nested(DeskRow), required=True)


class Waiting(Shape):
    """A service's waiting counts (what a screen shows)."""

    code = S(required=True)
    name = S(required=True)
    prefix = S(required=True)
    group = S(required=True)
    waiting_general = I(required=True)
    waiting_preferential = I(required=True)
    waiting = I(required=True)
    longest_wait_seconds = N(required=True)
    target_wait_seconds = I(required=True)


class ServiceRow(Waiting):
    """A service as a kiosk lists it: waiting counts, description, requirements, open now."""

    id = I(required=True)
    description = S(required=True)
    requirements = S(required=True)
    open = B(required=True)


class SiteServices(Shape):
    """A site's active services."""

    site = S(required=True)
    open = B(required=True)
    services = fields.List(fields.Nested(ServiceRow), required=True)


class Category(Shape):
    """A priority category (never a diagnosis: the legal ground of the priority)."""

    code = S(required=True)
    label = S(required=True)
    legal_note = S(required=True)
    pictogram = S(required=True)
    kiosk_visible = B(required=True)


class Categories(Shape):
    """The active priority categories."""

    categories = fields.List(fields.Nested(Category), required=True)


class Ticket(Shape):
    """A ticket (one segment of a visit): no name, no ID number, at most a priority category."""

    id = I(required=True)
    code = S(required=True)
    site = S(required=True)
    service = S(required=True)
    service_name = S(required=True)
    priority = maybe(S)
    priority_label = maybe(S)
    status = S(required=True, metadata={"enum": STATUSES})
    day = S(required=True, metadata={"format": "date"})
    issued_at = S(required=True, metadata={"format": "date-time"})
    called_at = when()
    last_called_at = when()
    recalls = I(required=True)
    started_at = when()
    finished_at = when()
    closed_at = when()
    desk = maybe(S)
    desk_name = maybe(S)
    origin_id = maybe(I)
    previous_id = maybe(I)
    outcome = maybe(S)
    status_url = S(required=True, metadata={"description": "The citizen's status page (the QR)"})
    ahead = I(metadata={"description": "People called before this ticket"})
    estimated_wait_seconds = N(allow_none=True)
    estimated_wait_range_seconds = fields.List(
        N(), allow_none=True, validate=validate.Length(equal=2),
        metadata={"description": "[low, high]: about eight in ten waits fall inside"})


class QueuedTicket(Ticket):
    """A waiting ticket in the line: its place and how long it has waited."""

    position = I(required=True)
    waiting_seconds = N(required=True)
    predicted_desk = maybe(S, metadata={"description": "The desk expected to call it (its code)"})


class SiteQueue(Shape):
    """Today's waiting tickets of a site in order, and the tickets being called or served."""

    site = S(required=True)
    day = S(required=True, metadata={"format": "date"})
    waiting = fields.List(fields.Nested(QueuedTicket), required=True)
    active = fields.List(fields.Nested(Ticket), required=True)
    services = fields.List(fields.Nested(Waiting), required=True)


class Call(Shape):
    """A call as a waiting-room screen shows it (the ``ticket_called`` event)."""

    id = I(required=True)
    code = S(required=True)
    service = S(required=True)
    service_name = S(required=True)
    preferential = B(required=True, metadata={
        "description": "Preferential attention; the category is never sent to screens"})
    desk = maybe(S)
    desk_name = maybe(S)
    called_at = when()
    recall = B(required=True)


class Snapshot(Shape):
    """What a screen shows: waiting counts and the last calls."""

    site = S(required=True)
    site_name = S(required=True)
    display_message = S(required=True)
    services = fields.List(fields.Nested(Waiting), required=True)
    last_calls = fields.List(fields.Nested(Call), required=True)
    server_time = I(required=True, metadata={"description": "Milliseconds since the epoch"})


class DayClosed(Shape):
    """What closing a day did."""

    site = S(required=True)
    day = S(required=True, metadata={"format": "date"})
    abandoned = I(required=True)
    no_show = I(required=True)
    finished = I(required=True)
    sessions_closed = I(required=True)
    dry_run = fields.Boolean(metadata={"description": "true: nothing was changed, these are the counts "
                                                      "a close would make"})


class TicketEvent(Shape):
    """One step of a ticket: who did what, when, where."""

    kind = S(required=True)
    at = S(required=True, metadata={"format": "date-time"})
    desk = maybe(S)
    user_id = maybe(I)
    device_id = maybe(I)
    data = fields.Dict(required=True)


class TicketEvents(Shape):
    """A ticket's event log."""

    ticket = I(required=True)
    events = fields.List(fields.Nested(TicketEvent), required=True)


class DeskState(Shape):
    """A desk's state: who holds it, its pause, its current ticket."""

    id = I(required=True)
    code = S(required=True)
    name = S(required=True)
    site = S(required=True)
    services = fields.List(S(), required=True)
    holder = maybe(S)
    holder_name = maybe(S)
    session_started_at = when()
    paused = B(required=True)
    pause_reason = maybe(S)
    paused_since = when()
    current = fields.Nested(Ticket, required=True, allow_none=True)
