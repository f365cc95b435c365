"""The OpenAPI 3 document of /api/v1, kept beside the views and checked against them by a test."""

from flask import jsonify

ERROR = {"$ref": "#/components/schemas/Error"}
TICKET = {"$ref": "#/components/schemas/Ticket"}


def _json(schema: dict) -> dict:
    """Wrap a schema as an application/json content map."""
    return {"application/json": {"schema": schema}}


def _op(summary: str, *, ok: int = 200, ok_schema: dict | None = None, body: dict | None = None,
        errors=(400, 401, 403, 404, 409), extra: dict | None = None, params=None,
        security: bool = True) -> dict:
    """Build one operation with the standard error answers."""
    responses = {str(ok): {"description": "OK"}}
    if ok_schema:
        responses[str(ok)]["content"] = _json(ok_schema)
    for code in errors:
        responses[str(code)] = {"description": "Error", "content": _json(ERROR)}
    responses.update(extra or {})
    op = {"summary": summary, "responses": responses}
    if body:
        op["requestBody"] = {"required": True, "content": _json(body)}
    if params:
        op["parameters"] = params
    if not security:
        op["security"] = []
    return op


def _obj(props: dict, required=()) -> dict:
    """Build an object schema that refuses unknown fields."""
    return {"type": "object", "properties": props, "required": list(required),
            "additionalProperties": False}


STR = {"type": "string"}
STR_OR_INT = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
P_SITE = {"name": "site", "in": "path", "required": True, "schema": STR,
          "description": "Site code (e.g. cam-centro) or numeric id"}
P_TICKET = {"name": "ticket_id", "in": "path", "required": True, "schema": {"type": "integer"}}
P_DESK = {"name": "desk", "in": "path", "required": True, "schema": STR,
          "description": "Desk id, or site:code (e.g. cam-centro:3), or code with ?site="}
P_DESK_SITE = {"name": "site", "in": "query", "required": False, "schema": STR,
               "description": "Site code: makes {desk} a desk code within that site"}
P_DEVICE = {"name": "device_id", "in": "path", "required": True, "schema": {"type": "integer"}}


def _spec() -> dict:
    """Return the OpenAPI document."""
    empty = {"type": "object", "additionalProperties": False}
    ticket_action = lambda s: _op(s, ok_schema=TICKET, params=[P_TICKET])  # noqa: E731
    return {
        "openapi": "3.0.3",
        "info": {"title": "Turnos API", "version": "1",
                 "description": "Queue management for citizen-service centres. Errors are "
                                "{error, message} in the client's language (Accept-Language). "
                                "Timestamps are ISO 8601 with milliseconds and the site's offset."},
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}, {"session": []}],
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "Staff token from POST /auth/token, or a device token"},
                "session": {"type": "apiKey", "in": "cookie", "name": "session",
                            "description": "Browser session; state changes need X-CSRF-Token"},
            },
            "schemas": {
                "Error": _obj({"error": STR, "message": STR}, ["error", "message"]) | {
                    "additionalProperties": True},
                "Ticket": {"type": "object", "properties": {
                    "id": {"type": "integer"}, "code": STR, "site": STR, "service": STR,
                    "service_name": STR, "priority": {"type": "string", "nullable": True},
                    "priority_label": {"type": "string", "nullable": True},
                    "status": {"type": "string", "enum": ["waiting", "called", "serving", "finished",
                                                          "no_show", "transferred", "cancelled",
                                                          "abandoned"]},
                    "issued_at": {"type": "string", "format": "date-time"},
                    "called_at": {"type": "string", "format": "date-time", "nullable": True},
                    "started_at": {"type": "string", "format": "date-time", "nullable": True},
                    "finished_at": {"type": "string", "format": "date-time", "nullable": True},
                    "desk": {"type": "string", "nullable": True},
                    "ahead": {"type": "integer"},
                    "estimated_wait_seconds": {"type": "number", "nullable": True},
                    "estimated_wait_range_seconds": {
                        "type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
                        "nullable": True,
                        "description": "[low, high]: about eight in ten waits fall inside"},
                    "status_url": STR},
                    "required": ["id", "code", "site", "service", "priority", "status", "issued_at",
                                 "ahead", "estimated_wait_seconds", "status_url"]},
            },
        },
        "paths": {
            "/auth/token": {"post": _op(
                "Exchange username and password for a bearer token", ok=201,
                ok_schema=_obj({"token": STR, "role": STR, "username": STR,
                                "expires_in": {"type": "integer"}}),
                body=_obj({"username": STR, "password": STR}, ["username", "password"]),
                errors=(400, 401, 429), security=False)},
            "/me": {"get": _op("Describe the caller", errors=(401,))},
            "/devices": {"post": _op(
                "Register a kiosk, display or survey device (admin)", ok=201,
                ok_schema=_obj({"id": {"type": "integer"}, "token": STR, "site": STR, "kind": STR,
                                "name": STR}),
                body=_obj({"site": STR_OR_INT, "kind": {"type": "string",
                                                        "enum": ["kiosk", "display", "survey"]},
                           "name": STR}, ["site", "kind", "name"]))},
            "/devices/{device_id}": {"delete": _op("Revoke a device token (admin)", ok=204,
                                                   params=[P_DEVICE])},
            "/sites": {"get": _op("List the sites the caller may use")},
            "/sites/{site}": {"get": _op("Describe a site", params=[P_SITE])},
            "/sites/{site}/desks": {"get": _op("List a site's desks", params=[P_SITE])},
            "/sites/{site}/services": {"get": _op(
                "List a site's services with waiting counts (general, preferential)",
                params=[P_SITE])},
            "/sites/{site}/categories": {"get": _op("List the active priority categories",
                                                    params=[P_SITE])},
            "/sites/{site}/queue": {"get": _op("Today's waiting and active tickets of a site",
                                               params=[P_SITE])},
            "/sites/{site}/snapshot": {"get": _op("Waiting counts and last calls (a screen's view)",
                                                  params=[P_SITE])},
            "/sites/{site}/close-day": {"post": _op(
                "Close the day up to a local day (today by default; a future or malformed day is "
                "refused): never-called tickets become abandoned, called ones no-shows, those in "
                "service finished, all flagged automatic. With dry_run, only the counts of what "
                "would change (admin)", params=[P_SITE],
                body=_obj({"day": {"type": "string", "format": "date"},
                           "dry_run": {"type": "boolean"}}))},
            "/tickets": {"post": _op(
                "Issue a ticket (kiosk token for its own site, or staff)", ok=201, ok_schema=TICKET,
                body=_obj({"site": STR_OR_INT, "service": STR_OR_INT,
                           "priority": {"type": "string", "nullable": True,
                                        "description": "Priority category code"}},
                          ["site", "service"]), errors=(400, 401, 403, 404, 409, 413, 415, 429))},
            "/tickets/{ticket_id}": {"get": _op("Read a ticket", ok_schema=TICKET, params=[P_TICKET])},
            "/tickets/{ticket_id}/events": {"get": _op("A ticket's event log", params=[P_TICKET])},
            "/tickets/{ticket_id}/call": {"post": _op(
                "Call a chosen waiting ticket to a desk", ok_schema=TICKET, params=[P_TICKET],
                body=_obj({"desk": STR_OR_INT}, ["desk"]))},
            "/tickets/{ticket_id}/recall": {"post": ticket_action("Call a called ticket again")},
            "/tickets/{ticket_id}/start": {"post": ticket_action("Start serving a called ticket")},
            "/tickets/{ticket_id}/finish": {"post": _op(
                "Finish serving a ticket", ok_schema=TICKET, params=[P_TICKET],
                body=_obj({"outcome": {"type": "string", "enum": ["resolved", "pending"]},
                           "note": STR}))},
            "/tickets/{ticket_id}/no-show": {"post": ticket_action("Mark a called ticket as no-show")},
            "/tickets/{ticket_id}/cancel": {"post": _op(
                "Cancel a waiting or called ticket", ok_schema=TICKET, params=[P_TICKET],
                body=_obj({"reason": STR}))},
            "/tickets/{ticket_id}/transfer": {"post": _op(
                "Transfer a ticket to another service (answers the new segment)", ok=201,
                ok_schema=TICKET, params=[P_TICKET],
                body=_obj({"service": STR_OR_INT, "note": STR}, ["service"]))},
            "/desks/{desk}": {"get": _op("A desk's state", params=[P_DESK, P_DESK_SITE])},
            "/desks/{desk}/session": {
                "post": _op("Take a desk (the caller now holds it)", ok=201,
                            params=[P_DESK, P_DESK_SITE], body=empty),
                "delete": _op("Leave a desk", ok=204, params=[P_DESK, P_DESK_SITE]),
            },
            "/desks/{desk}/next": {"post": _op(
                "Call the next citizen: 200 with the ticket, 204 when nobody waits",
                ok_schema=TICKET, params=[P_DESK, P_DESK_SITE],
                extra={"204": {"description": "Nobody waits"}})},
        },
    }


SPEC = _spec()


def register(path: str, method: str, operation: dict) -> None:
    """Let a face add its own API operation to the document."""
    SPEC["paths"].setdefault(path, {})[method] = operation


def document():
    """Serve the OpenAPI document."""
    return jsonify(SPEC)
