"""A city's server as two processes on PostgreSQL and Redis behaves as one server.

Every story runs two real ``run.py serve`` processes on one database, sharing
events through a real Redis: a screen hears what the other process did, a
revoked screen is dropped wherever it is connected, a kiosk prints through an
agent connected to the other process, racing desks never share a ticket nor
hear "nobody waiting" while someone waits, an alert is raised once, and the
room heals when Redis or a process goes away and comes back.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis
import requests
import socketio

from shared import store
from shared.db import connect
from tests.conftest import DEMO_ADMIN, DEMO_OFFICIAL
from tests.security.test_revocation_live import _admin_session as admin_session

pytestmark = [pytest.mark.engines("postgresql"), pytest.mark.slow]

WAIT = 10


class Screen:
    """A waiting-room screen (a display device) connected with a real Socket.IO client."""

    def __init__(self, base: str, token: str, reconnection: bool = False):
        self.calls: list[dict] = []
        self.snapshots = 0
        self.heard = threading.Condition()
        self.connected = threading.Event()
        self.gone = threading.Event()
        self.client = socketio.Client(reconnection=reconnection, reconnection_delay=0.2,
                                      reconnection_delay_max=1)
        self.client.on("ticket_called", self._called)
        self.client.on("snapshot", self._snapshot)
        self.client.on("connect", lambda: (self.gone.clear(), self.connected.set()))
        self.client.on("disconnect", lambda *args: (self.connected.clear(), self.gone.set()))
        self.client.connect(base, auth={"token": token}, transports=["websocket"], wait_timeout=WAIT)

    def _called(self, data):
        with self.heard:
            self.calls.append(data)
            self.heard.notify_all()

    def _snapshot(self, data):
        with self.heard:
            self.snapshots += 1
            self.heard.notify_all()

    def wait_for(self, predicate, timeout: float = WAIT) -> bool:
        """Wait until what the screen heard satisfies ``predicate``."""
        with self.heard:
            return self.heard.wait_for(lambda: predicate(self), timeout)

    def close(self) -> None:
        """Disconnect the screen."""
        self.client.disconnect()


def admin_token(server) -> str:
    """Return a bearer token of the demo administrator, from one process."""
    return server.token(*DEMO_ADMIN)


def new_display(server, token: str, name: str = "Pantalla sala") -> dict:
    """Register a waiting-room screen through one process; return {id, token}."""
    r = server.call(token, "POST", "/api/v1/devices", {"site": "cam-centro", "kind": "display",
                                                        "name": name})
    assert r.status_code == 201, r.text
    return r.json()


def issue(server, token: str, service: str = "A") -> dict:
    """Issue a ticket through one process."""
    r = server.call(token, "POST", "/api/v1/tickets", {"site": "cam-centro", "service": service})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_screen_on_one_process_hears_a_call_made_through_the_other(pair):
    token = admin_token(pair.a)
    screen_b = Screen(pair.b.url, new_display(pair.a, token)["token"])
    screen_a = Screen(pair.a.url, new_display(pair.b, token, "Pantalla 2")["token"])
    try:
        first = issue(pair.a, token)
        second = issue(pair.b, token)
        assert pair.a.call(token, "POST", "/api/v1/desks/cam-centro:1/next").json()["id"] == first["id"]
        assert pair.b.call(token, "POST", "/api/v1/desks/cam-centro:2/next").json()["id"] == second["id"]
        for screen in (screen_a, screen_b):
            assert screen.wait_for(lambda s: [c["code"] for c in s.calls] == ["A-001", "A-002"]), \
                screen.calls
    finally:
        screen_a.close()
        screen_b.close()


def test_a_display_revoked_through_one_process_is_dropped_on_the_other_at_once(pair):
    # B has just read whom the screen's token belongs to, for its socket and a request, and keeps
    # that in memory: the revocation made through A reaches B's memory before B cuts the socket
    # (both orders travel through Redis, in that order).
    token = admin_token(pair.a)
    device = new_display(pair.a, token, "Pantalla robada")
    screen = Screen(pair.b.url, device["token"])
    try:
        assert screen.wait_for(lambda s: s.snapshots == 1)
        assert pair.b.call(device["token"], "GET", "/api/v1/me").status_code == 200
        r = pair.a.call(token, "DELETE", f"/api/v1/devices/{device['id']}")
        assert r.status_code == 204, r.text
        assert screen.gone.wait(WAIT), "the revoked screen kept its socket on the other process"
        issue(pair.a, token)
        pair.a.call(token, "POST", "/api/v1/desks/cam-centro:1/next")
        assert screen.calls == []
    finally:
        screen.close()
    assert pair.b.call(device["token"], "GET", "/api/v1/me").status_code == 401


def staff_socket(server, token: str) -> tuple[socketio.Client, threading.Event]:
    """Connect an official's socket to one process; return it and the event set when it is cut."""
    gone = threading.Event()
    client = socketio.Client(reconnection=False)
    client.on("disconnect", lambda *args: gone.set())
    client.connect(server.url, auth={"token": token}, transports=["websocket"], wait_timeout=WAIT)
    return client, gone


def test_an_official_moved_to_another_site_through_one_process_is_refused_the_old_one_on_the_other(pair):
    official = pair.b.token(*DEMO_OFFICIAL)
    assert pair.b.call(official, "GET", "/api/v1/sites/cam-centro/queue").status_code == 200
    client, gone = staff_socket(pair.b, official)
    try:
        db = connect(pair.database)
        user = store.find_user(db, DEMO_OFFICIAL[0])
        norte = store.find_site(db, "cam-norte")["id"]
        db.close()
        session, csrf = admin_session(pair.a.url)
        r = session.post(f"{pair.a.url}/admin/users/{user['id']}", timeout=WAIT, allow_redirects=False,
                         data={"csrf_token": csrf, "display_name": user["display_name"],
                               "role": "official", "active": "1", "sites": str(norte)})
        assert r.status_code == 302, r.text
        assert gone.wait(WAIT), "the official's socket on the other process stayed open"
    finally:
        client.disconnect()
    assert pair.b.call(official, "GET", "/api/v1/sites/cam-centro/queue").status_code == 403
    assert pair.b.call(official, "GET", "/api/v1/sites/cam-norte/queue").status_code == 200


def healthy_again(server) -> None:
    """Wait until a process's health says its database and Redis answer."""
    deadline = time.monotonic() + WAIT
    while requests.get(server.url + "/healthz", timeout=WAIT).status_code != 200:
        assert time.monotonic() < deadline, "health did not come back with Redis"
        time.sleep(0.2)  # polling a health probe


def test_while_redis_is_down_a_revocation_through_one_process_counts_on_the_other_at_once(pair):
    # With Redis away nothing can tell B that a device was revoked through A: B then asks the
    # database who each token belongs to, as if it kept nothing; and once Redis is back it
    # forgets what it kept before the outage.
    token = admin_token(pair.a)
    kiosk = new_kiosk(pair.a, token, "Kiosco robado")
    device_id = pair.b.call(kiosk, "GET", "/api/v1/me").json()["device"]
    pair.redis.stop()
    try:
        for server in pair.processes:
            assert requests.get(server.url + "/healthz", timeout=WAIT).json()["queue"] == "down"
        assert pair.b.call(kiosk, "GET", "/api/v1/me").status_code == 200
        assert pair.a.call(token, "DELETE", f"/api/v1/devices/{device_id}").status_code == 204
        assert pair.b.call(kiosk, "GET", "/api/v1/me").status_code == 401
    finally:
        pair.redis.start()
    healthy_again(pair.b)
    assert pair.b.call(kiosk, "GET", "/api/v1/me").status_code == 401


def test_an_official_whose_password_is_reset_loses_the_socket_held_on_the_other_process(pair):
    official = pair.b.token("funcionario1", "funcionario-demo-2026")
    client, gone = staff_socket(pair.b, official)
    try:
        db = connect(pair.database)
        user_id = store.find_user(db, "funcionario1")["id"]
        db.close()
        session, csrf = admin_session(pair.a.url)
        r = session.post(f"{pair.a.url}/admin/users/{user_id}/password", timeout=WAIT,
                         data={"csrf_token": csrf, "password": "otra-clave-segura-9",
                               "password2": "otra-clave-segura-9"}, allow_redirects=False)
        assert r.status_code == 302, r.text
        assert gone.wait(WAIT), "the official's socket on the other process stayed open"
    finally:
        client.disconnect()
    assert pair.b.call(official, "GET", "/api/v1/me").status_code == 401


def test_fifty_desks_racing_across_both_processes_never_share_a_ticket_nor_hear_a_false_empty(pair):
    desks, tickets = 48, 480
    token = admin_token(pair.a)
    db = connect(pair.database)
    site = store.find_site(db, "cam-centro")
    services = [store.find_service(db, site["id"], code)["id"] for code in ("A", "B")]
    codes = []
    for n in range(desks):
        desk_id = store.upsert_desk(db, site["id"], {"code": f"r{n}", "name": f"Módulo r{n}"})
        store.set_desk_services(db, desk_id, services if n % 2 else services[::-1])
        codes.append(f"cam-centro:r{n}")
    db.close()
    for n in range(tickets):
        issue(pair.a if n % 2 else pair.b, token, "A" if n % 3 else "B")

    called: list[int] = []
    claims_sent: list[float] = []  # when each request that got a ticket left
    empties: list[tuple[str, float]] = []  # when each "nobody waiting" came back
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(desks)

    def desk_loop(n: int) -> None:
        server = pair.a if n % 2 else pair.b
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        start.wait()
        while True:
            sent = time.monotonic()
            r = session.post(f"{server.url}/api/v1/desks/{codes[n]}/next", timeout=30)
            if r.status_code == 204:
                with lock:
                    empties.append((codes[n], time.monotonic()))
                return
            if r.status_code != 200:
                with lock:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                return
            ticket = r.json()
            with lock:
                called.append(ticket["id"])
                claims_sent.append(sent)
            done = session.post(f"{server.url}/api/v1/tickets/{ticket['id']}/no-show", timeout=30)
            if done.status_code != 200:
                with lock:
                    errors.append(f"no-show {done.status_code} {done.text[:200]}")
                return

    threads = [threading.Thread(target=desk_loop, args=(n,)) for n in range(desks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors[:5]
    assert len(called) == len(set(called)), "a ticket was called twice"
    assert len(called) == tickets, "a ticket was never called"
    # No ticket goes back to waiting during the race, so a ticket claimed by a request that left
    # after a "nobody waiting" came back was already waiting when that answer was given.
    false_empty = [(code, sum(1 for t in claims_sent if t > heard))
                   for code, heard in empties if any(t > heard for t in claims_sent)]
    assert false_empty == [], f"'nobody waiting' answered while tickets waited: {false_empty[:5]}"
    db = connect(pair.database)
    assert db.execute("SELECT count(*) FROM tickets WHERE status = 'waiting'").fetchone()[0] == 0
    db.close()


class KioskDeskRace:
    """Kiosks issuing and desks calling (next, start, finish) at once through one server."""

    def __init__(self, base: str, token: str, desk_codes: list[str], kiosks: int, per_kiosk: int):
        self.base, self.token, self.desk_codes = base, token, desk_codes
        self.kiosks, self.per_kiosk = kiosks, per_kiosk
        self.called: list[int] = []
        self.errors: list[str] = []
        self.issued = 0
        self.kiosks_done = 0
        self.changed = threading.Condition()
        self.start = threading.Barrier(len(desk_codes) + kiosks)

    def _session(self) -> requests.Session:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.token}"
        self.start.wait()
        return session

    def _failed(self, what: str) -> None:
        with self.changed:
            self.errors.append(what)
            self.changed.notify_all()

    def kiosk(self) -> None:
        session = self._session()
        try:
            for _ in range(self.per_kiosk):
                r = session.post(f"{self.base}/api/v1/tickets", timeout=30,
                                 json={"site": "cam-centro", "service": "A"})
                if r.status_code != 201:
                    return self._failed(f"issue {r.status_code} {r.text[:200]}")
                with self.changed:
                    self.issued += 1
                    self.changed.notify_all()
        except requests.RequestException as exc:
            self._failed(f"issue: {exc!r}")
        finally:
            with self.changed:
                self.kiosks_done += 1
                self.changed.notify_all()

    def _all_issued_called_or_failed(self) -> bool:
        return bool(self.errors) or (self.kiosks_done == self.kiosks and len(self.called) >= self.issued)

    def desk(self, code: str) -> None:
        session = self._session()
        try:
            while True:
                with self.changed:
                    kiosks_were_done = self.kiosks_done == self.kiosks
                r = session.post(f"{self.base}/api/v1/desks/{code}/next", timeout=30)
                if r.status_code == 204:
                    with self.changed:
                        # Nobody waits although every ticket was issued before this call: the
                        # line is empty, and a ticket left uncalled fails the count (it once
                        # hung here: tickets issued just before the site's midnight are not
                        # called the next day).
                        if self._all_issued_called_or_failed() or kiosks_were_done:
                            return
                        # Nobody waits yet: wait for the next ticket (or the kiosks' end).
                        seen = self.issued
                        self.changed.wait_for(lambda seen=seen: self.issued > seen
                                              or self.kiosks_done == self.kiosks, timeout=WAIT)
                    continue
                if r.status_code != 200:
                    return self._failed(f"next {r.status_code} {r.text[:200]}")
                ticket = r.json()
                with self.changed:
                    self.called.append(ticket["id"])
                for step in ("start", "finish"):
                    done = session.post(f"{self.base}/api/v1/tickets/{ticket['id']}/{step}", timeout=30)
                    if done.status_code != 200:
                        return self._failed(f"{step} {done.status_code} {done.text[:200]}")
        except requests.RequestException as exc:
            self._failed(f"desk: {exc!r}")

    def run(self) -> None:
        threads = [threading.Thread(target=self.kiosk) for _ in range(self.kiosks)]
        threads += [threading.Thread(target=self.desk, args=(c,)) for c in self.desk_codes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)


def test_kiosks_issuing_while_desks_call_through_one_process_always_get_an_answer(pair):
    # A soak froze a PostgreSQL process: a transaction waiting for a row another transaction of
    # the same process held, without letting that one finish. Kiosks and desks race here through
    # one process; every request must answer and every ticket be called once.
    db = connect(pair.database)
    site = store.find_site(db, "cam-centro")
    service = store.find_service(db, site["id"], "A")["id"]
    codes = []
    for n in range(16):
        desk_id = store.upsert_desk(db, site["id"], {"code": f"k{n}", "name": f"Módulo k{n}"})
        store.set_desk_services(db, desk_id, [service])
        codes.append(f"cam-centro:k{n}")
    db.close()
    race = KioskDeskRace(pair.a.url, admin_token(pair.a), codes, kiosks=4, per_kiosk=100)
    race.run()
    assert not race.errors, race.errors[:5]
    assert race.issued == 400
    assert len(race.called) == len(set(race.called)) == 400, "a ticket was called twice or never"
    assert requests.get(f"{pair.a.url}/healthz", timeout=WAIT).status_code == 200


def test_a_commit_the_database_is_slow_to_finish_does_not_stop_its_process(pair):
    # A write transaction holds its process from its first statement until its commit (the
    # pipeline's sync) is sent. The commit itself (the server's wait for its disk, at
    # synchronous_commit = on) is awaited while other requests run. Here the server takes 3 s
    # to commit any ticket of service C (a deferred trigger: it runs when the commit does).
    db = connect(pair.database)
    site = store.find_site(db, "cam-centro")
    service_c = store.find_service(db, site["id"], "C")["id"]
    db.execute("CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS "
               "$$ BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$")
    db.execute("CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON tickets DEFERRABLE "
               f"INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.service_id = {int(service_c)}) "
               "EXECUTE FUNCTION slow_commit()")
    token = admin_token(pair.a)
    answered = threading.Event()
    answer: list[requests.Response] = []

    def slow_issue():
        answer.append(pair.a.call(token, "POST", "/api/v1/tickets",
                                  {"site": "cam-centro", "service": "C"}))
        answered.set()

    worker = threading.Thread(target=slow_issue)
    worker.start()
    deadline = time.monotonic() + WAIT
    while not db.execute("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                         "AND wait_event = 'PgSleep'").fetchone():
        assert time.monotonic() < deadline, "the slow commit never started"
        time.sleep(0.02)  # polling the server's activity view, not waiting for an outcome
    health = requests.get(f"{pair.a.url}/healthz", timeout=WAIT)
    assert health.status_code == 200 and not answered.is_set(), \
        "the process answered nobody while a commit was under way"
    assert answered.wait(WAIT) and answer[0].status_code == 201, answer
    worker.join(WAIT)
    db.execute("DROP TRIGGER slow_commit ON tickets")
    db.close()


def test_a_wait_alert_is_raised_once_whatever_the_number_of_processes(pair):
    token = admin_token(pair.a)
    db = connect(pair.database)
    site = store.find_site(db, "cam-centro")
    store.update_service(db, store.find_service(db, site["id"], "C")["id"], {"target_wait_seconds": 1})
    db.close()
    alerts: list[tuple[str, dict]] = []
    heard = threading.Condition()
    clients = []
    for name, server in (("a", pair.a), ("b", pair.b)):
        client = socketio.Client(reconnection=False)

        def on_alert(data, name=name):
            with heard:
                alerts.append((name, data))
                heard.notify_all()

        client.on("alert", on_alert)
        client.connect(server.url, auth={"token": server.token("supervisor", "supervisor-demo-2026")},
                       transports=["websocket"], wait_timeout=WAIT)
        clients.append(client)
    try:
        issue(pair.a, token, "C")
        # The watchers start on the first page request of each process.
        for server in pair.processes:
            requests.get(server.url + "/reports/", timeout=WAIT)
        with heard:
            assert heard.wait_for(lambda: len(alerts) >= 2, 15), alerts
        # Three more rounds of both watchers: no second alert for the same line.
        with heard:
            heard.wait_for(lambda: len(alerts) > 2, 3.5)
        assert sorted(name for name, _ in alerts) == ["a", "b"], alerts
        assert all(data["service"] == "C" for _, data in alerts)
    finally:
        for client in clients:
            client.disconnect()


def test_health_says_when_redis_is_down_and_screens_heal_when_it_returns(pair):
    token = admin_token(pair.a)
    screen = Screen(pair.b.url, new_display(pair.a, token)["token"], reconnection=True)
    try:
        assert screen.wait_for(lambda s: s.snapshots == 1)
        pair.redis.stop()
        for server in pair.processes:
            r = requests.get(server.url + "/healthz", timeout=WAIT)
            assert r.status_code == 503 and r.json()["queue"] == "down", r.text
            assert r.json()["database"] == "ok"
        # While Redis is down a call through A cannot reach B's screen...
        ticket = issue(pair.a, token)
        pair.a.call(token, "POST", "/api/v1/desks/cam-centro:1/next")
        pair.redis.start()
        for server in pair.processes:
            healthy_again(server)
        # ...so when Redis is back the screen is made to reconnect and re-read the room.
        assert screen.wait_for(lambda s: s.snapshots >= 2), "the screen did not resync"
        second = issue(pair.b, token)
        pair.b.call(token, "POST", "/api/v1/desks/cam-centro:2/next")
        assert screen.wait_for(lambda s: second["code"] in [c["code"] for c in s.calls])
        assert ticket["code"] == "A-001"
    finally:
        screen.close()


def new_kiosk(server, token: str, name: str = "Kiosco entrada") -> str:
    """Register a kiosk through one process; return its token."""
    r = server.call(token, "POST", "/api/v1/devices", {"site": "cam-centro", "kind": "kiosk",
                                                       "name": name})
    assert r.status_code == 201, r.text
    return r.json()["token"]


def test_a_kiosk_s_ticket_limit_counts_what_it_issued_through_either_process(pair):
    # KIOSK_RATE_LIMIT: 30 tickets a minute per kiosk, whichever process answers it.
    token = admin_token(pair.a)
    for attempt in range(3):
        kiosk = new_kiosk(pair.a, token, f"Kiosco {attempt}")
        window = int(time.time() // 60)  # the limit's windows are the clock's minutes
        codes = []
        while 429 not in codes and len(codes) < 62:
            server = pair.processes[len(codes) % 2]
            codes.append(server.call(kiosk, "POST", "/api/v1/tickets",
                                     {"site": "cam-centro", "service": "A"}).status_code)
        if int(time.time() // 60) == window:  # all of it within one window: the count is exact
            break
    assert codes == [201] * 30 + [429]


def test_while_redis_is_down_kiosks_issue_and_staff_sign_in_as_before(pair, demo_logins):
    # Redis holds the shared rate-limit counters. While it is away the limits hold per process
    # (each process counts for itself) rather than refusing every kiosk and every sign-in.
    token = admin_token(pair.a)
    kiosk = new_kiosk(pair.a, token)
    assert issue(pair.a, kiosk)["code"] == "A-001"
    pair.redis.stop()
    try:
        for server, code in ((pair.a, "A-002"), (pair.b, "A-003")):
            assert issue(server, kiosk)["code"] == code
            assert server.token(*demo_logins["official"])
    finally:
        pair.redis.start()
    assert issue(pair.b, kiosk)["code"] == "A-004"

    # Once Redis answers again, each process goes back to the shared counters by itself (it
    # looks again after 1, 2, 4 ... s): the kiosk's tickets through A and B are counted there.
    shared = redis.Redis.from_url(pair.redis.url)

    def counted() -> int:
        return sum(int(shared.get(key) or 0) for key in shared.scan_iter("*issue*"))

    for server in (pair.a, pair.b):
        deadline = time.monotonic() + 40
        before = counted()
        while issue(server, kiosk) and counted() == before:
            assert time.monotonic() < deadline, "a process never went back to the shared counters"
            time.sleep(0.5)  # a kiosk's next ticket, not a wait for an outcome: the loop asks


def test_behind_nginx_a_screen_whose_process_dies_reconnects_to_the_other(pair, nginx):
    token = admin_token(pair.a)
    screen = Screen(nginx.url, new_display(pair.a, token)["token"], reconnection=True)
    try:
        assert screen.wait_for(lambda s: s.snapshots == 1)
        # ip_hash sends this client to one of the two: kill that one (try A, else B).
        pair.a.kill()
        if not screen.gone.wait(3):
            pair.a.start()
            pair.b.kill()
            assert screen.gone.wait(WAIT)
        survivor = pair.a if pair.a.process.poll() is None else pair.b
        assert screen.wait_for(lambda s: s.snapshots >= 2, 20), "the screen did not reconnect"
        ticket = issue(survivor, token)
        survivor.call(token, "POST", "/api/v1/desks/cam-centro:1/next")
        assert screen.wait_for(lambda s: ticket["code"] in [c["code"] for c in s.calls])
    finally:
        screen.close()


def test_a_desk_renamed_through_one_process_is_called_by_its_new_name_on_the_other(pair):
    token = admin_token(pair.a)
    first = issue(pair.b, token)
    called = pair.b.call(token, "POST", "/api/v1/desks/cam-centro:1/next").json()
    assert called["id"] == first["id"] and called["desk_name"] == "Módulo 1"  # B keeps the desk now
    db = connect(pair.database)
    desk = store.find_desk(db, "1", store.find_site(db, "cam-centro")["id"])
    services = store.desk_service_ids(db, desk["id"])
    db.close()
    # A screen on B hears the change after B forgot its copy of the configuration (one batch, in order).
    changed = threading.Event()
    screen = socketio.Client(reconnection=False)
    screen.on("config_changed", lambda data: changed.set())
    screen.connect(pair.b.url, auth={"token": new_display(pair.a, token)["token"]},
                   transports=["websocket"], wait_timeout=WAIT)
    try:
        session, csrf = admin_session(pair.a.url)
        form = {"csrf_token": csrf, "name": "Ventanilla Uno", "active": "on",
                **{f"order_{sid}": str(n) for n, sid in enumerate(services, start=1)}}
        r = session.post(f"{pair.a.url}/admin/sites/cam-centro/desks/{desk['id']}", data=form,
                         timeout=WAIT, allow_redirects=False)
        assert r.status_code == 302, r.text[:500]
        assert changed.wait(WAIT), "the change never reached process B"
    finally:
        screen.disconnect()
    pair.b.call(token, "POST", f"/api/v1/tickets/{called['id']}/no-show")
    issue(pair.b, token)
    again = pair.b.call(token, "POST", "/api/v1/desks/cam-centro:1/next").json()
    assert again.get("desk_name") == "Ventanilla Uno", again
