"""The public wait times with several processes: one copy for all of them (in Redis), and nginx
keeping it for the crowd so that the processes hardly see it."""

import requests

CITY = "/api/v1/public/cities/villa-esperanza/waits"


def test_both_processes_answer_the_same_copy_and_nginx_serves_the_crowd_from_its_cache(pair, nginx):
    first = requests.get(pair.a.url + CITY, timeout=10)
    assert first.status_code == 200
    admin = pair.a.token("admin", "admin-demo-2026")
    pair.a.call(admin, "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"})
    # The line moved, but within its lifetime the copy is the one built by A, on B too:
    # a citizen whose requests land on either process never sees the figures jump back.
    second = requests.get(pair.b.url + CITY, timeout=10)
    assert second.headers["ETag"] == first.headers["ETag"] and second.content == first.content
    # Behind nginx the crowd reads its cache: one request through to Turnos, the others hits.
    statuses = [requests.get(nginx.url + "/espera/villa-esperanza", timeout=10).headers.get("X-Cache")
                for _ in range(10)]
    assert statuses[1:].count("HIT") >= 8
    # A staff member with a session goes through (never someone else's cached page).
    staff = requests.get(nginx.url + "/espera/villa-esperanza", cookies={"session": "x"}, timeout=10)
    assert staff.headers.get("X-Cache") == "BYPASS"
