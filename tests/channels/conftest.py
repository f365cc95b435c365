"""Stories of the channels beyond the kiosk: a room engine at CAM Centro and helpers.

The demo layout gives CAM Centro appointments for A (15-minute slots, half of
its three desks: 3 citizens a slot) and C, turns from phones for A and E, and
the public page of the city ``villa-esperanza``. Every story starts at 08:00
on Wednesday 25 November 2026 in Bogotá.
"""

import json

import pytest

from shared import channels, store
from shared.queue import Actor
from tests.reports.known_day import at  # noqa: F401  (re-exported for the stories)


@pytest.fixture
def room(app, clock):
    """A queue engine on its own connection, inside the application (messages need its settings)."""
    from shared.db import connect
    from shared.events import RecordingAnnouncer
    from shared.queue import QueueEngine

    db = connect(app.config["DATABASE"])
    with app.app_context():
        yield QueueEngine(db, clock, RecordingAnnouncer())
    db.conn.close()


def configure(engine, **sections) -> dict:
    """Change CAM Centro's channel settings (``appointments={...}``, ``remote=...``, ...)."""
    site = engine.site("cam-centro")
    config = channels.settings(engine.db, site)
    for key, value in sections.items():
        if isinstance(value, dict):
            config[key].update(value)
        else:
            config[key] = value
    queue_class = config["appointments"].get("queue_class")
    checked = channels.validate({k: v for k, v in config.items()},
                                {s["code"] for s in store.list_services(engine.db, site["id"])})
    channels.save(engine.db, site, checked, queue_class)
    engine.lookup = type(engine.lookup)(engine.db)
    return store.find_site(engine.db, "cam-centro")


def open_desk(engine, code: str, username: str):
    """Let an official hold a desk of CAM Centro; return (desk, actor)."""
    from shared import desks

    desk = engine.desk(code, engine.site("cam-centro"))
    user = store.find_user(engine.db, username)
    desks.open_session(engine, desk, user["id"])
    return desk, Actor(user_id=user["id"])


def events_of(engine, ticket_id: int, kind: str) -> list[dict]:
    """Return the data of a ticket's events of one kind."""
    return [json.loads(e["data"]) for e in store.ticket_events(engine.db, ticket_id) if e["kind"] == kind]
