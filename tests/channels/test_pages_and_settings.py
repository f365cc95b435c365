"""The public pages' forms, the entrance QR, the kiosk's «Tengo cita» endpoint, the check-in API,
and the channels' settings on the administration page and in the layout file."""

import re

from shared import channels, layout, store
from tests.channels.conftest import at
from tests.conftest import login


def _csrf(page: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_booking_without_accepting_the_notice_or_with_no_slot_writes_nothing(app, client):
    page = client.get("/citas/cam-centro?service=A&day=2026-11-25").get_data(as_text=True)
    start = re.search(r'name="start" value="(\d+)"', page).group(1)
    refused = client.post("/citas/cam-centro", data={"csrf_token": _csrf(page), "service": "A",
                                                       "day": "2026-11-25", "start": start})
    assert refused.status_code == 400 and "aviso de privacidad" in refused.get_data(as_text=True)
    bad = client.post("/citas/cam-centro", data={"csrf_token": _csrf(page), "service": "A",
                                                   "start": "123", "accept_privacy": "1"})
    assert bad.status_code == 400 and "no está disponible" in bad.get_data(as_text=True)
    done = client.post("/citas/cam-centro", data={"csrf_token": _csrf(page), "service": "A",
                                                    "start": start, "accept_privacy": "1"})
    assert done.status_code == 303 and "/citas/c/" in done.headers["Location"]
    with app.app_context():
        from shared.db import get_db

        assert get_db().execute("SELECT count(*) FROM appointments").fetchone()[0] == 1


def test_the_entrance_qr_confirms_the_turns_this_phone_took(app, room, client):
    page = client.get("/turno/cam-centro").get_data(as_text=True)
    taken = client.post("/turno/cam-centro", data={"csrf_token": _csrf(page), "service": "E"})
    assert taken.status_code == 303
    visit = taken.headers["Location"].rsplit("/", 1)[1]
    token = channels.entrance_token(room.db, room.site("cam-centro"))
    assert client.get("/llegada/cam-centro/wrong-token").status_code == 404
    arrival = client.get(f"/llegada/cam-centro/{token}").get_data(as_text=True)
    assert "Ya llegué" in arrival
    confirmed = client.post(f"/llegada/cam-centro/{token}", data={"csrf_token": _csrf(arrival)})
    assert confirmed.status_code == 303 and confirmed.headers["Location"] == f"/t/{visit}"
    assert store.latest_segment(room.db, visit)["arrived"]
    # Another phone (no cookie) is told to use the kiosk.
    other = app.test_client().get(f"/llegada/cam-centro/{token}").get_data(as_text=True)
    assert "registre su llegada en el kiosco" in other


def test_the_kiosk_offers_a_walk_in_ticket_to_a_citizen_who_came_too_early(app, api, clock):
    kiosk = api.device("kiosk")
    slots = api.client.get("/api/v1/public/sites/cam-centro/slots?service=A&day=2026-11-25").get_json()
    late_slot = slots["slots"][8]["start_ms"]                  # 10:00
    booked = api.client.post("/api/v1/public/appointments", json={
        "site": "cam-centro", "service": "A", "start": late_slot, "accept_privacy": True}).get_json()
    early = api.call(kiosk, "POST", "/kiosk/api/checkin", {"code": booked["code"]})
    assert early.status_code == 409
    assert early.get_json()["error"] == "outside_window" and early.get_json()["service"] == "A"
    assert "desde las 09:30" in early.get_json()["message"]
    assert api.call(kiosk, "POST", "/kiosk/api/checkin", {"code": "NOPE-NOPE"}).status_code == 404
    at(clock, "09:40:00")
    # Staff can check a citizen in through the API as well (at reception, say).
    checked = api.call("supervisor", "POST", "/api/v1/checkins", {"code": booked["code"],
                                                                  "site": "cam-centro"})
    assert checked.status_code == 201 and checked.get_json()["kind"] == "appointment"


def test_the_administrator_configures_the_channels_and_the_layout_keeps_them(app, clock):
    browser = login(app, "admin")
    page = browser.get("/admin/sites/cam-centro/channels").get_data(as_text=True)
    form = {"csrf_token": _csrf(page), "city": "Villa Esperanza", "queue_class": "slot",
            "outside_window": "walk_in", "ask_name": "off", "ask_document": "off"}
    refused = browser.post("/admin/sites/cam-centro/channels", data=form)
    assert refused.status_code == 400 and "minúsculas" in refused.get_data(as_text=True)
    form.update(city="villa-esperanza", appointments_enabled="1", svc_3_appointments="1",
                svc_3_slot="20", svc_3_share="0,25", ask_name="optional", remote_enabled="1",
                remote_services=["E"], notify_email="1", hours_mon="08:00-11:00")
    saved = browser.post("/admin/sites/cam-centro/channels", data=form)
    assert saved.status_code == 302
    with app.app_context():
        from shared.db import get_db

        db = get_db()
        site = store.find_site(db, "cam-centro")
        config = channels.settings(db, site)
        assert site["appointment_class"] == "slot" and config["appointments"]["ask_name"] == "optional"
        assert list(config["appointments"]["services"]) == ["C"]
        assert config["appointments"]["services"]["C"]["share"] == 0.25
        assert config["remote"]["services"] == ["E"] and config["notifications"]["email"]
        assert config["appointments"]["hours"] == {"mon": [["08:00", "11:00"]]}
        # The layout file writes them out and reads them back the same.
        text = layout.export(db)
        assert "channels = " in text
        db.execute("DELETE FROM site_channels")
        layout.apply(db, layout.parse(text), clock)
        assert channels.settings(db, store.find_site(db, "cam-centro")) == config
    wrong = layout.parse.__wrapped__ if hasattr(layout.parse, "__wrapped__") else layout.parse
    try:
        wrong('[[sites]]\ncode = "x"\nname = "X"\n[sites.channels.remote]\nservices = ["Z"]\n')
    except layout.LayoutError as exc:
        assert "Servicios desconocidos" in str(exc.message)
    else:
        raise AssertionError("an unknown service in [sites.channels] must be refused")


def test_a_start_no_calendar_day_holds_names_no_slot_and_books_nothing(app, api):
    """A start past year 9999 (found by the API fuzzer: a 500) is refused like any slot not offered."""
    for start in (10**15, 2**62):
        r = api.client.post("/api/v1/public/appointments", json={
            "site": "cam-centro", "service": "A", "start": start, "accept_privacy": True})
        assert r.status_code == 400, r.get_data(as_text=True)
        assert r.get_json()["error"] == "no_such_slot"
    with app.app_context():
        from shared.db import get_db
        assert get_db().execute("SELECT count(*) FROM appointments").fetchone()[0] == 0
