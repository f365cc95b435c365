"""The API's contract as an integrator reads it: a valid OpenAPI document, typed answers, a reference page."""

import json

import pytest

METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture
def document(client) -> dict:
    """The OpenAPI document the server publishes."""
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.get_json()


def operations(document):
    """Yield (method, path, operation) for every documented operation."""
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


def resolve(document, node: dict) -> dict:
    """Follow a local $ref."""
    while "$ref" in node:
        name = node["$ref"].split("/")
        node = document[name[1]][name[2]][name[3]]
    return node


def test_openapi_spec_validator_accepts_the_document(document):
    from openapi_spec_validator import validate

    validate(document)
    assert document["openapi"].startswith("3.0")
    assert document["servers"] == [{"url": "/api/v1"}]


def test_no_schema_carries_an_empty_required_list(document):
    text = json.dumps(document)
    assert '"required": []' not in text


def test_every_answer_of_every_operation_has_a_schema(document):
    untyped = []
    for method, path, op in operations(document):
        statuses = set(op["responses"])
        assert any(s.startswith("2") for s in statuses), f"{method} {path}: no success answer"
        for status, response in op["responses"].items():
            response = resolve(document, response)
            if status in ("204", "304"):  # no body by definition (a 304: the copy the client has)
                assert "content" not in response
                continue
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if not schema:
                untyped.append(f"{method.upper()} {path} {status}")
    assert not untyped, "answers without a schema:\n" + "\n".join(untyped)


def test_every_refusal_is_documented_with_the_error_shape(document):
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error", "message"]
    for method, path, op in operations(document):
        responses = op["responses"]
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                schema = resolve(document, response)["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)
        if op.get("security") != []:
            assert {"401", "403"} <= set(responses), f"{method} {path}: role refusals undocumented"
        if "requestBody" in op:
            assert {"400", "413", "415"} <= set(responses), f"{method} {path}: body refusals undocumented"


def test_request_bodies_refuse_unknown_fields_in_the_document_too(document):
    for method, path, op in operations(document):
        if "requestBody" in op:
            schema = resolve(document, op["requestBody"]["content"]["application/json"]["schema"])
            name = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            schema = document["components"]["schemas"][name]
            assert schema.get("additionalProperties") is False, (method, path)


def test_the_answers_the_issue_found_untyped_now_have_shapes(document):
    for path in ("/sites", "/desks/{desk}", "/me", "/kiosks/{device_id}", "/reports/monitor",
                 "/tickets/{ticket_id}/events"):
        ok = document["paths"][path]["get"]["responses"]["200"]
        assert ok["content"]["application/json"]["schema"]["$ref"].startswith("#/components/schemas/")


def test_a_rate_limited_answer_documents_when_to_try_again(document):
    """A client generated from the document can read Retry-After on every 429 (the server sends it)."""
    limited = [(method, path, resolve(document, op["responses"]["429"]))
               for method, path, op in operations(document) if "429" in op["responses"]]
    assert {("post", "/auth/token"), ("post", "/tickets")} <= {(m, p) for m, p, _r in limited}
    for method, path, response in limited:
        header = response.get("headers", {}).get("Retry-After")
        assert header is not None, (method, path)
        assert resolve(document, header)["schema"] == {"type": "integer", "minimum": 1}


def test_the_token_endpoint_needs_no_credentials_in_the_document(document):
    assert document["paths"]["/auth/token"]["post"]["security"] == []


@pytest.mark.browser
def test_an_integrator_reads_the_reference_page_under_the_apps_csp(live_server, browser, artifacts):
    page = browser.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and "favicon" not in (
        m.location or {}).get("url", "") else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    response = page.goto(live_server.url + "/api/docs")
    assert "script-src 'self';" in response.headers["content-security-policy"]
    page.wait_for_selector(".opblock", timeout=20_000)
    document = page.request.get(live_server.url + "/api/v1/openapi.json").json()
    assert page.locator(".opblock").count() == sum(1 for _ in operations(document))
    assert "Turnos API" in page.locator(".info .title").inner_text()
    page.locator(".opblock-summary-path", has_text="/auth/token").first.click()
    page.wait_for_selector(".opblock.is-open .responses-table", timeout=10_000)
    page.screenshot(path=str(artifacts / "api-reference.png"))
    assert not problems, problems
    page.close()


def answer_schema(document, method: str, path: str, status: int) -> dict:
    """The documented schema of one answer, with the document's components beside it."""
    template = path.removeprefix("/api/v1").split("?")[0]
    for documented in document["paths"]:
        parts, wanted = documented.split("/"), template.split("/")
        if len(parts) == len(wanted) and all(p == w or p.startswith("{") for p, w in zip(parts, wanted)):
            op = document["paths"][documented][method.lower()]
            schema = resolve(document, op["responses"][str(status)])["content"]["application/json"]["schema"]
            return {**schema, "components": document["components"]}
    raise AssertionError(f"{method} {path} is not documented")


def test_what_a_day_of_work_answers_matches_the_documented_shapes(api, document):
    # A fuzzer found a screen's snapshot answering a call in a shape the document did not describe;
    # a screen, a kiosk and an official go through a day and every answer is checked.
    from openapi_schema_validator import OAS30Validator

    display = api.device("display")
    steps = [
        ("admin", "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A",
                                              "priority": "adulto_mayor"}),
        ("admin", "POST", "/api/v1/tickets", {"site": "cam-centro", "service": "A"}),
        ("ana", "POST", "/api/v1/desks/cam-centro:1/session", None),
        ("ana", "GET", "/api/v1/desks/cam-centro:1/queue?limit=5", None),
        ("ana", "POST", "/api/v1/desks/cam-centro:1/next", None),
        (display, "GET", "/api/v1/sites/cam-centro/snapshot", None),
        ("ana", "GET", "/api/v1/sites/cam-centro/queue", None),
        ("ana", "POST", "/api/v1/tickets/{first}/start", None),
        ("ana", "POST", "/api/v1/tickets/{first}/finish", None),
        ("ana", "POST", "/api/v1/desks/cam-centro:1/next", None),
        (display, "GET", "/api/v1/sites/cam-centro/snapshot", None),
        ("admin", "GET", "/api/v1/sites/cam-centro/services", None),
    ]
    checked = []
    for who, method, path, body in steps:
        path = path.format(first=checked[0]["id"] if checked else None)
        r = api.call(who, method, path, body)
        assert r.status_code in (200, 201), (path, r.get_json())
        schema = answer_schema(document, method, path, r.status_code)
        errors = [e.message for e in OAS30Validator(schema).iter_errors(r.get_json())]
        assert not errors, (method, path, errors)
        checked.append(r.get_json())
    # The screen heard both calls, the preferential one marked as such and without its category.
    calls = checked[-2]["last_calls"]
    assert [c["preferential"] for c in calls] == [False, True]
    assert all("priority" not in c for c in calls)
