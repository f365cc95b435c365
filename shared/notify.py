"""Telling the citizen: e-mail (SMTP) and a webhook for SMS or WhatsApp gateways; the contact's end.

Everything here is optional and off by default: a site turns on e-mail or the
webhook (``shared.channels``: ``[notifications]``), and the server must have
the SMTP settings (``SMTP_HOST`` ...) or the webhook's address
(``NOTIFY_WEBHOOK_URL``). The citizen then may leave an e-mail address or a
phone number when booking or taking a ticket from a phone.

**What is sent.** ``booked`` (the booking's code and time), ``reminder``
(``reminder_hours`` before the slot, unless it was booked closer than that),
``near`` (``near_ahead`` or fewer people
ahead; for a ticket from a phone, it is time to come) and ``called`` (the desk).
The status page itself alerts while it is open (sound, vibration, a browser
notification): that needs no contact at all.

**How.** Messages are rows of an outbox (``notifications``), written in the
same transaction as the booking (so a rollback sends nothing) or by the
worker; each has a ``dedupe`` key, so it is queued once. The worker
(``shared.channel_worker``, every ``CHANNELS_INTERVAL_SECONDS`` in ``serve``) runs on the one
server process holding the ``channels`` lease (``shared.cluster``): it closes
appointments whose check-in window passed (no-shows) and unconfirmed tickets
from phones past their grace, queues reminders and "near"/"called" messages,
sends what is due (outside any request: a call never waits for a mail server),
retries a failure later (30 s, doubling, six tries) and then gives up, and
deletes every contact whose visit is over (finished, no-show, cancelled,
abandoned, or an appointment cancelled or missed), with the name and the ID
hash of its appointment. A sent or failed message keeps no recipient.

**The webhook** (for an SMS or WhatsApp gateway): ``POST NOTIFY_WEBHOOK_URL``
with ``Content-Type: application/json`` and
``X-Turnos-Signature: sha256=<hex HMAC-SHA256 of the body with NOTIFY_WEBHOOK_SECRET>``::

    {"event": "reminder", "site": "cam-centro", "site_name": "CAM Centro",
     "to": {"phone": "+573001234567"}, "message": "Recuerde su cita ...",
     "reference": "K7M4-QX2A", "at": "2026-11-25T09:30:00.000-05:00"}

Any 2xx answer is delivered; anything else (or no answer in 10 s) is retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _

from . import channels, estimate, store
from .db import immediate
from .present import show_code
from .timefmt import iso, local_datetime

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
FIRST_RETRY_MS = 30_000
SEND_BATCH = 50
CLOSED = ("finished", "no_show", "cancelled", "abandoned", "transferred")


def enabled_channels(app, config: dict) -> list[str]:
    """Return the channels a site sends through that the server can use."""
    out = []
    if config["notifications"]["email"] and app.config.get("SMTP_HOST"):
        out.append("email")
    if config["notifications"]["webhook"] and app.config.get("NOTIFY_WEBHOOK_URL"):
        out.append("webhook")
    return out


def _link(path: str) -> str:
    """Return an absolute address when the server knows its public URL, else the path."""
    base = current_app.config.get("PUBLIC_URL") or ""
    return base.rstrip("/") + path


def _appointment_text(kind: str, site: dict, service: dict, appointment: dict) -> tuple[str, str]:
    """Return (subject, body) of a message about a booking."""
    when = local_datetime(appointment["slot_at"], site["timezone"]).strftime("%d/%m/%Y %H:%M")
    code = show_code(appointment["code"])
    link = _link(f"/citas/c/{appointment['code']}")
    if kind == "booked":
        subject = _("Su cita en %(site)s: %(when)s", site=site["name"], when=when)
        lead = _("Su cita quedó reservada.")
    else:
        subject = _("Recordatorio de su cita en %(site)s: %(when)s", site=site["name"], when=when)
        lead = _("Le recordamos su cita.")
    body = "\n".join([
        lead, _("Trámite: %(s)s", s=service["name"]), _("Sede: %(s)s", s=site["name"]),
        _("Fecha y hora: %(w)s", w=when), _("Código: %(c)s", c=code),
        _("Al llegar, registre su llegada en el kiosco con este código."),
        _("Para cambiarla o cancelarla: %(l)s", l=link), "",
        _("Sus datos de contacto se borran cuando termina su visita.")])
    return subject, body


def _ticket_text(kind: str, site: dict, ticket: dict, ahead: int | None, desk: str | None
                 ) -> tuple[str, str]:
    """Return (subject, body) of a message about a ticket."""
    link = _link(f"/t/{ticket['visit_id']}")
    if kind == "called":
        subject = _("Su turno %(c)s fue llamado", c=ticket["code"])
        lead = _("Diríjase a %(d)s.", d=desk or "")
    elif not ticket.get("arrived", True):
        subject = _("Su turno %(c)s está cerca: salga ya", c=ticket["code"])
        lead = _("Faltan %(n)s personas. Venga a %(s)s y confirme su llegada en el kiosco o con "
                 "el código QR de la entrada.", n=ahead, s=site["name"])
    else:
        subject = _("Su turno %(c)s está cerca", c=ticket["code"])
        lead = _("Faltan %(n)s personas antes de usted en %(s)s.", n=ahead, s=site["name"])
    return subject, "\n".join([lead, _("Siga su turno aquí: %(l)s", l=link), "",
                               _("Sus datos de contacto se borran cuando termina su visita.")])


def _enqueue(db, app, site: dict, config: dict, contact: dict, dedupe: str, kind: str,
             subject: str, body: str, reference: str, now_ms: int) -> int:
    """Queue one message per enabled channel the contact can be reached on; return how many."""
    queued = 0
    for channel in enabled_channels(app, config):
        recipient = contact.get("email") if channel == "email" else contact.get("phone")
        if not recipient:
            continue
        payload = {"event": kind, "site": site["code"], "site_name": site["name"],
                   "reference": reference, "at": iso(now_ms, site["timezone"])}
        queued += store.enqueue_notification(db, {
            "site_id": site["id"], "dedupe": f"{dedupe}:{channel}", "kind": kind, "channel": channel,
            "recipient": recipient, "subject": subject, "body": body,
            "payload": json.dumps(payload, ensure_ascii=False), "status": "pending",
            "next_at": now_ms, "created_at": now_ms})
    return queued


def queue_for_appointment(db, site: dict, config: dict, appointment: dict, contact: dict,
                          kind: str, now_ms: int) -> int:
    """Queue a message about a booking (inside the caller's transaction)."""
    app = current_app._get_current_object()
    service = store.service_by_id(db, appointment["service_id"])
    with force_locale("es"):
        subject, body = _appointment_text(kind, site, service, appointment)
    stamp = appointment["slot_at"]
    return _enqueue(db, app, site, config, contact, f"a{appointment['id']}:{kind}:{stamp}", kind,
                    subject, body, show_code(appointment["code"]), now_ms)


# --- the worker ---------------------------------------------------------------------------

def run_once(app, engine) -> dict:
    """Queue what is due, delete the contacts of visits over, send; return what it did.

    One round of the worker (``shared.channel_worker``), after it closed missed
    appointments and unconfirmed tickets from phones.
    """
    db = engine.db
    now = engine.clock.now_ms()
    done = {"queued": 0, "sent": 0, "failed": 0, "purged": 0}
    configs = {}

    def config_of(site_id: int) -> tuple[dict, dict]:
        if site_id not in configs:
            site = store.site_by_id(db, site_id)
            configs[site_id] = (site, channels.settings(db, site))
        return configs[site_id]

    with force_locale("es"):
        done["queued"] += _queue_reminders(db, app, config_of, now)
        done["queued"] += _queue_ticket_messages(db, app, engine, config_of, now)
    done["purged"] = purge_contacts(db, now)
    store.release_stuck_notifications(db, now - 10 * 60_000)
    for row in store.due_notifications(db, now, SEND_BATCH):
        outcome = send_one(app, db, row, now)
        if outcome in ("sent", "failed"):
            done[outcome] += 1
    return done


def _queue_reminders(db, app, config_of, now_ms: int) -> int:
    """Queue the reminders of booked appointments whose time has come."""
    queued = 0
    for row in store.appointments_with_contacts(db):
        if row["status"] != "booked" or row["reminded_at"] or row["slot_at"] <= now_ms:
            continue
        site, config = config_of(row["site_id"])
        window = config["notifications"]["reminder_hours"] * 3_600_000
        if row["slot_at"] - now_ms > window:
            continue
        if row["created_at"] > row["slot_at"] - window and not row["moves"]:
            continue  # booked within the reminder's window: its confirmation just told it all
        appointment = {k: row[k] for k in row if k not in ("contact_id", "email", "phone")}
        with immediate(db):
            queued += queue_for_appointment(db, site, config, appointment,
                                            {"email": row["email"], "phone": row["phone"]},
                                            "reminder", now_ms)
            store.set_appointment_reminded(db, row["id"], now_ms)
    return queued


def _queue_ticket_messages(db, app, engine, config_of, now_ms: int) -> int:
    """Queue "your turn is near" and "called" for visits with a contact."""
    queued = 0
    for row in store.visits_with_contacts(db):
        site, config = config_of(row["site_id"])
        contact = {"email": row["email"], "phone": row["phone"]}
        ticket = {k: row[k] for k in row if k not in ("contact_id", "email", "phone")}
        if ticket["status"] == "waiting":
            ahead = estimate.waiting_ticket(db, site, ticket, now_ms)["ahead"]
            if ahead > config["notifications"]["near_ahead"]:
                continue
            kind, desk = "near", None
        elif ticket["status"] == "called":
            desk_row = store.desk_by_id(db, ticket["desk_id"]) if ticket["desk_id"] else None
            kind, ahead, desk = "called", 0, desk_row["name"] if desk_row else None
        else:
            continue
        subject, body = _ticket_text(kind, site, ticket, ahead, desk)
        with immediate(db):
            queued += _enqueue(db, app, site, config, contact, f"v{ticket['visit_id']}:{kind}", kind,
                               subject, body, ticket["code"], now_ms)
    return queued


def purge_contacts(db, now_ms: int) -> int:
    """Delete the contacts whose visit or appointment is over; return how many."""
    gone, prefixes = [], []
    for row in store.visits_with_contacts(db):
        if row["status"] in CLOSED:
            gone.append(row["contact_id"])
            prefixes.append(f"v{row['visit_id']}:")
    for row in store.appointments_with_contacts(db):
        if row["status"] in ("cancelled", "no_show"):
            gone.append(row["contact_id"])
            prefixes.append(f"a{row['id']}:")
    with immediate(db):
        store.forget_people_of_closed_appointments(db)
        for prefix in prefixes:
            store.drop_pending_of(db, prefix)
        return store.delete_contacts(db, gone)


def send_one(app, db, row: dict, now_ms: int) -> str:
    """Send one due message (claimed first, so it goes once); return sent, retry or failed."""
    with immediate(db):
        claimed = store.claim_notification(db, row["id"])
    if claimed is None:
        return "taken"
    try:
        if claimed["channel"] == "email":
            send_email(app, claimed)
        else:
            send_webhook(app, claimed)
    except Exception as exc:  # any failure of the far end: try again later
        error = f"{type(exc).__name__}: {exc}"[:300]
        if claimed["attempts"] >= MAX_ATTEMPTS:
            values = {"status": "failed", "recipient": None, "last_error": error}
            outcome = "failed"
        else:
            values = {"status": "pending", "last_error": error,
                      "next_at": now_ms + FIRST_RETRY_MS * 2 ** (claimed["attempts"] - 1)}
            outcome = "retry"
        log.warning("notification %s not delivered (%s)", claimed["id"], error)
    else:
        values = {"status": "sent", "recipient": None, "sent_at": now_ms, "last_error": None}
        outcome = "sent"
    with immediate(db):
        store.finish_notification(db, claimed["id"], values)
    return outcome


def send_email(app, row: dict) -> None:
    """Send one message through the server's SMTP settings."""
    message = EmailMessage()
    message["From"] = app.config.get("SMTP_FROM") or "turnos@localhost"
    message["To"] = row["recipient"]
    message["Subject"] = row["subject"]
    message.set_content(row["body"])
    host, port = app.config["SMTP_HOST"], int(app.config.get("SMTP_PORT") or 25)
    with smtplib.SMTP(host, port, timeout=10) as smtp:
        if app.config.get("SMTP_STARTTLS"):
            smtp.starttls()
        if app.config.get("SMTP_USER"):
            smtp.login(app.config["SMTP_USER"], app.config.get("SMTP_PASSWORD") or "")
        smtp.send_message(message)


def webhook_body(row: dict) -> bytes:
    """Return the JSON a gateway receives for one message."""
    payload = json.loads(row["payload"] or "{}")
    key = "email" if row["channel"] == "email" else "phone"
    payload.update(to={key: row["recipient"]}, message=row["body"], subject=row["subject"])
    return json.dumps(payload, ensure_ascii=False).encode()


def signature(secret: str, body: bytes) -> str:
    """Return the ``X-Turnos-Signature`` of a webhook body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send_webhook(app, row: dict) -> None:
    """POST one message to the SMS/WhatsApp gateway's webhook; refuse any answer but 2xx."""
    body = webhook_body(row)
    request = urllib.request.Request(app.config["NOTIFY_WEBHOOK_URL"], data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "X-Turnos-Event": row["kind"],
                                              "X-Turnos-Signature": signature(
                                                  app.config.get("NOTIFY_WEBHOOK_SECRET") or "", body)})
    with urllib.request.urlopen(request, timeout=10) as answer:
        if not 200 <= answer.status < 300:
            raise urllib.error.HTTPError(request.full_url, answer.status, "not delivered", None, None)
