"""Public shapes of stored rows: what the API and the events show of a ticket.

Nothing personal is ever in these shapes: a ticket has a code, a service and
at most a priority *category*.
"""

from . import catalog
from .timefmt import iso

STATUS_PATH = "/t/{visit_id}"


class Lookup:
    """Caches sites, services, desks and categories by id for one unit of work."""

    def __init__(self, db):
        self.db = db
        self._sites: dict[int, dict] = {}
        self._services: dict[int, dict] = {}
        self._desks: dict[int, dict] = {}
        self._categories: dict[str, dict] | None = None

    def site(self, site_id: int) -> dict:
        """Return a site by id (cached)."""
        if site_id not in self._sites:
            self._sites[site_id] = catalog.site_by_id(self.db, site_id)
        return self._sites[site_id]

    def service(self, service_id: int) -> dict:
        """Return a service by id (cached)."""
        if service_id not in self._services:
            self._services[service_id] = catalog.service_by_id(self.db, service_id)
        return self._services[service_id]

    def desk(self, desk_id: int | None) -> dict | None:
        """Return a desk by id (cached), or None."""
        if desk_id is None:
            return None
        if desk_id not in self._desks:
            self._desks[desk_id] = catalog.desk_by_id(self.db, desk_id)
        return self._desks[desk_id]

    def category_label(self, code: str | None) -> str | None:
        """Return the label of a priority category code."""
        if code is None:
            return None
        if self._categories is None:
            self._categories = {c["code"]: c for c in catalog.categories(self.db)}
        category = self._categories.get(code)
        return category["label"] if category else code

    def remember(self, *, site=None, service=None, desk=None) -> None:
        """Seed the cache with rows the caller already has."""
        if site:
            self._sites[site["id"]] = site
        if service:
            self._services[service["id"]] = service
        if desk:
            self._desks[desk["id"]] = desk


def status_path(ticket: dict) -> str:
    """Return the path of a ticket's public status page (the QR target)."""
    return STATUS_PATH.format(visit_id=ticket["visit_id"])


def show_code(code: str) -> str:
    """Return a booking's or an arrival's code as citizens read it: ``K7M4-QX2A``."""
    return f"{code[:4]}-{code[4:]}"


def ticket_json(ticket: dict, lookup: Lookup) -> dict:
    """Return the API shape of a ticket."""
    site = lookup.site(ticket["site_id"])
    service = lookup.service(ticket["service_id"])
    desk = lookup.desk(ticket["desk_id"])
    tz = site["timezone"]
    return {
        "id": ticket["id"],
        "code": ticket["code"],
        "site": site["code"],
        "service": service["code"],
        "service_name": service["name"],
        "priority": ticket["priority"],
        "priority_label": lookup.category_label(ticket["priority"]),
        "status": ticket["status"],
        "day": ticket["day"],
        "issued_at": iso(ticket["issued_at"], tz),
        "called_at": iso(ticket["called_at"], tz),
        "last_called_at": iso(ticket["last_called_at"], tz),
        "recalls": ticket["recalls"],
        "started_at": iso(ticket["started_at"], tz),
        "finished_at": iso(ticket["finished_at"], tz),
        "closed_at": iso(ticket["closed_at"], tz),
        "desk": desk["code"] if desk else None,
        "desk_name": desk["name"] if desk else None,
        "origin_id": ticket["origin_id"],
        "previous_id": ticket["previous_id"],
        "outcome": ticket["outcome"],
        "status_url": status_path(ticket),
    }


def call_json(ticket: dict, lookup: Lookup, *, recall: bool, at_ms: int | None = None) -> dict:
    """Return the ``ticket_called`` payload: what a waiting-room screen shows, and nothing more.

    Screens, kiosks and status pages hear every call of their site, so a call
    carries a preferential *mark*, never the category (Ley 1581 de 2012: send
    only what is shown). Staff pages read the category from the API.
    """
    site = lookup.site(ticket["site_id"])
    service = lookup.service(ticket["service_id"])
    desk = lookup.desk(ticket["desk_id"])
    return {
        "id": ticket["id"],
        "code": ticket["code"],
        "service": service["code"],
        "service_name": service["name"],
        "preferential": ticket["priority"] is not None,
        "desk": desk["code"] if desk else None,
        "desk_name": desk["name"] if desk else None,
        "called_at": iso(at_ms or ticket["last_called_at"], site["timezone"]),
        "recall": recall,
    }


def site_json(site: dict) -> dict:
    """Return the API shape of a site."""
    import json

    return {
        "id": site["id"], "code": site["code"], "name": site["name"],
        "timezone": site["timezone"], "policy": site["policy"],
        "policy_params": json.loads(site["policy_params"] or "{}"),
        "entity_name": site["entity_name"], "display_message": site["display_message"],
        "active": bool(site["active"]),
    }


def desk_json(desk: dict) -> dict:
    """Return the API shape of a desk (with its services and current holder)."""
    return {
        "id": desk["id"], "code": desk["code"], "name": desk["name"],
        "active": bool(desk["active"]), "services": desk.get("services", []),
        "holder": desk.get("holder"), "holder_name": desk.get("holder_name"),
    }


def qr_png(data: str, box_size: int = 8) -> bytes:
    """Return a QR code of some text (an address) as PNG bytes."""
    import io

    import qrcode

    code = qrcode.QRCode(box_size=box_size, border=2, error_correction=qrcode.constants.ERROR_CORRECT_M)
    code.add_data(data)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(out)
    return out.getvalue()
