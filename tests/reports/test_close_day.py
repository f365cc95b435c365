"""At the end of the day, close-day seals each closed day's report figures (stored for good)."""

from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from server.cli import main
from shared import layout
from shared.clock import FrozenClock
from shared.db import connect


def test_close_day_stores_the_figures_of_the_days_it_closed(tmp_path, database):
    from server import create_app
    from shared.db import get_db
    from shared.queue import QueueEngine

    instance = str(tmp_path / "instance")
    where = ["--instance", instance, "--database", database]
    CliRunner().invoke(main, ["load-layout", str(layout.DEMO_LAYOUT), *where])
    yesterday = datetime.now(UTC) - timedelta(days=1)
    app = create_app({"DATABASE_URL": database}, instance=instance, clock=FrozenClock(yesterday))
    with app.app_context():
        QueueEngine(get_db(), app.extensions["turnos.clock"]).issue("cam-centro", "A")
    result = CliRunner().invoke(main, ["close-day", "--yes", *where], catch_exceptions=False)
    assert result.exit_code == 0
    assert "reports: sealed the figures of" in result.output
    db = connect(database)
    day = db.execute("SELECT day FROM tickets").fetchone()[0]
    dimensions = [r[0] for r in db.execute(
        "SELECT dimension FROM report_partials WHERE day = ? AND site_id = "
        "(SELECT id FROM sites WHERE code = 'cam-centro') ORDER BY dimension", [day])]
    assert dimensions == ["desk", "hour", "official", "priority", "service", "total"]
    db.conn.close()
