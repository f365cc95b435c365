"""Failed logins hold back the place they come from, never the account: the owner still gets in."""

import re

import pytest

from tests.admin.pages import StaffBrowser, audit_actions

ATTACKER = "203.0.113.9"
OWNER = "198.51.100.7"
PASSWORD = "secret-pass-1"


def browser_at(app, address: str) -> StaffBrowser:
    """A browser whose requests come from one address."""
    visitor = StaffBrowser(app)
    visitor.client.environ_base["REMOTE_ADDR"] = address
    return visitor


def attempt(app, address: str, username: str = "admin", password: str = "guessed-wrong"):
    """One login through the form from a fresh browser at an address; return the response."""
    return browser_at(app, address).login(username, password)


def token_at(api, address: str, username: str = "admin", password: str = PASSWORD):
    """Ask for an API token from an address; return the response."""
    return api.client.post("/api/v1/auth/token", json={"username": username, "password": password},
                           environ_base={"REMOTE_ADDR": address})


def test_an_attacker_cannot_lock_the_administrator_out(app):
    codes = [attempt(app, ATTACKER).status_code for _ in range(12)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    assert attempt(app, ATTACKER, password=PASSWORD).status_code == 429  # the attacker stays held
    assert attempt(app, OWNER, password=PASSWORD).status_code == 302     # the owner gets in


def test_a_browser_that_logged_in_before_gets_in_even_from_a_failing_network(app):
    # Behind one proxy or NAT every request has the same address: the owner's browser is known.
    owner = browser_at(app, ATTACKER)
    assert owner.login("admin").status_code == 302
    owner.post("/logout")
    for _ in range(10):
        attempt(app, ATTACKER)
    assert attempt(app, ATTACKER, password=PASSWORD).status_code == 429
    assert owner.login("admin").status_code == 302


def test_a_known_browser_that_keeps_failing_is_held_back_itself(app):
    owner = browser_at(app, OWNER)
    assert owner.login("ana").status_code == 302
    owner.post("/logout")
    assert [owner.login("ana", "typo-typo").status_code for _ in range(6)][-1] == 429
    assert attempt(app, "192.0.2.1", "ana", PASSWORD).status_code == 302  # elsewhere: fine


def test_the_hold_grows_with_each_further_failure_and_old_failures_are_forgotten(app, clock):
    for _ in range(5):
        attempt(app, ATTACKER)
    assert attempt(app, ATTACKER, password=PASSWORD).status_code == 429
    clock.advance(seconds=61)                       # the first hold (1 min) is over
    assert attempt(app, ATTACKER).status_code == 401  # one more failure: held 2 min now
    clock.advance(seconds=61)
    assert attempt(app, ATTACKER, password=PASSWORD).status_code == 429
    clock.advance(seconds=60)
    assert attempt(app, ATTACKER, password=PASSWORD).status_code == 302
    for _ in range(4):
        attempt(app, ATTACKER)
    clock.advance(minutes=16)                        # failures of long ago are forgotten
    assert [attempt(app, ATTACKER).status_code for _ in range(4)] == [401] * 4


def test_the_administrator_is_told_and_can_lift_the_hold(app):
    for _ in range(5):
        attempt(app, ATTACKER, "beto")
    entries = [a for a in audit_actions(app) if a[0] == "login.throttled"]
    assert entries == [("login.throttled", "user:beto", None)]
    admin = StaffBrowser(app, "admin")
    home = admin.get("/admin/").text
    assert 'id="held-back"' in home and ATTACKER in home and "beto" in home
    users = admin.get("/admin/users").text
    assert re.search(r'data-username="beto">.*?Intentos fallidos', users, re.S)
    beto_id = re.search(r'href="/admin/users/(\d+)">beto', home).group(1)
    page = admin.get(f"/admin/users/{beto_id}").text
    assert ATTACKER in page and 'id="unlock"' in page
    assert admin.post(f"/admin/users/{beto_id}/unlock").status_code == 302
    assert attempt(app, ATTACKER, "beto", PASSWORD).status_code == 302
    assert ("user.unlock", "user:beto", "admin") in audit_actions(app)


def test_api_tokens_are_held_back_per_address_too_and_never_cached(api):
    for _ in range(5):
        assert token_at(api, ATTACKER, "ana", "nope-nope-nope").status_code == 401
    held = token_at(api, ATTACKER, "ana")
    assert (held.status_code, held.get_json()["error"]) == (429, "account_locked")
    ok = token_at(api, OWNER, "ana")
    assert ok.status_code == 201
    assert ok.headers["Cache-Control"] == "no-store"


def test_the_hold_is_kept_in_the_database_for_every_server_process(app, tmp_path, clock):
    from server import create_app

    for _ in range(5):
        attempt(app, ATTACKER)
    # A second process on the same instance (same database) sees the same hold.
    other = create_app({"TESTING": True, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                        "SOCKETIO_ASYNC_MODE": "threading", "DATABASE_URL": app.config["DATABASE"]},
                       instance=app.config["INSTANCE"], clock=clock)
    assert attempt(other, ATTACKER, password=PASSWORD).status_code == 429
    assert attempt(other, OWNER, password=PASSWORD).status_code == 302


@pytest.mark.parametrize("username", ["admin", "nobody-at-all"])
def test_held_back_or_not_an_unknown_user_gets_the_same_answers(app, username):
    codes = [attempt(app, ATTACKER, username).status_code for _ in range(6)]
    assert codes == [401] * 5 + [429]
