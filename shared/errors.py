"""Domain errors: each carries a stable code, an HTTP status and a translatable message."""

from flask_babel import lazy_gettext as _l


class DomainError(Exception):
    """A refusal the user can understand; nothing was written when it is raised."""

    status = 400
    code = "bad_request"

    def __init__(self, message, *, code: str | None = None, status: int | None = None,
                 **details):
        super().__init__(str(message) if not hasattr(message, "_args") else message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details

    def to_dict(self) -> dict:
        """Return the JSON body of the error: {error, message, ...details}."""
        body = {"error": self.code, "message": str(self.message)}
        body.update(self.details)
        return body

    def __str__(self) -> str:
        return str(self.message)


class Invalid(DomainError):
    """The request is malformed: a missing field, a wrong type, a value out of range."""

    status = 400
    code = "invalid"


class Unauthorized(DomainError):
    """No valid credentials were presented."""

    status = 401
    code = "unauthorized"


class Forbidden(DomainError):
    """The credentials are valid but do not allow this action."""

    status = 403
    code = "forbidden"


class NotFound(DomainError):
    """The thing addressed does not exist."""

    status = 404
    code = "not_found"


class Conflict(DomainError):
    """The action clashes with the current state (a desk already held, a duplicate)."""

    status = 409
    code = "conflict"


class IllegalTransition(Conflict):
    """A ticket cannot go from its current state to the one asked for."""

    code = "illegal_transition"


class Closed(Conflict):
    """The service or site is closed, disabled or at its daily cap."""

    code = "service_closed"


class TooMany(DomainError):
    """Too many requests from one client in a short time."""

    status = 429
    code = "rate_limited"


def not_found(kind: str, ident) -> NotFound:
    """Build the standard 'unknown X' error."""
    labels = {
        "site": _l("No existe la sede «%(ident)s».", ident=ident),
        "service": _l("No existe el servicio «%(ident)s».", ident=ident),
        "desk": _l("No existe el módulo «%(ident)s».", ident=ident),
        "ticket": _l("No existe el turno «%(ident)s».", ident=ident),
        "user": _l("No existe el usuario «%(ident)s».", ident=ident),
        "device": _l("No existe el dispositivo «%(ident)s».", ident=ident),
        "priority": _l("No existe la categoría preferencial «%(ident)s».", ident=ident),
    }
    return NotFound(labels.get(kind, _l("No existe «%(ident)s».", ident=ident)),
                    code=f"unknown_{kind}")
