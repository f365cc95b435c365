"""Small helpers shared by the display stories."""

import json


def received(client, name: str) -> list:
    """Return the payloads of one event received by a Socket.IO test client."""
    return [e["args"][0] for e in client.get_received() if e["name"] == name]


def wait_until(page, predicate: str, timeout: float = 20000):
    """Wait until a JavaScript predicate (an arrow function: the page's CSP forbids eval) holds."""
    page.wait_for_function(predicate, timeout=timeout)


def announced(page) -> list[dict]:
    """Return the page's finished announcements."""
    return json.loads(page.evaluate("() => JSON.stringify(TurnosDisplay.announced)"))


def wait_without_a_gesture(page, predicate: str, timeout: float = 20000) -> None:
    """Wait for a JavaScript predicate through DevTools, without handing the page a user gesture.

    Playwright's own evaluations and locators count as a user gesture, and one
    gesture lets the page play sound: this is how to watch a page that must
    still be refused autoplay.
    """
    cdp = page.context.new_cdp_session(page)
    try:
        expression = (
            "new Promise(resolve => {"
            f"  const give_up = setTimeout(() => resolve(false), {int(timeout)});"
            f"  const check = () => {{ if (({predicate})()) {{ clearTimeout(give_up); resolve(true); }}"
            "    else { setTimeout(check, 50); } };"
            "  check(); })")
        result = cdp.send("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                               "userGesture": False, "returnByValue": True})
    finally:
        cdp.detach()
    assert result["result"].get("value") is True, f"never true: {predicate} ({result})"
