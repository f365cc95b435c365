"""The end of the day started on two machines at once (each has its 23:00 timer).

Both close the day; the never-called tickets are abandoned once, and each closed
day's figures are sealed once: by whichever run stores them first (a run seals a
month at a time, so the two may share the months), and the first seal (its time,
its figures) stands, as a sealed day never changes by itself. The two runs are made to overlap for certain:
a session of the test holds the seals' table until both have worked out their
figures and wait to store them (for the table, or for each other).
"""

import os
import re
import subprocess
import sys
import time

import psycopg
import pytest

from tests.conftest import ROOT, sessions_waiting

pytestmark = pytest.mark.engines("postgresql")

WAIT = 60


def test_two_close_days_at_once_abandon_once_and_seal_each_day_once(engine, database, tmp_path):
    from shared.queue import Actor

    # Five tickets nobody called, on the test clock's day (before the real today the
    # commands run on): the end of the day abandons them and seals that day.
    site = engine.site("cam-centro")
    for _ in range(5):
        engine.issue(site, "A", None, Actor())

    env = dict(os.environ, TURNOS_SECRET_KEY="k" * 64)
    command = [sys.executable, str(ROOT / "run.py"), "close-day", "--yes",
               "--instance", str(tmp_path / "instance"), "--database", database]
    holder = psycopg.connect(database)  # a transaction left open: the table stays locked
    holder.execute("LOCK TABLE sealed_days IN EXCLUSIVE MODE")  # reads go on, writes wait
    runs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + WAIT
        while sessions_waiting(database, wait_event_type="Lock") < 2:
            assert all(run.poll() is None for run in runs), [run.communicate()[0] for run in runs]
            assert time.monotonic() < deadline, "the two runs never both reached the seals"
    finally:
        holder.rollback()
        holder.close()
    outputs = [run.communicate(timeout=WAIT)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs

    sealed = [int(re.search(r"sealed the figures of (\d+) closed site-days", out).group(1))
              for out in outputs]
    expected = engine.db.execute("SELECT count(*) FROM sealed_days").fetchone()[0]
    # Each day sealed by one run or the other; both sealing every day would count it twice.
    assert expected > 0 and sum(sealed) == expected, outputs
    abandoned = [sum(int(n) for n in re.findall(r"(\d+) abandoned", out)) for out in outputs]
    assert sorted(abandoned) == [0, 5], outputs
    events = engine.db.execute("SELECT count(*) FROM ticket_events WHERE kind = 'abandoned'")
    assert events.fetchone()[0] == 5
