"""The queue engine: issue, call, recall, start, finish, no-show, transfer, cancel, close.

Each operation runs in one write transaction and, only after it commits,
announces what changed. An illegal transition raises a DomainError and
writes nothing.

Ticket codes: ``<prefix>-<number>`` (``A-007``) for general tickets and
``P<prefix>-<number>`` (``PA-008``) for tickets issued as preferential. General
and preferential tickets of a service share one number sequence per local
day, so a number is never repeated within a service and day.

Transfers close the current segment (status ``transferred``) and open a new
segment for the target service with the same code, number and priority. The
new segment keeps the citizen's place: it queues by the original arrival
time, so a citizen sent elsewhere by the entity does not go to the back of
the line.
"""

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from flask import g
from flask_babel import lazy_gettext as _l

from . import catalog, estimate, events, kpi, priority, store
from .clock import current_clock
from .db import get_db, immediate
from .errors import Closed, Conflict, IllegalTransition, Invalid, not_found
from .hours import day_over, is_open
from .present import Lookup, call_json, ticket_json
from .timefmt import day_bounds_ms, local_datetime, local_day, parse_day

STATUS_LABELS = {
    "waiting": _l("en espera"), "called": _l("llamado"), "serving": _l("en atención"),
    "finished": _l("atendido"), "no_show": _l("no se presentó"),
    "transferred": _l("transferido"), "cancelled": _l("cancelado"),
    "abandoned": _l("cerrado sin atender"),
}

OUTCOMES = ("resolved", "pending")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# A no-show marked by mistake (a stray key, the wrong button) can be taken back this long.
UNDO_NO_SHOW_SECONDS = 10


@dataclass
class Actor:
    """Who does something and from where: a user, a device, or the system."""

    user_id: int | None = None
    device_id: int | None = None
    role: str | None = None


SYSTEM = Actor()


@dataclass(frozen=True)
class MayAct:
    """Who may act, checked by the statement that acts: a desk's call or step reads nothing first.

    ``condition``: a SQL condition with its parameters (``auth.ticket_condition``
    over the ticket's row, ``auth.desk_condition`` for a claim); ``explain(what)``:
    when the statement changed nothing, read what was asked for (a ticket id, a
    desk) and refuse the caller as a read first would have, or return it: then
    its state, not the caller, is what refused the action.
    """

    condition: tuple[str, dict]
    explain: Callable[[object], dict]


def _row_id(ticket_id) -> int | None:
    """Return the row id a ticket id given in any form names (``store.as_id``; never a bool), or None."""
    return None if isinstance(ticket_id, bool) else store.as_id(ticket_id)


class QueueEngine:
    """Applies the queue rules to one database connection."""

    def __init__(self, db, clock, announcer=None):
        self.db = db
        self.clock = clock
        self.announce = events.AfterCommit(db, announcer or events.NullAnnouncer())
        self.lookup = Lookup(db)

    # --- lookups -----------------------------------------------------------

    def site(self, ident) -> dict:
        """Return a site by code or id, or raise unknown_site (a site row is returned as is)."""
        if isinstance(ident, dict):
            return ident
        site = catalog.find_site(self.db, ident)
        if site is None:
            raise not_found("site", ident)
        self.lookup.remember(site=site)
        return site

    def service(self, site: dict, ident) -> dict:
        """Return a service of a site by code or id, or raise unknown_service (a row is returned as is)."""
        if isinstance(ident, dict):
            return ident
        service = catalog.find_service(self.db, site["id"], ident)
        if service is None:
            raise not_found("service", ident)
        self.lookup.remember(service=service)
        return service

    def desk(self, ident, site: dict | None = None) -> dict:
        """Return a desk by id, ``site:code`` or code within a site, or raise unknown_desk."""
        desk = catalog.find_desk(self.db, ident, site["id"] if site else None)
        if desk is None:
            raise not_found("desk", ident)
        self.lookup.remember(desk=desk)
        return desk

    def ticket(self, ticket_id) -> dict:
        """Return a ticket by id, or raise unknown_ticket.

        A ticket row the caller already read is returned as is: every change
        checks the ticket's state again in the statement that makes it.
        """
        if isinstance(ticket_id, dict):
            return ticket_id
        return self._read_ticket(ticket_id, lambda i: (store.ticket_by_id(self.db, i), None))[0]

    def ticket_with_desk_holder(self, ticket_id) -> tuple[dict, int | None]:
        """Return a ticket (or refuse, as ``ticket``) and the user holding its desk now, or None."""
        return self._read_ticket(ticket_id,
                                 lambda i: store.ticket_with_desk_holder(self.db, i))

    @staticmethod
    def _read_ticket(ticket_id, read) -> tuple[dict, int | None]:
        """Read a ticket by an id given in any form with ``read(id)``; refuse an unknown one."""
        ticket, holder = None, None
        if (key := _row_id(ticket_id)) is not None:
            ticket, holder = read(key)
        if ticket is None:
            raise not_found("ticket", ticket_id)
        return ticket, holder

    def today(self, site: dict) -> str:
        """Return the site's current local day."""
        return local_day(self.clock.now_ms(), site["timezone"])

    def last_ended_day(self, site: dict) -> str:
        """Return the site's latest local day that is over: today once its hours have ended, else yesterday.

        A site always open (no hours) is never over for the day: its yesterday.
        """
        local = local_datetime(self.clock.now_ms(), site["timezone"])
        if day_over(site["opening_hours"], site["holidays"], local):
            return local.date().isoformat()
        return (local.date() - timedelta(days=1)).isoformat()

    def unclosed_days(self, sites: list[dict]) -> list[dict]:
        """Return the days of these sites that the nightly close missed: tickets still open on them.

        A day is missed once a later day of its site is over too (``last_ended_day``):
        the night after it has passed whatever the server's time zone, so the job
        that runs at night had its chance. Each: the site, the day, how many tickets;
        the newest day first.
        """
        by_id = {site["id"]: site for site in sites}
        ended = {site_id: self.last_ended_day(site) for site_id, site in by_id.items()}
        missed = [{"site": by_id[row["site_id"]], "day": str(row["day"]), "open": row["open"]}
                  for row in store.open_ticket_days(self.db)
                  if row["site_id"] in by_id and str(row["day"]) < ended[row["site_id"]]]
        return sorted(missed, key=lambda m: (m["day"], -m["site"]["id"]), reverse=True)

    def is_open(self, site: dict, service: dict | None = None) -> bool:
        """Tell whether a site (and a service of it) takes tickets now."""
        local = local_datetime(self.clock.now_ms(), site["timezone"])
        if not site["active"] or not is_open(site["opening_hours"], site["holidays"], local):
            return False
        if service is not None:
            return bool(service["active"]) and is_open(service["opening_hours"], "[]", local)
        return True

    # --- issuing ----------------------------------------------------------

    def issue(self, site_ident, service_ident, priority_code: str | None = None,
              actor: Actor = SYSTEM, *, channel: str = "walk_in", queue_at: int | None = None,
              appointment_at: int | None = None, awaiting_arrival: bool = False,
              checkin_code: str | None = None, event_data: dict | None = None,
              outlook: dict | None = None) -> dict:
        """Issue a new ticket and return it with the people ahead and the estimated wait.

        ``site_ident`` is a site's code or id, or the site row the caller already read.
        Channels other than the kiosk (``shared.appointments``, ``shared.remote``) say
        how the visit began, where it queues (an appointment: at its slot) and whether
        its citizen still has to confirm arrival before it can be called. A caller
        that issues inside a transaction of its own passes the ``outlook`` it read
        before opening it, so that the replay's reads hold no lock.
        """
        db = self.db
        site = self.site(site_ident)
        service = self.service(site, service_ident)
        if priority_code is not None:
            category = store.find_category(db, priority_code)
            if category is None or not category["active"]:
                raise not_found("priority", priority_code)
        if not self.is_open(site, service):
            raise Closed(_l("El servicio «%(name)s» no está disponible en este momento.",
                            name=service["name"]))
        now = self.clock.now_ms()
        day = local_day(now, site["timezone"])
        # Who is ahead and the estimate come from one replay of the room, read before the write
        # lock is taken (a replay reads only short index ranges: its cost is the same at the
        # day's first ticket and at its twenty-thousandth).
        walk_in = channel == "walk_in"
        if walk_in and outlook is None:
            outlook = self.outlook(site, service, priority_code)
        with immediate(db):
            number = store.next_number(db, service["id"], day)
            if service["daily_cap"] and number > service["daily_cap"]:
                raise Closed(_l("Se agotaron los turnos de hoy para «%(name)s».",
                                name=service["name"]), code="daily_cap_reached")
            code = f"{'P' if priority_code else ''}{service['prefix']}-{number:03d}"
            public_id = secrets.token_urlsafe(12)
            ticket = store.insert_ticket(db, {
                "public_id": public_id, "visit_id": public_id, "site_id": site["id"],
                "service_id": service["id"], "day": day, "number": number, "code": code,
                "priority": priority_code, "status": "waiting", "queue_at": now, "issued_at": now,
                "device_id": actor.device_id, "user_id": None,
                "target_wait_seconds": service["target_wait_seconds"],
                "estimated_wait_ms": round(outlook["estimated_wait_seconds"] * 1000) if outlook
                else None,
                **({} if walk_in else {
                    "channel": channel, "queue_at": now if queue_at is None else queue_at,
                    "appointment_at": appointment_at, "arrived": not awaiting_arrival,
                    "arrived_at": None if awaiting_arrival else now, "checkin_code": checkin_code}),
            })
            data = dict(event_data or {}, **({"priority": priority_code} if priority_code else {}),
                        **({} if walk_in else {"channel": channel}))
            store.insert_event(db, ticket, "issued", now, user_id=actor.user_id,
                               device_id=actor.device_id, data=data or None)
        estimate.arrived(site["id"]) if walk_in else estimate.invalidate(site["id"])
        result = ticket_json(ticket, self.lookup)
        result.update(outlook or self.with_estimate(ticket))
        self.announce.ticket_changed(events.TICKET_ISSUED, ticket, self.lookup)
        self._queue_changed(site)
        return result

    def outlook(self, site_ident, service_ident, priority_code: str | None = None) -> dict:
        """Return the people ahead and the estimated wait of a walk-in ticket about to be issued."""
        site = self.site(site_ident)
        service = self.service(site, service_ident)
        return estimate.new_ticket(self.db, site, service, priority_code is not None,
                                   self.clock.now_ms())

    def with_estimate(self, ticket: dict) -> dict:
        """Return a ticket's API shape with people ahead, the estimated wait and its range."""
        body = ticket_json(ticket, self.lookup)
        if ticket["status"] == "waiting":
            body.update(estimate.waiting_ticket(self.db, self.lookup.site(ticket["site_id"]),
                                                ticket, self.clock.now_ms()))
        else:
            body["ahead"] = 0
            body["estimated_wait_seconds"] = 0 if ticket["status"] in ("called", "serving") else None
            body["estimated_wait_range_seconds"] = None
        return body

    def waiting_in_order(self, site: dict) -> list[dict]:
        """Return today's waiting tickets of a site in the order they will be called (``position``)."""
        return estimate.predicted_order(self.db, site, self.clock.now_ms())

    # --- calling ----------------------------------------------------------

    def call_next(self, desk: dict, actor: Actor, may: MayAct | None = None) -> dict | None:
        """Call the next waiting ticket for a desk under its site's policy, or None.

        ``may``: who may call at the desk, checked by the claim itself (without it the
        caller checked already).
        """
        db = self.db
        site = self.lookup.site(desk["site_id"])
        self._check_desk_can_call(desk)
        now = self.clock.now_ms()
        with immediate(db):
            store.lock_site(db, site["id"])
            # Only the ratio rule keeps a state (its streak): no read on every call otherwise.
            state = store.policy_state(db, site["id"]) if site["policy"] == "ratio" else {}
            appointments = site.get("appointment_class") or "slot"
            plan = priority.plan(site["policy"], json.loads(site["policy_params"] or "{}"),
                                 state, now, site.get("max_wait_seconds"), appointments)
            claimed = store.claim_next(db, site_id=site["id"], desk_id=desk["id"],
                                       day=local_day(now, site["timezone"]), order_by=plan.order_by,
                                       order_params=plan.params, now_ms=now, user_id=actor.user_id,
                                       record=priority.call_record(plan, now),
                                       condition=may.condition if may else ("", {}))
            # Only the ratio's streak depends on the ticket called: read it before the COMMIT.
            # Otherwise the claim travels with the COMMIT (one round trip under the site's lock).
            if site["policy"] == "ratio" and (ticket := claimed.row()) is not None:
                new_state = priority.next_state(
                    site["policy"], state,
                    "p" if priority.preferential_call(appointments, ticket, now) else None)
                if new_state != state:
                    store.set_policy_state(db, site["id"], new_state)
        ticket = claimed.row()
        if ticket is None:  # nobody waits, the desk is paused or still holds a ticket, or not yours
            if may is not None:
                may.explain(desk)
            self.check_not_paused(desk)
            self._check_desk_free(desk)
            return None
        self._announce_call(ticket, recall=False)
        return ticket

    def call_ticket(self, ticket_id, desk: dict, actor: Actor) -> dict:
        """Call a chosen waiting ticket to a desk (out of the policy's order)."""
        db = self.db
        site = self.lookup.site(desk["site_id"])
        self._check_desk_can_call(desk)
        ticket = self.ticket(ticket_id)
        if ticket["site_id"] != desk["site_id"]:
            raise Invalid(_l("El turno %(code)s es de otra sede.", code=ticket["code"]),
                          code="wrong_site")
        if ticket["day"] != self.today(site):
            raise IllegalTransition(_l("El turno %(code)s no es de hoy.", code=ticket["code"]))
        now = self.clock.now_ms()
        with immediate(db):
            store.lock_site(db, site["id"])
            self.check_not_paused(desk)
            self._check_desk_free(desk)
            change = store.transition_logged(db, ticket["id"], ("waiting",), {
                "status": "called", "called_at": now, "last_called_at": now,
                "desk_id": desk["id"], "user_id": actor.user_id}, kind="called", at=now,
                user_id=actor.user_id, device_id=None,
                data={"rule": "chosen", "policy": site["policy"]})
        called = change.row()
        if called is None:  # nothing changed: the ticket no longer waits
            raise self._illegal(ticket, "call")
        self._announce_call(called, recall=False)
        return called

    def recall(self, ticket_id, actor: Actor) -> dict:
        """Call a called ticket again at the same desk."""
        ticket = self.ticket(ticket_id)
        now = self.clock.now_ms()
        with immediate(self.db):
            recalled = store.recall(self.db, ticket["id"], ticket["desk_id"] or 0, now)
            if recalled is None:
                raise self._illegal(ticket, "recall")
            store.insert_event(self.db, recalled, "recalled", now, desk_id=recalled["desk_id"],
                               user_id=actor.user_id, data={"recall": recalled["recalls"]})
        self._announce_call(recalled, recall=True)
        return recalled

    # --- service ---------------------------------------------------------------

    def start(self, ticket_id, actor: Actor, may: MayAct | None = None) -> dict:
        """Start serving a called ticket (``may``: who may, checked as it moves; see ``_move``)."""
        # The desk holds the same ticket, called at the same moment: no estimate changes.
        return self._move(ticket_id, "start", ("called",), "started", events.TICKET_STARTED, actor,
                          lambda now: {"status": "serving", "started_at": now}, changes_room=False,
                          may=may)

    def finish(self, ticket_id, actor: Actor, outcome: str | None = None, note: str = "",
               may: MayAct | None = None) -> dict:
        """Finish serving a ticket, with an optional outcome and note."""
        if outcome is not None and outcome not in OUTCOMES:
            raise Invalid(_l("Resultado no válido: use resolved o pending."), code="invalid_outcome")
        if not isinstance(note, str) or len(note) > 500:
            raise Invalid(_l("La nota debe ser un texto de máximo 500 caracteres."),
                          code="invalid_note")
        return self._move(ticket_id, "finish", ("serving",), "finished", events.TICKET_FINISHED,
                          actor, lambda now: {"status": "finished", "finished_at": now,
                                              "closed_at": now, "outcome": outcome, "note": note},
                          data={"outcome": outcome} if outcome else None, may=may)

    def no_show(self, ticket_id, actor: Actor, may: MayAct | None = None) -> dict:
        """Close a called ticket whose citizen did not come."""
        return self._move(ticket_id, "no_show", ("called",), "no_show", events.TICKET_NO_SHOW,
                          actor, lambda now: {"status": "no_show", "closed_at": now}, may=may)

    def undo_no_show(self, ticket_id, actor: Actor) -> dict:
        """Take back a no-show marked moments ago: the ticket is called at its desk again.

        Allowed for ``UNDO_NO_SHOW_SECONDS`` after the no-show, while the desk
        holds no other ticket. Nothing is erased: the no-show stays in the
        ticket's log, followed by a ``no_show_undone`` event.
        """
        db = self.db
        ticket = self.ticket(ticket_id)
        now = self.clock.now_ms()
        with immediate(db):
            fresh = store.ticket_by_id(db, ticket["id"]) or ticket
            late = fresh["closed_at"] is None or now - fresh["closed_at"] > UNDO_NO_SHOW_SECONDS * 1000
            if fresh["status"] != "no_show" or late or fresh["desk_id"] is None:
                raise IllegalTransition(
                    _l("Ya no se puede deshacer: el turno %(code)s está %(status)s y solo se deshace "
                       "un «no se presentó» de los últimos %(n)s segundos.", code=fresh["code"],
                       status=STATUS_LABELS[fresh["status"]], n=UNDO_NO_SHOW_SECONDS),
                    code="undo_too_late", status_now=fresh["status"])
            self._check_desk_free(self.lookup.desk(fresh["desk_id"]))
            change = store.transition_logged(db, fresh["id"], ("no_show",),
                                             {"status": "called", "closed_at": None},
                                             kind="no_show_undone", at=now, user_id=actor.user_id,
                                             device_id=actor.device_id,
                                             data={"no_show_at": fresh["closed_at"]})
        restored = change.row()
        if restored is None:  # nothing changed: another request moved the ticket meanwhile
            raise self._illegal(fresh, "undo_no_show")
        estimate.invalidate(restored["site_id"])
        self.announce.ticket_changed(events.TICKET_NO_SHOW_UNDONE, restored, self.lookup)
        return restored

    def cancel(self, ticket_id, actor: Actor, reason: str = "") -> dict:
        """Cancel a waiting or called ticket."""
        return self._move(ticket_id, "cancel", ("waiting", "called"), "cancelled",
                          events.TICKET_CANCELLED, actor,
                          lambda now: {"status": "cancelled", "closed_at": now},
                          data={"reason": reason} if reason else None)

    def transfer(self, ticket_id, service_ident, actor: Actor, note: str = "") -> dict:
        """Close a ticket's segment and open a new one in another service; return the new one."""
        db = self.db
        ticket = self.ticket(ticket_id)
        site = self.lookup.site(ticket["site_id"])
        target = self.service(site, service_ident)
        if target["id"] == ticket["service_id"]:
            raise Invalid(_l("El turno ya está en el servicio «%(name)s».", name=target["name"]),
                          code="same_service")
        if not target["active"]:
            raise Closed(_l("El servicio «%(name)s» está inactivo.", name=target["name"]))
        if not isinstance(note, str) or len(note) > 500:
            raise Invalid(_l("La nota debe ser un texto de máximo 500 caracteres."),
                          code="invalid_note")
        now = self.clock.now_ms()
        with immediate(db):
            store.lock_site(db, site["id"])
            sets = {"status": "transferred", "closed_at": now}
            if ticket["status"] == "serving":
                sets["finished_at"] = now
            closed = store.transition(db, ticket["id"], ("waiting", "called", "serving"), sets)
            if closed is None:
                raise self._illegal(ticket, "transfer")
            segment = store.insert_ticket(db, {
                "public_id": secrets.token_urlsafe(12), "visit_id": ticket["visit_id"],
                "site_id": ticket["site_id"],
                "service_id": target["id"], "day": ticket["day"], "number": ticket["number"],
                "code": ticket["code"], "priority": ticket["priority"], "status": "waiting",
                "queue_at": ticket["queue_at"], "issued_at": now,
                "origin_id": ticket["origin_id"] or ticket["id"], "previous_id": ticket["id"],
                "device_id": ticket["device_id"], "note": note,
                "target_wait_seconds": target["target_wait_seconds"],
            })
            store.insert_event(db, closed, "transferred", now, desk_id=closed["desk_id"],
                               user_id=actor.user_id,
                               data={"to_ticket": segment["id"], "to_service": target["code"],
                                     "note": note})
            store.insert_event(db, segment, "issued", now, user_id=actor.user_id,
                               data={"transferred_from": ticket["id"]})
        estimate.invalidate(site["id"])
        self.announce.ticket_changed(events.TICKET_TRANSFERRED, closed, self.lookup,
                                     extra={"to": ticket_json(segment, self.lookup)})
        self._queue_changed(site)
        return segment

    def close_day_plan(self, site: dict, up_to_day=None) -> dict:
        """Check the day to close (a real date, not after the site's today) and count what would change.

        Every caller (API, CLI, page) goes through here, so a malformed or
        future day is refused the same way everywhere and nothing is touched.
        """
        today = self.today(site)
        day = today if up_to_day in (None, "") else up_to_day
        if not isinstance(day, str) or not _ISO_DAY.match(day):
            raise Invalid(_l("El día «%(d)s» no es una fecha válida: use AAAA-MM-DD.", d=str(day)[:40]),
                          code="invalid_day", field="day")
        try:
            parse_day(day)
        except ValueError:
            raise Invalid(_l("El día «%(d)s» no existe en el calendario.", d=day),
                          code="invalid_day", field="day") from None
        if day > today:
            raise Invalid(_l("No se puede cerrar un día futuro (%(d)s): hoy es %(t)s en la sede.",
                             d=day, t=today), code="future_day", field="day")
        counts = store.count_open_tickets(self.db, site["id"], day)
        return {"site": site["code"], "day": day, "abandoned": counts["waiting"],
                "no_show": counts["called"], "finished": counts["serving"],
                "sessions_closed": len(self._sessions_of_days(site, day))}

    def _sessions_of_days(self, site: dict, day: str) -> list[dict]:
        """Return the open desk sessions begun on or before a local day (a later one is still serving)."""
        return store.open_sessions_of_site(self.db, site["id"], day_bounds_ms(day, site["timezone"])[1])

    def close_day(self, site: dict, up_to_day: str | None = None, *, dry_run: bool = False) -> dict:
        """Close a site's day: waiting tickets become abandoned, open ones are closed.

        Tickets still called are closed as no-shows, tickets still in service
        as finished, all flagged ``automatic`` (on the ticket, so reports and
        exports count them apart, and in their event); open desk sessions end.
        Numbering restarts by itself on the next local day. With ``dry_run``
        only the plan (what would change) is returned.
        """
        plan = self.close_day_plan(site, up_to_day)
        if dry_run:
            return dict(plan, dry_run=True)
        db = self.db
        now = self.clock.now_ms()
        day = plan["day"]
        with immediate(db):
            store.lock_site(db, site["id"])
            abandoned = store.close_open_tickets(db, site["id"], day, "waiting", "abandoned", now)
            no_shows = store.close_open_tickets(db, site["id"], day, "called", "no_show", now)
            finished = store.close_open_tickets(db, site["id"], day, "serving", "finished", now)
            for kind, rows in (("abandoned", abandoned), ("no_show", no_shows),
                               ("finished", finished)):
                for ticket in rows:
                    store.insert_event(db, ticket, kind, now, desk_id=ticket["desk_id"],
                                       data={"automatic": True, "reason": "close_day"})
            sessions = self._sessions_of_days(site, day)
            for session in sessions:
                store.end_session(db, session["id"], now, "close_day")
        summary = {"site": site["code"], "day": day, "abandoned": len(abandoned),
                   "no_show": len(no_shows), "finished": len(finished),
                   "sessions_closed": len(sessions), "dry_run": False}
        estimate.invalidate(site["id"])
        self.announce.day_closed(site["id"], summary)
        self._queue_changed(site)
        return summary

    # --- reading -----------------------------------------------------------

    def waiting_summary(self, site: dict) -> list[dict]:
        """Return each active service of a site with its waiting counts and longest wait."""
        now = self.clock.now_ms()
        counts = store.waiting_counts(self.db, site["id"], local_day(now, site["timezone"]))
        rows = []
        for service in store.list_services(self.db, site["id"], only_active=True):
            c = counts.get(service["id"], {})
            oldest = c.get("oldest_queue_at")
            rows.append({
                "code": service["code"], "name": service["name"], "prefix": service["prefix"],
                "group": service["group_name"],
                "waiting_general": c.get("general", 0), "waiting_preferential": c.get("preferential", 0),
                "waiting": c.get("general", 0) + c.get("preferential", 0),
                "longest_wait_seconds": kpi.seconds(now - oldest) if oldest else 0.0,
                "target_wait_seconds": service["target_wait_seconds"],
            })
        return rows

    def recent_calls(self, site: dict, limit: int = 10) -> list[dict]:
        """Return today's last calls at a site, newest first, as ``ticket_called`` payloads."""
        start = self.clock.now_ms() - 24 * 3600 * 1000
        rows = store.last_calls(self.db, site["id"], limit, start)
        return [call_json(r, self.lookup, recall=r["kind"] == "recalled", at_ms=r["at"])
                for r in rows]

    def snapshot(self, site: dict, limit: int = 10) -> dict:
        """Return what a screen needs on connect: waiting counts and the last calls."""
        return {"site": site["code"], "site_name": site["name"],
                "display_message": site["display_message"],
                "services": self.waiting_summary(site),
                "last_calls": self.recent_calls(site, limit),
                "server_time": self.clock.now_ms()}

    # --- internals -------------------------------------------------------------

    def _check_desk_can_call(self, desk: dict) -> None:
        """Refuse calls from an inactive desk."""
        if not desk["active"]:
            raise Conflict(_l("%(desk)s está inactivo.", desk=desk["name"]),
                           code="desk_inactive")

    def check_not_paused(self, desk: dict) -> None:
        """Refuse to call from a desk whose session is paused."""
        if store.desk_paused(self.db, desk["id"]):
            raise Conflict(_l("El módulo está en pausa: reanude antes de llamar."),
                           code="desk_paused")

    def _check_desk_free(self, desk: dict) -> None:
        """Refuse a call while the desk holds a called or in-service ticket."""
        held = store.desk_open_ticket(self.db, desk["id"])
        if held is not None:
            raise Conflict(_l("%(desk)s tiene el turno %(code)s en curso: finalícelo, "
                              "márquelo como no presentado o transfiéralo antes de llamar otro.",
                              desk=desk["name"], code=held["code"]),
                           code="desk_busy", ticket=held["id"])

    def _move(self, ticket_id, action: str, from_states: tuple[str, ...], event_kind: str,
              announce_event: str, actor: Actor, sets, data=None, changes_room=True,
              may: MayAct | None = None) -> dict:
        """Apply one checked transition, log its event and announce it.

        ``changes_room``: whether the change moves anything a wait estimate reads (then
        every process forgets the site's cached replays). ``may``: who may move the
        ticket, checked by the change itself; the ticket (an id then) is read only
        when nothing changed, to say why. Without it the caller checked a ticket it read.
        """
        if may is None:
            ticket = self.ticket(ticket_id)
            key, condition = ticket["id"], ("", {})
        else:
            ticket, condition = None, may.condition
            key = _row_id(ticket_id) or 0  # 0: no row
        now = self.clock.now_ms()
        with immediate(self.db):  # the change and its event travel with the COMMIT
            change = store.transition_logged(self.db, key, from_states, sets(now),
                                             kind=event_kind, at=now, user_id=actor.user_id,
                                             device_id=actor.device_id, data=data,
                                             condition=condition)
        moved = change.row()
        if moved is None:  # nothing changed: the caller may not, or the state does not allow it
            raise self._illegal(ticket or may.explain(ticket_id), action)
        if changes_room:
            estimate.invalidate(moved["site_id"])
        self.announce.ticket_changed(announce_event, moved, self.lookup)
        if "waiting" in from_states:
            site = self.lookup.site(moved["site_id"])
            self._queue_changed(site)
        return moved

    def _queue_changed(self, site: dict) -> None:
        """Announce a site's new waiting counts (read only if the announcer sends them now)."""
        self.announce.queue_changed(site["id"], lambda: self.waiting_summary(site))

    def _illegal(self, ticket: dict, action: str) -> IllegalTransition:
        """Build the refusal for an action the ticket's current state does not allow."""
        fresh = store.ticket_by_id(self.db, ticket["id"]) or ticket
        verbs = {"call": _l("llamar"), "recall": _l("volver a llamar"), "start": _l("iniciar"),
                 "finish": _l("finalizar"), "no_show": _l("marcar como no presentado"),
                 "cancel": _l("cancelar"), "transfer": _l("transferir"),
                 "undo_no_show": _l("deshacer el «no se presentó» de")}
        return IllegalTransition(
            _l("No se puede %(verb)s el turno %(code)s: está %(status)s.", verb=verbs[action],
               code=fresh["code"], status=STATUS_LABELS[fresh["status"]]),
            status_now=fresh["status"])

    def _announce_call(self, ticket: dict, *, recall: bool) -> None:
        """Announce a call or recall to the site, the desk and the ticket's status page."""
        payload = call_json(ticket, self.lookup, recall=recall)
        estimate.invalidate(ticket["site_id"])
        self.announce.ticket_called(ticket, payload)
        if not recall:
            site = self.lookup.site(ticket["site_id"])
            self._queue_changed(site)

    # --- judgement -------------------------------------------------------------

    def mark_preferential(self, ticket_id, priority_code, actor: Actor, reason: str) -> dict:
        """Make a waiting general ticket preferential at an official's judgement.

        The printed code does not change; the ticket queues as preferential from
        now on. Who did it and why go to the ticket's log and the audit log.
        """
        db = self.db
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
            raise Invalid(_l("Escriba el motivo (máximo 200 caracteres)."), code="invalid_reason")
        category = store.find_category(db, priority_code) if isinstance(priority_code, str) else None
        if category is None or not category["active"]:
            raise not_found("priority", priority_code)
        ticket = self.ticket(ticket_id)
        now = self.clock.now_ms()
        with immediate(db):
            store.lock_site(db, ticket["site_id"])
            marked = store.mark_preferential(db, ticket["id"], category["code"])
            if marked is None:
                fresh = store.ticket_by_id(db, ticket["id"])
                if fresh["priority"] is not None:
                    raise Conflict(_l("El turno %(code)s ya es preferencial.", code=fresh["code"]),
                                   code="already_preferential")
                raise IllegalTransition(
                    _l("Solo un turno en espera puede marcarse como preferencial: %(code)s está "
                       "%(status)s.", code=fresh["code"], status=STATUS_LABELS[fresh["status"]]),
                    status_now=fresh["status"])
            detail = {"priority": category["code"], "reason": reason.strip()}
            store.insert_event(db, marked, "marked_preferential", now, user_id=actor.user_id,
                               device_id=actor.device_id, data=detail)
            store.audit(db, now, actor.user_id, "ticket.mark_preferential", f"ticket:{marked['id']}",
                        dict(detail, code=marked["code"]))
        site = self.lookup.site(marked["site_id"])
        estimate.invalidate(site["id"])
        self._queue_changed(site)
        self.announce.ticket_status(marked)
        return marked


def current_engine() -> QueueEngine:
    """Return this request's engine, bound to its connection, clock and announcer."""
    engine = g.get("engine")
    if engine is None:
        engine = g.engine = QueueEngine(get_db(), current_clock(), events.current_announcer())
    return engine
