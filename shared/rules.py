"""What an administrator may name, wherever it is named: the forms, the API, a layout file, the CLI.

Codes, desk codes, ticket prefixes, usernames and pictograms have one pattern
each. A ticket prefix may not clash with another service's of the same site:
the same letters, or letters that read like the other's preferential codes
(a preferential ``A`` ticket prints ``PA-001``, so a service ``PA`` beside a
service ``A`` would print two different ``PA-001`` the same day).
"""

import re

from flask_babel import lazy_gettext as _l

from . import store
from .errors import Conflict, Invalid

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")       # sites, services, categories
DESK_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,7}$")   # a desk's number or short code
PREFIX = re.compile(r"^[A-Z]{1,3}$")                         # the letters of a service's tickets
PICTOGRAM = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# The pictograms the kiosk draws: services (kiosk/static/pictograms/services/<name>.svg; none
# chosen: one from the service's words) and priority categories.
SERVICE_PICTOGRAMS = ("pagos", "comercio", "familia", "mayores", "documentos", "planeacion", "salud",
                      "educacion", "transito", "tramite")
CATEGORY_PICTOGRAMS = ("discapacidad", "gestante", "infancia", "adulto_mayor", "veterano",
                       "vulnerabilidad")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$")


def is_code(value) -> bool:
    """Tell whether a value is a valid code (letters, digits, - and _; no spaces)."""
    return isinstance(value, str) and CODE.match(value) is not None


def is_prefix(value) -> bool:
    """Tell whether a value is a valid ticket prefix (one to three capital letters)."""
    return isinstance(value, str) and PREFIX.match(value) is not None


def prefixes_clash(a: str, b: str) -> bool:
    """Tell whether two services' prefixes could print the same code (same letters, or P + the other's)."""
    return a == b or a == "P" + b or b == "P" + a


def check_prefix(db, site_id: int, prefix: str, service_id: int | None = None) -> None:
    """Refuse a prefix another service of the site uses, or one its preferential codes could mistake."""
    other = store.service_with_prefix(db, site_id, prefix)
    if other is not None and other["id"] != service_id:
        raise Conflict(_l("El prefijo «%(p)s» ya lo usa el servicio «%(s)s».", p=prefix,
                          s=other["name"]), field="prefix")
    for service in store.list_services(db, site_id):
        if service["id"] != service_id and service["prefix"] != prefix \
                and prefixes_clash(prefix, service["prefix"]):
            raise Conflict(_l("El prefijo «%(p)s» se confundiría con los turnos preferenciales "
                              "de «%(s)s» (P + prefijo).", p=prefix, s=service["name"]),
                           field="prefix")


def check_site_prefixes(site_code: str, services: list[dict]) -> None:
    """Refuse a site whose services (each ``{code, prefix}``) would print clashing ticket codes."""
    for i, service in enumerate(services):
        for earlier in services[:i]:
            if service["prefix"] == earlier["prefix"]:
                raise Invalid(_l("En la sede «%(s)s» los servicios «%(a)s» y «%(b)s» tendrían el "
                                 "mismo prefijo «%(p)s».", s=site_code, a=earlier["code"],
                                 b=service["code"], p=service["prefix"]), code="invalid_layout")
            if prefixes_clash(service["prefix"], earlier["prefix"]):
                raise Invalid(_l("En la sede «%(s)s» los prefijos «%(a)s» y «%(b)s» se confundirían: "
                                 "un turno preferencial de uno se imprime como el otro (P + prefijo).",
                                 s=site_code, a=earlier["prefix"], b=service["prefix"]),
                              code="invalid_layout")
