"""Every URL and socket event, tried with each role and with no credentials, answers as listed.

The tables below are the access policy. A route or a socket event added
without an entry here fails this test: decide who may use it, then list it.
Each probe sends a harmless request (an unknown JSON field), so a role that
is let in gets a validation error, not a change.
"""

import pytest

from shared.events import socketio
from tests.security.inventory import WHO, Principals, probe, verdict

STAFF = ("admin", "supervisor", "official")
MANAGERS = ("admin", "supervisor")
ADMIN = ("admin",)
DEVICES = ("kiosk", "display", "survey")
ALL = STAFF + DEVICES
PUBLIC = ALL + ("anonymous",)

# (method, rule) -> the roles the role check lets in. Others get 403 (a role)
# or, without credentials, 401 (API, devices) or a redirect to the login page
# (staff pages: listed in LOGIN_REDIRECT).
ROUTES = {
    ("GET", "/"): ALL,                            # each to the page of their role
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("POST", "/logout"): (),                      # always back to the login page
    ("POST", "/lang/<code>"): PUBLIC,
    ("GET", "/pair/<code>"): PUBLIC,
    ("POST", "/pair/<code>"): PUBLIC,
    # administration pages
    ("GET", "/admin/"): MANAGERS,
    ("GET", "/admin/sites"): MANAGERS,
    ("POST", "/admin/sites"): ADMIN,
    ("GET", "/admin/sites/<site>"): MANAGERS,
    ("POST", "/admin/sites/<site>"): ADMIN,
    ("GET", "/admin/sites/<site>/logo"): MANAGERS,
    ("POST", "/admin/sites/<site>/logo"): ADMIN,
    ("POST", "/admin/sites/<site>/logo/delete"): ADMIN,
    ("GET", "/admin/sites/<site>/services"): MANAGERS,
    ("POST", "/admin/sites/<site>/services"): ADMIN,
    ("GET", "/admin/sites/<site>/services/<int:service_id>"): MANAGERS,
    ("POST", "/admin/sites/<site>/services/<int:service_id>"): ADMIN,
    ("GET", "/admin/sites/<site>/desks"): MANAGERS,
    ("POST", "/admin/sites/<site>/desks"): ADMIN,
    ("GET", "/admin/sites/<site>/desks/<int:desk_id>"): MANAGERS,
    ("POST", "/admin/sites/<site>/desks/<int:desk_id>"): ADMIN,
    ("GET", "/admin/categories"): MANAGERS,
    ("POST", "/admin/categories"): ADMIN,
    ("GET", "/admin/categories/<code>"): MANAGERS,
    ("POST", "/admin/categories/<code>"): ADMIN,
    ("GET", "/admin/users"): ADMIN,
    ("POST", "/admin/users"): ADMIN,
    ("GET", "/admin/users/<int:user_id>"): ADMIN,
    ("POST", "/admin/users/<int:user_id>"): ADMIN,
    ("POST", "/admin/users/<int:user_id>/password"): ADMIN,
    ("POST", "/admin/users/<int:user_id>/unlock"): ADMIN,
    ("GET", "/admin/devices"): MANAGERS,
    ("POST", "/admin/devices"): ADMIN,
    ("GET", "/admin/devices/<int:device_id>"): MANAGERS,
    ("POST", "/admin/devices/<int:device_id>"): ADMIN,
    ("POST", "/admin/devices/<int:device_id>/pair"): ADMIN,
    ("POST", "/admin/devices/<int:device_id>/revoke"): ADMIN,
    ("POST", "/admin/devices/<int:device_id>/print-test"): ADMIN,
    ("GET", "/admin/audit"): ADMIN,
    ("GET", "/admin/layout"): MANAGERS,
    ("GET", "/admin/layout/export"): MANAGERS,
    ("POST", "/admin/layout/import"): ADMIN,
    ("GET", "/admin/sites/<site>/channels"): MANAGERS,
    ("POST", "/admin/sites/<site>/channels"): ADMIN,
    ("POST", "/admin/sites/<site>/channels/entrance"): ADMIN,
    ("GET", "/admin/sites/<site>/channels/entrance.png"): MANAGERS,
    # the citizens' public pages before the visit (no login: a booking's code is its key)
    ("GET", "/citas/<site>"): PUBLIC,
    ("POST", "/citas/<site>"): PUBLIC,
    ("GET", "/citas/c/<code>"): PUBLIC,
    ("GET", "/citas/c/<code>/qr.png"): PUBLIC,
    ("POST", "/citas/c/<code>/cancel"): PUBLIC,
    ("POST", "/citas/c/<code>/move"): PUBLIC,
    ("GET", "/turno/<site>"): PUBLIC,
    ("POST", "/turno/<site>"): PUBLIC,
    ("GET", "/llegada/<site>/<token>"): PUBLIC,
    ("POST", "/llegada/<site>/<token>"): PUBLIC,
    ("GET", "/espera/<city>"): PUBLIC,
    ("GET", "/t/<visit_id>/qr.png"): PUBLIC,
    # faces
    ("GET", "/desk/"): STAFF,
    ("GET", "/display/"): ("admin", "display"),
    ("GET", "/display/audio/call.wav"): ("admin", "display"),
    ("GET", "/display/audio/chime.wav"): ("admin", "display"),
    ("GET", "/display/audio/phrase"): ("admin", "display"),
    ("GET", "/kiosk/"): ("admin", "supervisor", "kiosk"),
    ("GET", "/kiosk/api/jobs/<int:job_id>"): ("admin", "supervisor", "kiosk"),
    ("POST", "/kiosk/api/tickets"): ("admin", "supervisor", "kiosk"),
    ("POST", "/kiosk/api/checkin"): ("admin", "supervisor", "kiosk"),
    ("GET", "/kiosk/qr/<visit_id>.png"): ("admin", "supervisor", "kiosk"),
    ("GET", "/kiosk/api/start"): ("admin", "supervisor", "kiosk"),
    ("GET", "/kiosk/audio/<kind>/<key>.wav"): ("admin", "supervisor", "kiosk"),
    # Any other address or method under the kiosk's API: a JSON 404 or 405 for anyone.
    **{(method, "/kiosk/api/<path:rest>"): PUBLIC for method in ("GET", "POST", "PUT", "PATCH", "DELETE")},
    ("GET", "/reports/"): MANAGERS,
    ("GET", "/reports/monitor"): MANAGERS,
    ("GET", "/reports/quarterly"): MANAGERS,
    ("GET", "/reports/close-day"): ADMIN,
    ("POST", "/reports/close-day"): ADMIN,
    ("GET", "/reports/export/<table>.<fmt>"): MANAGERS,
    ("GET", "/survey/"): ("survey",),
    ("GET", "/t/<visit_id>"): PUBLIC,             # a ticket's page: its unguessable visit id
    ("GET", "/t/<visit_id>.json"): PUBLIC,
    ("POST", "/t/<visit_id>/rating"): PUBLIC,
    ("GET", "/printer/"): MANAGERS,
    ("GET", "/printer/virtual"): MANAGERS,
    ("GET", "/printer/virtual/<name>.<ext>"): MANAGERS,
    ("POST", "/printer/jobs/<int:job_id>/reprint"): MANAGERS,
    # JSON API
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("GET", "/api/v1/openapi.json"): PUBLIC,
    ("GET", "/api/docs"): PUBLIC,                 # the rendered API reference
    ("GET", "/api/v1/me"): ALL,
    ("GET", "/api/v1/me/desks"): STAFF,
    ("GET", "/api/v1/me/today"): STAFF,
    ("GET", "/api/v1/me/preferences"): STAFF,
    ("PUT", "/api/v1/me/preferences"): STAFF,
    ("POST", "/api/v1/tickets/<int:ticket_id>/undo-no-show"): STAFF,
    ("POST", "/api/v1/devices"): ADMIN,
    ("DELETE", "/api/v1/devices/<int:device_id>"): ADMIN,
    ("GET", "/api/v1/kiosks/<int:device_id>"): MANAGERS,
    ("PATCH", "/api/v1/kiosks/<int:device_id>"): ADMIN,
    ("GET", "/api/v1/desk-settings"): STAFF,
    ("PUT", "/api/v1/desk-settings"): ADMIN,
    ("GET", "/api/v1/print-jobs"): MANAGERS,
    ("GET", "/api/v1/reports/summary"): MANAGERS,
    ("GET", "/api/v1/reports/charts"): MANAGERS,
    ("GET", "/api/v1/reports/monitor"): MANAGERS,
    ("GET", "/api/v1/reports/channels"): MANAGERS,
    ("POST", "/api/v1/ratings"): ("survey",),
    ("GET", "/api/v1/public/cities/<city>/waits"): PUBLIC,
    ("GET", "/api/v1/public/sites/<site>/slots"): PUBLIC,
    ("POST", "/api/v1/public/appointments"): PUBLIC,
    ("GET", "/api/v1/public/appointments/<code>"): PUBLIC,
    ("POST", "/api/v1/public/appointments/<code>/cancel"): PUBLIC,
    ("POST", "/api/v1/public/appointments/<code>/move"): PUBLIC,
    ("POST", "/api/v1/public/sites/<site>/remote-tickets"): PUBLIC,
    ("POST", "/api/v1/checkins"): STAFF + ("kiosk",),
    ("GET", "/api/v1/sites"): ALL,
    ("GET", "/api/v1/sites/<site>"): ALL,
    ("GET", "/api/v1/sites/<site>/categories"): ALL,
    ("GET", "/api/v1/sites/<site>/services"): ALL,
    ("GET", "/api/v1/sites/<site>/snapshot"): ALL,
    ("GET", "/api/v1/sites/<site>/privacy"): STAFF + ("kiosk",),
    ("GET", "/api/v1/sites/<site>/desks"): STAFF,
    ("GET", "/api/v1/sites/<site>/queue"): STAFF,
    ("POST", "/api/v1/sites/<site>/close-day"): ADMIN,
    ("POST", "/api/v1/tickets"): STAFF + ("kiosk",),
    ("GET", "/api/v1/tickets/<int:ticket_id>"): STAFF + ("kiosk",),
    ("POST", "/api/v1/tickets/<int:ticket_id>/citizen-id"): ("kiosk",),
    ("GET", "/api/v1/tickets/<int:ticket_id>/events"): STAFF,
    ("POST", "/api/v1/tickets/<int:ticket_id>/call"): STAFF,
    ("POST", "/api/v1/tickets/<int:ticket_id>/recall"): STAFF,
    ("POST", "/api/v1/tickets/<int:ticket_id>/start"): STAFF,
    ("POST", "/api/v1/tickets/<int:ticket_id>/finish"): STAFF,
    ("POST", "/api/v1/tickets/<int:ticket_id>/no-show"): STAFF,
    ("POST", "/api/v1/tickets/<int:ticket_id>/cancel"): STAFF,
    ("POST", "/api/v1/tickets/<int:ticket_id>/transfer"): STAFF,
    ("POST", "/api/v1/tickets/<int:ticket_id>/priority"): STAFF,
    ("POST", "/api/v1/tickets/<int:ticket_id>/reprint"): MANAGERS,
    ("GET", "/api/v1/desks/<desk>"): STAFF,
    ("GET", "/api/v1/desks/<desk>/queue"): STAFF,
    ("POST", "/api/v1/desks/<desk>/session"): STAFF,
    ("DELETE", "/api/v1/desks/<desk>/session"): STAFF,
    ("POST", "/api/v1/desks/<desk>/next"): STAFF,
    ("POST", "/api/v1/desks/<desk>/call"): STAFF,
    ("POST", "/api/v1/desks/<desk>/pause"): STAFF,
    ("POST", "/api/v1/desks/<desk>/resume"): STAFF,
}

# Staff pages send a visitor without credentials to the login page instead of a 401.
LOGIN_REDIRECT = ("/", "/logout", "/desk/", "/printer/", "/admin/", "/reports/", "/survey/")
# Pages that send a paired device (or a role they do not serve) to the login page.
LOGIN_FOR_OTHER_ROLES = ("/logout", "/desk/")

# Sample values for URL arguments where the shared ones do not fit.
SAMPLES = {
    "/admin/categories/<code>": {"code": "gestante"},
    "/lang/<code>": {"code": "en"},
    "/reports/export/<table>.<fmt>": {"table": "tickets", "fmt": "csv"},
}

# Socket.IO events -> the roles whose sockets may use them. A refused socket
# gets {"error": "forbidden"} (or {"ok": false, "error": "forbidden"}) or is disconnected.
SOCKET_EVENTS = {
    "connect": ALL,
    "join_desk": STAFF,
    "agent_ready": ("kiosk",),
    "print_result": ("kiosk",),
    "printer_status": ("kiosk",),
}


def _routes(app):
    """Return every (method, rule) the application serves, static files aside."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, rule


def _expected(method: str, rule, who: str) -> str:
    """Return the verdict the policy tables ask for."""
    if who in ROUTES[(method, rule.rule)]:
        return "pass"
    if who != "anonymous":
        return "login" if rule.rule in LOGIN_FOR_OTHER_ROLES else "403"
    if any(rule.rule == p or (p != "/" and rule.rule.startswith(p)) for p in LOGIN_REDIRECT):
        return "login"
    return "401"


def test_every_route_is_listed_in_the_access_policy(app):
    served = {(method, rule.rule) for method, rule in _routes(app)}
    unlisted = sorted(served - set(ROUTES))
    assert not unlisted, f"routes without an access rule in the inventory: {unlisted}"
    gone = sorted(set(ROUTES) - served)
    assert not gone, f"the inventory lists routes that no longer exist: {gone}"


def test_every_route_lets_in_exactly_the_roles_listed(app, api):
    principals = Principals(app, api)
    client = app.test_client()
    wrong = []
    for method, rule in sorted(_routes(app), key=lambda item: (item[1].rule, item[0])):
        if (method, rule.rule) not in ROUTES:
            continue  # reported by the test above
        path = principals.url(rule, SAMPLES.get(rule.rule))
        for who in WHO:
            response = probe(client, principals, method, path, who)
            got, want = verdict(response), _expected(method, rule, who)
            if response.status_code >= 500 or got != want:
                wrong.append(f"{method} {rule.rule} as {who}: {got} ({response.status_code}), "
                             f"expected {want}")
    assert not wrong, "\n".join(wrong)


# --- sockets ----------------------------------------------------------------------------

def _refused(client, ack) -> bool:
    """Tell whether a socket event was refused for the caller's role."""
    if not client.is_connected():
        return True
    return isinstance(ack, dict) and ack.get("error") == "forbidden"


def _handled() -> set[str]:
    """Return the socket events this application's server handles."""
    # Handlers a face registers on import reach only the server alive at that
    # moment, so in a test session some may be missing: test those present.
    return set(socketio.server.handlers["/"]) - {"disconnect"}


def test_every_socket_event_is_listed_in_the_access_policy(app):
    unlisted = sorted(_handled() - set(SOCKET_EVENTS))
    assert not unlisted, f"socket events without an access rule in the inventory: {unlisted}"


@pytest.mark.parametrize("who", WHO)
def test_every_socket_event_answers_each_role_as_listed(app, api, who):
    principals = Principals(app, api)
    if who == "official":  # an official follows the desk she holds
        api.take_desk("ana")
    if who == "kiosk":  # a kiosk's printer agent speaks the printer events
        r = api.call("admin", "PATCH", f"/api/v1/kiosks/{_device_id(api, principals.tokens['kiosk'])}",
                     {"printer": "agent"})
        assert r.status_code == 200, r.get_json()
    auth = {} if who == "anonymous" else {"token": principals.tokens[who]}
    client = socketio.test_client(app, auth=auth)
    assert client.is_connected() == (who in SOCKET_EVENTS["connect"]), who
    if not client.is_connected():
        return
    wrong = []
    first = ("agent_ready", "print_result", "printer_status")  # an agent says it is ready first
    handled = _handled() - {"connect"}
    for event in [e for e in first if e in handled] + sorted(handled - set(first)):
        if not client.is_connected():
            client = socketio.test_client(app, auth=auth)
        ack = client.emit(event, {"__inventory__": True, "desk": "cam-centro:1", "job": "x",
                                  "ok": True}, callback=True)
        if _refused(client, ack) == (who in SOCKET_EVENTS.get(event, ())):
            wrong.append(f"{event} as {who}: ack {ack}, connected {client.is_connected()}")
    assert not wrong, "\n".join(wrong)


def test_a_ticket_status_page_connects_only_with_a_real_visit(app, api):
    ticket = api.issue("A")
    visit = api.call("admin", "GET", f"/api/v1/tickets/{ticket['id']}").get_json()["status_url"]
    visit_id = visit.rsplit("/", 1)[1]
    assert socketio.test_client(app, auth={"ticket": visit_id}).is_connected()
    assert not socketio.test_client(app, auth={"ticket": "no-such-visit"}).is_connected()


def _device_id(api, token) -> int:
    """Return the id of the device a token belongs to."""
    return api.call(token, "GET", "/api/v1/me").get_json()["device"]
