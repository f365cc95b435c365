"""A turn taken from a phone: it keeps its place, is skipped until its citizen arrives, and is
closed when its citizen never comes; taking one is limited per phone and closed when the line is
long or the centre closes soon."""

import pytest

from shared import remote, store
from shared.checkin import check_in_code
from shared.errors import Closed, Forbidden
from shared.queue import Actor
from tests.channels.conftest import at, configure, events_of, open_desk


def take(engine, service="A", phone="phone-1"):
    """Take a ticket from a phone at CAM Centro."""
    return remote.take(engine, engine.site("cam-centro"), service, remote.device_key(phone))


def test_an_unconfirmed_turn_is_skipped_and_keeps_its_place_once_its_citizen_arrives(room, clock):
    at(clock, "08:00:00")
    from_home = take(room)                                   # A-001, taken at home at 08:00
    at(clock, "08:05:00")
    walk_in = room.issue("cam-centro", "A")                  # A-002, in the room at 08:05
    desk, actor = open_desk(room, "1", "ana")
    site = store.find_site(room.db, "cam-centro")
    # Nobody tells the room about a citizen who is not there: the order skips it ...
    assert [t["code"] for t in room.waiting_in_order(site)] == ["A-002"]
    assert room.call_next(desk, actor)["id"] == walk_in["id"]   # ... and so does the claim.
    room.no_show(walk_in["id"], actor)
    assert room.call_next(desk, actor) is None                  # never called to an empty room
    # Its page still tells how many are ahead and when its turn would come.
    assert room.with_estimate(store.ticket_by_id(room.db, from_home["id"]))["ahead"] == 0
    at(clock, "08:20:00")
    late = room.issue("cam-centro", "A")                      # A-003 at 08:20
    result = check_in_code(room, room.site("cam-centro"), from_home["checkin_code"].lower(), Actor())
    assert result["kind"] == "remote" and result["ticket"]["arrived"]
    assert events_of(room, from_home["id"], "arrived") == [{"how": "kiosk"}]
    assert room.call_next(desk, actor)["id"] == from_home["id"]  # its place of 08:00
    assert late["id"] != from_home["id"]


def test_the_kiosk_s_reader_confirms_with_the_status_page_s_qr_too(room, clock):
    ticket = take(room)
    scanned = f"https://turnos.example.gov.co/t/{ticket['visit_id']}"
    result = check_in_code(room, room.site("cam-centro"), scanned, Actor())
    assert result["kind"] == "remote" and store.ticket_by_id(room.db, ticket["id"])["arrived"]


def test_a_turn_never_confirmed_is_closed_after_its_grace_and_counted_apart(room, clock, api):
    at(clock, "08:00:00")
    absent = take(room)
    at(clock, "08:01:00")
    room.issue("cam-centro", "A")
    desk, actor = open_desk(room, "1", "ana")
    at(clock, "08:10:00")
    room.call_next(desk, actor)                               # the room passes it at 08:10
    site = room.site("cam-centro")
    assert remote.deadline(room.db, site, store.ticket_by_id(room.db, absent["id"])) == \
        clock.now_ms() + 15 * 60_000
    at(clock, "08:24:59")
    assert remote.expire_unconfirmed(room, site) == 0
    at(clock, "08:25:00")
    assert remote.expire_unconfirmed(room, site) == 1
    closed = store.ticket_by_id(room.db, absent["id"])
    assert closed["status"] == "abandoned" and closed["automatic"]
    assert events_of(room, absent["id"], "abandoned") == [{"automatic": True, "reason": "unconfirmed"}]
    report = api.call("supervisor", "GET", "/api/v1/reports/channels?site=cam-centro").get_json()
    assert report["totals"]["remote_taken"] == 1 and report["totals"]["remote_never_confirmed"] == 1


def test_a_phone_takes_a_few_turns_a_day_and_none_when_the_line_is_long_or_closing(room, clock):
    configure(room, remote={"per_device": 2, "max_waiting": 4})
    take(room), take(room, "E")
    with pytest.raises(Forbidden) as limit:
        take(room)
    assert limit.value.code == "device_limit"
    take(room, phone="phone-2")
    room.issue("cam-centro", "A"), room.issue("cam-centro", "A")
    with pytest.raises(Closed) as long_line:
        take(room, phone="phone-3")                          # 4 wait for A
    assert long_line.value.code == "line_long"
    with pytest.raises(Closed) as not_offered:
        take(room, "B", phone="phone-3")
    assert not_offered.value.code == "not_offered"
    # CAM Centro closes at 17:00: from 16:00 (60 minutes before) no more turns from phones.
    room.db.execute("UPDATE sites SET opening_hours = ? WHERE code = 'cam-centro'",
                    ['{"wed": [["07:00", "17:00"]]}'])
    at(clock, "16:10:00")
    with pytest.raises(Closed) as closing:
        take(room, "E", phone="phone-4")
    assert closing.value.code == "closing_soon"
    at(clock, "15:50:00")
    assert take(room, "E", phone="phone-4")["channel"] == "remote"
