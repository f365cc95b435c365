"""The channels' background worker: one round every ``CHANNELS_INTERVAL_SECONDS`` in ``serve``.

It runs on the one server process holding the ``channels`` lease
(``shared.cluster``), outside any request: it closes appointments whose
check-in window passed (no-shows) and unconfirmed tickets from phones past
their grace, then lets ``shared.notify`` queue, send and forget (a call never
waits for a mail server).
"""

import logging

from . import appointments, channels, notify, remote, store
from .clock import current_clock
from .cluster import current_cluster
from .db import connection
from .events import current_announcer, socketio
from .queue import QueueEngine

log = logging.getLogger(__name__)

INTERVAL_SECONDS = 10


def run_once(app, engine) -> dict:
    """Do one round of the background work of the channels; return what it did."""
    db = engine.db
    now = engine.clock.now_ms()
    done = {"no_shows": appointments.mark_no_shows(db, now), "expired": 0}
    for row in store.sites_with_channels(db):
        site = store.site_by_id(db, row["id"])
        if channels.settings(db, site)["remote"]["enabled"]:
            done["expired"] += remote.expire_unconfirmed(engine, site)
    done.update(notify.run_once(app, engine))
    return done


def start_worker(app):
    """Start the channels' background worker (``serve`` does this); one process of several works."""
    interval = app.config.get("CHANNELS_INTERVAL_SECONDS", INTERVAL_SECONDS)
    if not interval or interval <= 0:
        return None

    def loop():
        while True:
            socketio.sleep(interval)
            if not current_cluster(app).holds("channels", ttl=3 * interval):
                continue
            try:
                with app.app_context(), connection(app) as db:
                    run_once(app, QueueEngine(db, current_clock(app), current_announcer(app)))
            except Exception:  # a bad moment must not stop the worker for the day
                log.exception("channels worker")

    return socketio.start_background_task(loop)
