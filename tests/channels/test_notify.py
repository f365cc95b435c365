"""Telling the citizen: e-mails through a real SMTP server, a signed webhook for SMS gateways,
sent outside any request, once, retried, and the contact deleted once the visit is over."""

import json

from shared import appointments, notify, remote, store
from shared.present import show_code
from shared.queue import Actor
from tests.channels.conftest import at, configure, open_desk
from tests.channels.peers import MailServer, WebhookReceiver
from tests.channels.test_appointments import slot


def with_mail(app, room, server):
    """Point the app at the local SMTP server and let CAM Centro send e-mails."""
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=server.port, SMTP_FROM="turnos@villa.gov.co")
    return configure(room, notifications={"email": True, "reminder_hours": 24})


def test_the_reminder_reaches_a_real_smtp_server_and_the_contact_is_gone_after_the_visit(
        app, room, clock):
    with MailServer() as server:
        site = with_mail(app, room, server)
        made = appointments.book(room.db, site, "A", slot(room, "09:00", "2026-11-26"),
                                 clock.now_ms(), email="ana@example.org")
        # The booking's confirmation goes out from the worker, never from the request.
        assert notify.run_once(app, room)["sent"] == 1
        to, message = server.next()
        assert to == ["ana@example.org"] and "Su cita en CAM Centro" in message["Subject"]
        assert show_code(made["code"]) in message.get_content()
        # 24 hours before the slot, the reminder (once).
        at(clock, "08:59:00", "2026-11-25")
        assert notify.run_once(app, room)["sent"] == 0
        at(clock, "09:00:00", "2026-11-25")
        assert notify.run_once(app, room)["sent"] == 1
        assert notify.run_once(app, room)["sent"] == 0
        to, reminder = server.next()
        assert "Recordatorio de su cita" in reminder["Subject"]
        assert "26/11/2026 09:00" in reminder.get_content()
        # Nothing sent keeps its recipient; the visit over, the contact is deleted.
        assert all(n["recipient"] is None for n in store.notifications_of_site(room.db, site["id"]))
        at(clock, "08:45:00", "2026-11-26")
        ticket = appointments.check_in(room, site, store.appointment_by_code(room.db, made["code"]),
                                       Actor())
        desk, actor = open_desk(room, "1", "ana")
        room.call_next(desk, actor)
        notify.run_once(app, room)
        _to, called = server.next()
        assert "fue llamado" in called["Subject"]
        room.start(ticket["id"], actor)
        room.finish(ticket["id"], actor)
        assert notify.run_once(app, room)["purged"] == 1
        assert store.contact_of_visit(room.db, store.ticket_by_id(room.db, ticket["id"])["visit_id"]) is None


def test_a_mail_server_that_is_down_is_retried_later_and_a_request_never_waits_for_it(app, room, clock):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)         # nobody listens there
    site = configure(room, notifications={"email": True})
    appointments.book(room.db, site, "A", slot(room, "10:00"), clock.now_ms(), email="b@example.org")
    assert notify.run_once(app, room)["sent"] == 0
    row, = store.notifications_of_site(room.db, site["id"])
    assert row["status"] == "pending" and row["attempts"] == 1 and row["next_at"] > clock.now_ms()
    with MailServer() as server:
        app.config["SMTP_PORT"] = server.port
        notify.run_once(app, room)
        assert server.inbox.empty()                                 # not before its retry time
        clock.advance(seconds=31)
        assert notify.run_once(app, room)["sent"] == 1
        assert server.next()[0] == ["b@example.org"]


def test_the_webhook_for_sms_gateways_is_signed_and_retried_and_says_when_to_come(app, room, clock):
    with WebhookReceiver(fail_first=1) as gateway:
        app.config.update(NOTIFY_WEBHOOK_URL=gateway.url, NOTIFY_WEBHOOK_SECRET="s3cret")
        site = configure(room, notifications={"webhook": True, "near_ahead": 1})
        ticket = remote.take(room, site, "A", remote.device_key("phone"), phone="+57 300 123 4567")
        notify.run_once(app, room)                                   # 503: kept for later
        clock.advance(seconds=31)
        assert notify.run_once(app, room)["sent"] == 1
        headers, body = gateway.received.get(timeout=5)
        assert headers["X-Turnos-Signature"] == notify.signature("s3cret", body)
        payload = json.loads(body)
        assert payload["event"] == "near" and payload["to"] == {"phone": "+573001234567"}
        assert payload["reference"] == ticket["code"] and "salga ya" in payload["subject"]


def test_notices_are_off_by_default(app, room, clock):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=1)
    site = room.site("cam-centro")                                  # e-mail not turned on
    made = appointments.book(room.db, site, "A", slot(room, "10:00"), clock.now_ms(),
                             email="c@example.org")
    assert store.contact_of_appointment(room.db, made["id"]) is None   # not even kept
    assert notify.run_once(app, room)["queued"] == 0
