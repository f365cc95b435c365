"""The API's contract machinery: flask-smorest blueprints whose marshmallow schemas both validate
every request and describe every answer in the one OpenAPI document (``/api/v1/openapi.json``).

Faces with JSON endpoints declare them on a ``Blueprint`` from this module and
register it with ``register(app, blueprint)``. A request the schema refuses
answers ``{error, message, field}`` with the same codes and Spanish/English
messages as the rest of the API; the fields here add the house rules
(strict types, ids within 64 bits, no lone surrogates, no control or
bidirectional characters in names).
"""

import http
import json
import re

import marshmallow as ma
from flask import current_app, request
from flask_babel import lazy_gettext as _l
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest.spec.plugins import FlaskPlugin
from flask_smorest.utils import prepare_response
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import RequestEntityTooLarge

from . import text, timefmt
from .errors import DomainError, Invalid
from .store import MAX_ID
from .web import IdConverter

PREFIX = "/api/v1"
_DIGITS = re.compile(r"-?[0-9]{1,19}")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
EXTENSION = "turnos.api"

# --- refusals -------------------------------------------------------------------------

# What a field-level code says, with «%(f)s» the field's name.
MESSAGES = {
    "missing_field": _l("Falta el campo obligatorio «%(f)s»."),
    "invalid_type": _l("El campo «%(f)s» tiene un tipo no válido."),
    "too_long": _l("El campo «%(f)s» es demasiado largo."),
    "invalid_characters": _l("El campo «%(f)s» contiene caracteres no permitidos."),
    "out_of_range": _l("El campo «%(f)s» está fuera del rango permitido."),
    "invalid_choice": _l("El campo «%(f)s» no admite ese valor."),
}


def refusal(error: ma.ValidationError, schema: ma.Schema) -> DomainError:
    """Turn a schema's validation error into the API's ``{error, message, field}`` refusal."""
    messages = error.messages
    if not isinstance(messages, dict) or "_schema" in messages:
        return Invalid(_l("El cuerpo debe ser un objeto JSON."), code="invalid_json")
    known = {(f.data_key or name): f for name, f in schema.load_fields.items()}
    unknown = sorted(key for key in messages if key not in known)
    if unknown:
        return Invalid(_l("Campos desconocidos: %(f)s.", f=", ".join(map(str, unknown))),
                       code="unknown_field")
    for key, field in known.items():
        if key not in messages:
            continue
        found = messages[key]
        while isinstance(found, (list, dict)) and found:
            found = found[0] if isinstance(found, list) else next(iter(found.values()))
        if getattr(field, "refuse_as", None):
            code, message = field.refuse_as
            return Invalid(message, code=code, field=key)
        codes = getattr(field, "codes", {})
        code = found if found in MESSAGES or found in codes else "invalid_type"
        message = codes.get(code) or MESSAGES[code]
        return Invalid(message % {"f": key} if "%(f)s" in str(message) else message,
                       code=code, field=key)
    return Invalid(_l("La solicitud no es válida."), code="bad_request")


# --- the request body -------------------------------------------------------------------

def read_json() -> dict:
    """Return the request's JSON object ({} when the body is empty), or refuse it clearly."""
    if request.content_length and request.content_length > current_app.config["MAX_CONTENT_LENGTH"]:
        raise RequestEntityTooLarge()
    raw = request.get_data(cache=True)
    if not raw.strip():
        return {}
    if request.mimetype != "application/json":
        raise Invalid(_l("Envíe el contenido como JSON (Content-Type: application/json)."),
                      code="unsupported_media_type", status=415)
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        # RecursionError: a body nested a thousand levels deep.
        raise Invalid(_l("El cuerpo no es JSON válido."), code="invalid_json") from None
    if _holds_surrogate(data):
        raise Invalid(_l("El cuerpo contiene caracteres que no son texto válido."),
                      code="invalid_characters")
    if not isinstance(data, dict):
        raise Invalid(_l("El cuerpo debe ser un objeto JSON."), code="invalid_json")
    return data


def _holds_surrogate(data) -> bool:
    """Tell whether any string of a decoded JSON value (keys included) holds a lone surrogate."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if text.has_surrogate(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def load(schema: ma.Schema, data=None) -> dict:
    """Validate a JSON body (this request's unless given) against a schema, or refuse it."""
    try:
        return schema.load(read_json() if data is None else data)
    except ma.ValidationError as exc:
        raise refusal(exc, schema) from None


class Parser(FlaskParser):
    """webargs' Flask parser with the API's rules: our JSON reading and our refusals."""

    DEFAULT_VALIDATION_STATUS = 400

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._schemas: dict[type, ma.Schema] = {}

    def _get_schema(self, argmap, req):
        """Return one instance per schema class (webargs would build one on every request).

        A marshmallow 4 schema keeps no state between loads, so one instance
        serves every request; building it cost an issued ticket about 4 % of its time.
        """
        if isinstance(argmap, type) and issubclass(argmap, ma.Schema):
            if argmap not in self._schemas:
                self._schemas[argmap] = argmap()
            return self._schemas[argmap]
        return super()._get_schema(argmap, req)

    def load_json(self, req, schema):
        """Return the JSON object body (or {} when empty)."""
        return read_json()

    def handle_error(self, error, req, schema, *, error_status_code, error_headers):
        """Refuse with the API's error shape instead of webargs' 422."""
        messages = error.messages
        # webargs files the messages under their location ({"json": {...}}).
        if isinstance(messages, dict) and len(messages) == 1 and next(iter(messages)) in (
                "json", "query", "querystring"):
            error = ma.ValidationError(next(iter(messages.values())))
        raise refusal(error, schema)


class Blueprint(SmorestBlueprint):
    """A flask-smorest blueprint that parses with the API's rules and documents refusals."""

    ARGUMENTS_PARSER = Parser()

    def arguments(self, schema, *, location="json", **kwargs):
        """Declare a body or query schema; a body whose fields are all optional may be absent."""
        if location == "json" and "required" not in kwargs:
            instance = schema() if isinstance(schema, type) else schema
            kwargs["required"] = any(f.required for f in instance.load_fields.values())
        return super().arguments(schema, location=location, **kwargs)

    def errors(self, *statuses: int):
        """Document the ``{error, message}`` answers an operation may give."""

        def decorator(view):
            for status in statuses:
                name = RATE_LIMITED if status == 429 else http.HTTPStatus(status).name
                view = self.alt_response(status, response=name)(view)
            return view

        return decorator


# --- fields -----------------------------------------------------------------------------

class Field(ma.fields.Field):
    """Base of the API's fields: refusals are codes of ``MESSAGES`` (or the field's own)."""

    default_error_messages = {"required": "missing_field", "null": "missing_field",
                              "invalid": "invalid_type"}

    def __init__(self, *args, codes: dict | None = None, refuse_as: tuple | None = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.codes = codes or {}
        self.refuse_as = refuse_as  # (code, message) for every refusal of this field


def _optional(kwargs: dict) -> dict:
    """Make an optional field load null or absence as None (required ones refuse both)."""
    if not kwargs.get("required"):
        kwargs.setdefault("allow_none", True)
        kwargs.setdefault("load_default", None)
    return kwargs


class Text(Field, ma.fields.String):
    """A string of at most ``max_length`` characters; a name refuses control and bidi characters."""

    def __init__(self, *, max_length: int = 500, name: bool = False, multiline: bool = True,
                 **kwargs):
        metadata = dict(kwargs.pop("metadata", {}), maxLength=max_length)
        super().__init__(metadata=metadata, **_optional(kwargs))
        self.max_length = max_length
        self.strict_text = name or not multiline
        self.multiline = multiline and not name

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if len(value) > self.max_length:
            raise ma.ValidationError("too_long")
        if not text.storable(value) or (self.strict_text and text.unsafe(value, multiline=False)):
            raise ma.ValidationError("invalid_characters")
        return value


class Day(Text):
    """A local day written YYYY-MM-DD."""

    def __init__(self, **kwargs):
        super().__init__(max_length=10, metadata={"format": "date"}, codes={
            "invalid_day": _l("Día no válido: use el formato AAAA-MM-DD.")}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            if not _DAY.fullmatch(value):
                raise ValueError(value)
            timefmt.parse_day(value)
        except ValueError:
            raise ma.ValidationError("invalid_day") from None
        return value


class Int(Field, ma.fields.Integer):
    """A JSON integer (never a boolean, a float or a string) within 64 bits.

    In a query string (``text=True``) it is written in ASCII digits instead.
    """

    def __init__(self, *, minimum: int = -MAX_ID, maximum: int = MAX_ID, text: bool = False,
                 **kwargs):
        metadata = dict(kwargs.pop("metadata", {}), minimum=minimum, maximum=maximum)
        super().__init__(strict=True, metadata=metadata, **_optional(kwargs))
        self.minimum, self.maximum, self.text = minimum, maximum, text

    def _deserialize(self, value, attr, data, **kwargs):
        if self.text and isinstance(value, str) and _DIGITS.fullmatch(value):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.make_error("invalid")
        if not self.minimum <= value <= self.maximum:
            raise ma.ValidationError(self.codes.get("_range", "out_of_range"))
        return value


def Id(**kwargs) -> Int:
    """An id field: an integer from 1 to 2^63 − 1."""
    return Int(minimum=1, **kwargs)


class Flag(Field, ma.fields.Boolean):
    """A JSON boolean (true or false, nothing else)."""

    def __init__(self, **kwargs):
        super().__init__(**_optional(kwargs))

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Ref(Field):
    """A site, service or desk named by its code (a string) or its id (an integer)."""

    def __init__(self, **kwargs):
        metadata = dict(kwargs.pop("metadata", {}), oneOf=[
            {"type": "string", "maxLength": 500}, {"type": "integer", "minimum": 0, "maximum": MAX_ID}])
        super().__init__(metadata=metadata, **_optional(kwargs))

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self.make_error("invalid")
        if isinstance(value, int):
            if not 0 <= value <= MAX_ID:
                raise ma.ValidationError("out_of_range")
            return value
        if len(value) > 500:
            raise ma.ValidationError("too_long")
        if text.unsafe(value):
            raise ma.ValidationError("invalid_characters")
        return value


def Choice(options, *, code: str = "invalid_choice", message=None, **kwargs) -> Text:
    """A string that must be one of ``options`` (documented as an enum)."""
    codes = {code: message} if message is not None else {}
    return Text(max_length=max(len(o) for o in options), validate=ma.validate.OneOf(
        options, error=code), metadata={"enum": list(options)}, codes=codes, **kwargs)


class Body(ma.Schema):
    """A request body: unknown fields are refused."""

    class Meta:
        unknown = ma.RAISE


class Query(ma.Schema):
    """Query-string parameters: unknown ones are ignored, as browsers add their own."""

    class Meta:
        unknown = ma.EXCLUDE


class Shape(ma.Schema):
    """An answer's shape: exactly these keys (the fuzzer checks answers against it)."""

    class Meta:
        unknown = ma.RAISE


class OpenShape(ma.Schema):
    """An answer whose listed keys are documented and which may carry more (figures, states)."""

    class Meta:
        unknown = ma.INCLUDE


class Error(OpenShape):
    """Every refusal: a stable code and a message in the caller's language (plus details)."""

    error = ma.fields.String(required=True, metadata={"description": "Stable code, e.g. unknown_site"})
    message = ma.fields.String(required=True,
                               metadata={"description": "Spanish or English (Accept-Language)"})
    field = ma.fields.String(metadata={"description": "The field refused, when there is one"})


class Empty(Body):
    """No fields: the body may be empty or ``{}``."""


# --- the document ---------------------------------------------------------------------------

class RelativePaths(FlaskPlugin):
    """Write each path relative to the server URL ``/api/v1`` (the document's ``servers``)."""

    def path_helper(self, rule, operations, parameters, **kwargs):
        path = super().path_helper(rule, operations, parameters, **kwargs)
        # Each operation lists its own path parameters: a path holds only its operations.
        for operation in operations.values():
            operation["parameters"] = [*parameters, *operation.get("parameters", [])]
        parameters.clear()
        return path[len(PREFIX):] if path.startswith(PREFIX + "/") else path


RATE_LIMITED = "RATE_LIMITED"  # the 429 answer, with the Retry-After the server sends


class TurnosApi(Api):
    """flask-smorest's Api with our error shape; errors are rendered by the app's own handlers."""

    ERROR_SCHEMA = Error
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_responses(self):
        """Register flask-smorest's answers per status, and a 429 that says when to try again."""
        super()._register_responses()
        self.spec.components.header("Retry-After", {
            "description": "Seconds until the client may try again (the current window ends)",
            "schema": {"type": "integer", "minimum": 1}})
        response = {"description": "Too Many Requests", "schema": self.ERROR_SCHEMA,
                    "headers": {"Retry-After": "Retry-After"}}
        prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
        self.spec.components.response(RATE_LIMITED, response, lazy=True)

    def _register_error_handlers(self):
        """Leave error rendering to the application ({error, message} in the caller's language)."""


DESCRIPTION = (
    "Queue management for citizen-service centres. Errors are {error, message} in the "
    "client's language (Accept-Language: es or en), with `field` when one field is refused. "
    "Timestamps are ISO 8601 with milliseconds and the site's offset. Sites, services and "
    "desks are addressed by code or by id. Staff get a bearer token from POST /auth/token; "
    "devices use the token shown when they are registered; browsers use their session cookie "
    "and send X-CSRF-Token on changes.")


def init_app(app) -> TurnosApi:
    """Create this application's API document (one per app) and the routes that serve it."""
    app.config.setdefault("API_TITLE", "Turnos API")
    app.config.setdefault("API_VERSION", "1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("API_SPEC_OPTIONS", {
        "info": {"description": DESCRIPTION},
        "servers": [{"url": PREFIX}],
        "security": [{"bearer": []}, {"session": []}],
        "components": {"securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "Staff token from POST /auth/token, or a device token"},
            "session": {"type": "apiKey", "in": "cookie", "name": "session",
                        "description": "Browser session; state changes need X-CSRF-Token"},
        }},
    })
    api = TurnosApi(spec_kwargs={"flask_plugin": RelativePaths()})
    api.init_app(app)
    api.register_converter(IdConverter, lambda c: {"type": "integer", "minimum": 0,
                                                   "maximum": MAX_ID})
    app.extensions[EXTENSION] = api
    return api


def register(app, blueprint: Blueprint) -> None:
    """Register a face's API blueprint and describe its operations in the one document."""
    app.extensions[EXTENSION].register_blueprint(blueprint)


def document(app) -> dict:
    """Return this application's OpenAPI document."""
    cached = app.extensions.get("turnos.openapi")
    if cached is None:
        cached = app.extensions["turnos.openapi"] = app.extensions[EXTENSION].spec.to_dict()
    return cached
