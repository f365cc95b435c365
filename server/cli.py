"""The command line: ``python run.py --help``."""

import getpass
import os
import socket
import sys
from datetime import date
from pathlib import Path

import click
from gevent import pywsgi

from reports import summary
from shared import auth, backups, copydata, devices, layout, migrations, retention, store
from shared.channel_worker import start_worker as start_channels_worker
from shared.clock import current_clock
from shared.cluster import current_cluster
from shared.config import build, instance_path
from shared.db import (
    get_db,
    is_postgresql,
    is_unavailable,
    resolve,
    safe_url,
    start_checkpointer,
    under_gevent,
)
from shared.errors import DomainError
from shared.events import socketio
from shared.printing.agent import run_agent
from shared.printing.connections import parse_spec
from shared.printing.testpage import printer_test as run_test
from shared.printing.watch import start_printer_watch
from shared.queue import QueueEngine

from . import create_app

INSTANCE_HELP = "Instance folder (database, secret key, tickets). Default: ./instance"

DEMO_USERS = (
    ("admin", "admin-demo-2026", "admin", "Administradora Demo"),
    ("supervisor", "supervisor-demo-2026", "supervisor", "Supervisor Demo"),
    ("funcionario1", "funcionario-demo-2026", "official", "Funcionaria Uno"),
    ("funcionario2", "funcionario-demo-2026", "official", "Funcionario Dos"),
)


DATABASE_HELP = ("Where the data lives: postgresql://USER:PASSWORD@HOST/NAME, or sqlite:PATH. "
                 "Default: turnos.sqlite3 in the instance folder (or TURNOS_DATABASE_URL).")


def _remember_database(ctx, _param, value):
    """Keep --database for make_app (every subcommand takes it)."""
    if value:
        ctx.meta["turnos.database"] = value
    return value


def instance_option(fn):
    """Add the --instance and --database options every subcommand takes."""
    fn = click.option("--database", "database", default=None, expose_value=False,
                      callback=_remember_database, help=DATABASE_HELP)(fn)
    return click.option("--instance", "instance", type=click.Path(file_okay=False),
                        default=None, help=INSTANCE_HELP)(fn)


def make_app(instance, **config):
    """Create the application for an instance folder (and the --database given, if any)."""

    ctx = click.get_current_context(silent=True)
    database = ctx.meta.get("turnos.database") if ctx is not None else None
    if database:
        config["DATABASE_URL"] = database
    try:
        return create_app(config, instance=instance)
    except migrations.SchemaChangeRefused as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        if exc.filename is None:
            raise
        raise click.ClickException(
            f"{exc.filename} cannot be written ({exc.strerror}). The instance folder (--instance, "
            "TURNOS_INSTANCE, or ./instance) must be one this user may write; on a server set up "
            "by deploy/README.md, add --env-file /etc/turnos/turnos.env. Nothing was changed.") from None
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        # A service started before its database (after a power cut, say): one line in its log.
        target = safe_url(build(instance_path(instance), dict(config))["DATABASE"])
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise click.ClickException(f"the database at {target} does not answer ({reason}). "
                                   "Is it running and reachable from here? Nothing was changed.") from None


def _read_env_file(_ctx, _param, value):
    """Set the TURNOS_* settings of an env file (systemd's EnvironmentFile=) not already set."""
    if value:
        from dotenv import dotenv_values

        for name, setting in dotenv_values(value).items():
            if setting is not None:
                os.environ.setdefault(name, setting)
    return value


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--env-file", type=click.Path(exists=True, dir_okay=False), default=None,
              expose_value=False, is_eager=True, callback=_read_env_file,
              help="Read settings from this file first, as the systemd units do "
                   "(/etc/turnos/turnos.env); variables already set win.")
def main():
    """Turnos: queue management for citizen-service centres."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port to listen on.")
@instance_option
@click.option("--demo", is_flag=True, help="Seed a demo CAM (layout, users, devices) if empty.")
@click.option("--public-url", default=None, help="Base URL printed in ticket QR codes.")
@click.option("--secure-cookies", is_flag=True, help="Mark cookies Secure (behind HTTPS).")
@click.option("--message-queue", default=None,
              help="Redis URL to share events between several server processes.")
@click.option("--behind-proxy", type=click.IntRange(min=0), default=None,
              help="How many reverse proxies (nginx: 1) stand in front; their X-Forwarded-* are trusted.")
def serve(host, port, instance, demo, public_url, secure_cookies, message_queue, behind_proxy):
    """Start the server (kiosk, display, desk, admin and API)."""
    # Options not given leave the environment's TURNOS_* settings (systemd units use them).
    config = {"PUBLIC_URL": public_url or None, "SESSION_COOKIE_SECURE": secure_cookies or None,
              "SOCKETIO_MESSAGE_QUEUE": message_queue, "DEMO": demo,
              "BEHIND_PROXY": behind_proxy}
    if under_gevent():
        config["SOCKETIO_ASYNC_MODE"] = "gevent"
        # Another process's SQLite write lock is waited for without freezing this one's loop.
        config["COOPERATIVE_SQLITE"] = True
    else:
        config["SOCKETIO_ASYNC_MODE"] = "threading"
    app = make_app(instance, **config)
    links = []
    if demo:
        with app.app_context():
            links = seed_demo(app)
    base = app.config.get("PUBLIC_URL") or \
        f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    _print_addresses(base, links, demo)
    start_checkpointer(app)
    current_cluster(app).start_watchdog()
    start_printer_watch(app)
    start_channels_worker(app)
    if config["SOCKETIO_ASYNC_MODE"] == "gevent":
        pywsgi.WSGIServer((host, port), app, handler_class=_no_delay_handler(), log=None,
                          error_log=None).serve_forever()
    else:
        socketio.run(app, host=host, port=port, allow_unsafe_werkzeug=True, log_output=False)


def _no_delay_handler():
    """Return the gevent WSGI handler (gevent-websocket's when installed) without Nagle.

    pywsgi writes the headers and the body separately; with Nagle on, the body
    waits for the client's delayed ACK (about 40 ms) on every kept-alive request.
    gevent-websocket frames WebSocket messages in fewer Python steps than the
    portable fallback, which matters when one call goes to hundreds of screens.
    """
    try:
        from geventwebsocket.handler import WebSocketHandler as Base
    except ImportError:
        Base = pywsgi.WSGIHandler

    class NoDelayHandler(Base):
        def handle(self):
            try:
                self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:  # not a TCP socket (a test harness); nothing to tune
                pass
            super().handle()

    return NoDelayHandler


def _print_addresses(base: str, links: list[tuple[str, str]], demo: bool) -> None:
    """Print where each face lives and, in demo mode, the logins."""
    click.echo(f"\nTurnos listening on {base}")
    click.echo(f"  Kiosk:              {base}/kiosk/    (a paired kiosk; an admin may preview)")
    click.echo(f"  Display:            {base}/display/  (a paired screen; an admin may preview)")
    click.echo(f"  Desk (officials):   {base}/desk/")
    click.echo(f"  Admin:              {base}/admin/")
    click.echo(f"  Reports:            {base}/reports/")
    click.echo(f"  Supervisor monitor: {base}/reports/monitor")
    click.echo(f"  API document:       {base}/api/v1/openapi.json")
    if links:
        click.echo("One-time links that pair this browser as a device (valid 24 h):")
    for label, path in links:
        click.echo(f"  {label:<19} {base}{path}")
    if demo:
        click.echo("\nDemo logins (user / password):")
        for username, password, role, _name in DEMO_USERS:
            click.echo(f"  {username:<13} {password:<22} ({role})")
    click.echo("")


def seed_demo(app) -> list[tuple[str, str]]:
    """Seed the demo CAM when the database is empty; return one-time device pairing links."""

    db = get_db()
    clock = current_clock(app)
    if store.count_sites(db) == 0:
        layout.load_file(db, layout.DEMO_LAYOUT, clock)
    if not store.list_users(db):
        for username, password, role, name in DEMO_USERS:
            auth.create_user(db, username, password, role, clock, display_name=name)
    return demo_pairing_links(app)


def demo_pairing_links(app) -> list[tuple[str, str]]:
    """Return a pairing link for each demo device (creating the devices the first time)."""

    db = get_db()
    clock = current_clock(app)
    site = store.find_site(db, "cam-centro")
    if site is None:
        return []
    wanted = (("kiosk", "Kiosco entrada", "Kiosk (pair):"),
              ("display", "Pantalla sala de espera", "Display (pair):"))
    existing = {(d["kind"], d["name"]): d for d in store.list_devices(db, site["id"])}
    links = []
    for kind, name, label in wanted:
        device = existing.get((kind, name))
        if device is None:
            device_id = store.insert_device(db, site["id"], kind, name, None, {}, clock.now_ms())
        else:
            device_id = device["id"]
        code = devices.new_pairing_code(db, device_id, clock, ttl_seconds=24 * 3600)
        links.append((label, f"/pair/{code}"))
    return links


@main.command()
@instance_option
def migrate(instance):
    """Create or upgrade the database schema."""

    app = make_app(instance)  # applies what is pending
    click.echo(f"Database: {safe_url(app.config['DATABASE'])}")
    click.echo("Applied migrations: " + ", ".join(migrations.applied(app.config["DATABASE"])))


@main.command("copy-data")
@click.option("--from", "source", required=True,
              help="The database to copy: sqlite:PATH or postgresql://...")
@click.option("--to", "destination", required=True,
              help="The empty database to fill: postgresql://... or sqlite:PATH")
def copy_data(source, destination):
    """Copy every table (tickets, events, users, devices, report figures) into an empty database.

    Ids stay as they are, so links, QR codes and exports keep working; stop the
    servers first, copy, then start them on the new database.
    """

    try:
        source_target = resolve(source, Path.cwd())
        destination_target = resolve(destination, Path.cwd())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if source_target == destination_target:
        raise click.BadParameter("--from and --to name the same database")
    click.echo(f"Copying {safe_url(source_target)} -> {safe_url(destination_target)}")
    try:
        counts = copydata.copy(source_target, destination_target, echo=click.echo)
    except DomainError as exc:
        raise click.ClickException(str(exc.message)) from exc
    click.echo(f"Done: {sum(counts.values())} rows in {len(counts)} tables.")
    _remind_id_key(source_target, destination_target, counts)


def _remind_id_key(source: str, destination: str, counts: dict[str, int]) -> None:
    """Say how to carry the key of citizen ID hashes, kept out of the database on purpose.

    A copy of the database that leaks must not let anyone recover ID numbers by
    hashing every possible one; so the key is not copied, and the new server
    needs it to recognise the IDs recorded so far (an appointment already booked
    with an ID is found by it, and a ticket's kept hash matches it).
    """
    if not is_postgresql(source):
        key = Path(source).parent / auth.ID_KEY_FILE
        if key.exists():
            click.echo(f"Citizen ID numbers recorded so far are hashed with the key in {key}, which "
                       "is not in the database. Give the new server that key, or it will not recognise "
                       "them: TURNOS_ID_HASH_KEY=<that file's content> in the settings of every process "
                       "(/etc/turnos/turnos.env), or the file itself in its instance folder.")
    elif counts.get("ticket_id_hashes") or counts.get("appointments"):
        key = Path(destination).parent / auth.ID_KEY_FILE
        click.echo(f"Citizen ID numbers recorded so far are hashed with the old server's "
                   f"TURNOS_ID_HASH_KEY, which is not in the database: write it into {key} "
                   "(64 hex characters, readable by the server's user only) before starting it.")


@main.command()
@click.argument("destination", type=click.Path())
@click.option("--keep", type=click.IntRange(min=1), default=None,
              help="When DESTINATION is a folder: keep only this many newest backups in it.")
@instance_option
def backup(destination, keep, instance):
    """Take a consistent copy of the live database without stopping the service.

    SQLite: SQLite's online backup into DESTINATION (a file, or a folder where a
    dated file is made). PostgreSQL: pg_dump's custom format (restore with
    pg_restore; see the README). The database is copied as it is: nothing is
    migrated first (a role that may only read can take it).
    """

    app = make_app(instance, MIGRATE_ON_START=False)
    try:
        path = backups.backup(app.config["DATABASE"], Path(destination), keep=keep)
    except (OSError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Backup written: {path}")
    try:
        with app.app_context():
            backups.record(get_db(), path, current_clock(app).now_ms())
    except Exception as exc:  # noqa: BLE001 (the copy is whole; only the overview misses it)
        click.echo(f"The backup is whole, but the administration overview could not be told ({exc}).",
                   err=True)


@main.command("create-user")
@click.argument("name")
@click.option("--role", type=click.Choice(["admin", "supervisor", "official"]), required=True)
@click.option("--password", default=None, help="Asked for when omitted.")
@click.option("--display-name", default="", help="Name shown in the desk and reports.")
@instance_option
def create_user(name, role, password, display_name, instance):
    """Create a staff account."""

    app = make_app(instance)
    if password is None:
        password = getpass.getpass("Contraseña: ")
        if getpass.getpass("Repita la contraseña: ") != password:
            raise click.ClickException("Las contraseñas no coinciden.")
    with app.app_context():
        try:
            user_id = auth.create_user(get_db(), name, password, role,
                                       current_clock(app), display_name=display_name)
        except DomainError as exc:
            raise click.ClickException(str(exc.message)) from exc
    click.echo(f"Created user {name} (id {user_id}, role {role}).")


@main.command("load-layout")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@instance_option
def load_layout(file, instance):
    """Create or update sites, services, desks and priority categories from a TOML file."""

    app = make_app(instance)
    with app.app_context():
        try:
            counts = layout.load_file(get_db(), file, current_clock(app))
        except DomainError as exc:
            raise click.ClickException(str(exc.message)) from exc
    click.echo("Loaded: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


@main.command("export-layout")
@instance_option
def export_layout(instance):
    """Print the current sites, services, desks and categories as a TOML layout."""

    app = make_app(instance)
    with app.app_context():
        click.echo(layout.export(get_db()))


@main.command("close-day")
@click.option("--site", "site_code", default=None, help="One site (default: all sites).")
@click.option("--day", default=None, help="Close tickets up to this local day (default: today).")
@click.option("--ended", is_flag=True,
              help="Per site, only a day that is over: today once the site's opening hours have "
                   "ended (or it does not open today), else up to yesterday. The nightly timer uses "
                   "it, so it never closes a day still being served, whatever the server's time zone.")
@click.option("--dry-run", is_flag=True, help="Only say what would change.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (cron, systemd timers).")
@instance_option
def close_day(site_code, day, ended, dry_run, yes, instance):
    """End the day: never-called tickets become abandoned; numbering restarts tomorrow.

    It first says, per site, what will change; then asks (or goes on with --yes).
    """

    if ended and day:
        raise click.BadParameter("give either --day or --ended, not both", param_hint="--ended")
    app = make_app(instance)
    with app.app_context():
        db = get_db()
        engine = QueueEngine(db, current_clock(app))
        try:
            sites = [engine.site(site_code)] if site_code else store.list_sites(db)
            plans = [(site, engine.close_day_plan(site, engine.last_ended_day(site) if ended else day))
                     for site in sites]
        except DomainError as exc:
            raise click.ClickException(str(exc.message)) from exc
        for _site, plan in plans:
            click.echo(f"{plan['site']}: will close up to {plan['day']}: {plan['abandoned']} waiting "
                       f"→ abandoned, {plan['no_show']} called → no-show, {plan['finished']} in "
                       f"service → finished (automatic), {plan['sessions_closed']} desk sessions")
        if dry_run:
            return
        if not yes:
            if not sys.stdin.isatty():
                raise click.ClickException("not a terminal: add --yes to close without asking")
            click.confirm("Close these days?", abort=True)
        for site, plan in plans:
            summary = engine.close_day(site, plan["day"])
            click.echo(f"{site['code']}: {summary['abandoned']} abandoned, {summary['no_show']} "
                       f"no-show, {summary['finished']} finished, "
                       f"{summary['sessions_closed']} desk sessions closed (up to {summary['day']})")
        for report in after_close_day(app, db):
            click.echo(report)


def after_close_day(app, db) -> list[str]:
    """Do what follows closing the days: purge what outlived its retention, seal the closed days' figures."""
    purged = retention.purge_expired(db)
    tidied = retention.tidy_channels(db)
    sealed = summary.seal_recent(db, current_clock(app).now_ms())
    sealed_line = f"reports: sealed the figures of {sealed} closed site-days"
    return [line for line in (purged, tidied, sealed_line) if line]


@main.command("seal")
@click.option("--site", "site_code", default=None, help="One site (default: all sites).")
@click.option("--from", "day_from", required=True, help="First local day (YYYY-MM-DD).")
@click.option("--to", "day_to", required=True, help="Last local day (YYYY-MM-DD).")
@instance_option
def seal(site_code, day_from, day_to, instance):
    """Store for good the report figures of closed days not sealed yet (close-day seals recent ones)."""

    app = make_app(instance)
    with app.app_context():
        db, sites, now = _report_scope(app, site_code, day_from, day_to)
        count = summary.seal(db, sites, day_from, day_to, now, reason="run.py seal")
        click.echo(f"sealed {count} site-days from {day_from} to {day_to}")


@main.command("reseal")
@click.option("--site", "site_code", default=None, help="One site (default: all sites).")
@click.option("--from", "day_from", required=True, help="First local day (YYYY-MM-DD).")
@click.option("--to", "day_to", required=True, help="Last local day (YYYY-MM-DD).")
@click.option("--reason", required=True, help="Why the sealed figures are computed again (audited).")
@click.option("--user", "username", default=None, help="The administrator responsible (audited).")
@instance_option
def reseal(site_code, day_from, day_to, reason, username, instance):
    """Compute sealed report figures again from the tickets: an explicit act, written to the audit log."""

    app = make_app(instance)
    with app.app_context():
        db, sites, now = _report_scope(app, site_code, day_from, day_to)
        user = store.find_user(db, username) if username else None
        if username and user is None:
            raise click.ClickException(f"unknown user {username}")
        try:
            detail = summary.reseal(db, sites, day_from, day_to, now, user and user["id"], reason)
        except DomainError as exc:
            raise click.ClickException(str(exc.message)) from exc
        click.echo(f"resealed {detail['days']} site-days from {day_from} to {day_to}; "
                   f"{len(detail['changed'])} figures changed (audit: reports.reseal)")
        for name, change in sorted(detail["changed"].items()):
            click.echo(f"  {name}: {change['before']} -> {change['after']}")


def _report_scope(app, site_code, day_from, day_to):
    """Return (db, sites, now) for a command over a period, refusing malformed days."""

    for value in (day_from, day_to):
        try:
            date.fromisoformat(value)
        except ValueError:
            raise click.ClickException(f"not a day: {value} (use YYYY-MM-DD)") from None
    db = get_db()
    sites = store.list_sites(db)
    if site_code:
        sites = [s for s in sites if s["code"] == site_code]
        if not sites:
            raise click.ClickException(f"unknown site {site_code}")
    return db, sites, current_clock(app).now_ms()


@main.command("printer-test")
@click.option("--printer", "spec", required=True,
              help="serial:/dev/ttyUSB0 | tcp:HOST:9100 | usb:VID:PID | file:/dev/usb/lp0 | virtual:")
@click.option("--paper", type=click.Choice(["80mm", "58mm"]), default="80mm", show_default=True)
@click.option("--profile", default="TM-T20II", show_default=True, help="python-escpos printer profile")
@instance_option
def printer_test(spec, paper, profile, instance):
    """Print a test page (Spanish characters, big code, QR) on a printer."""

    virtual_dir = None
    if spec.startswith("virtual"):
        virtual_dir = str(Path(instance_path(instance)) / "tickets")
    sys.exit(run_test(spec, paper=paper, profile=profile, virtual_dir=virtual_dir))


@main.command("printer-agent")
@click.option("--server", "server_url", required=True, envvar="TURNOS_AGENT_SERVER",
              help="The Turnos server, e.g. http://10.0.0.2:5000 (or set TURNOS_AGENT_SERVER).")
@click.option("--token", required=True, envvar="TURNOS_AGENT_TOKEN",
              help="The kiosk's device token (or set TURNOS_AGENT_TOKEN).")
@click.option("--printer", "spec", required=True, envvar="TURNOS_AGENT_PRINTER",
              help="serial:/dev/ttyUSB0 | tcp:HOST:9100 | usb:VID:PID | file:/dev/usb/lp0 | virtual:DIR "
                   "(or set TURNOS_AGENT_PRINTER).")
@click.option("--state-file", type=click.Path(dir_okay=False), default=None, envvar="TURNOS_AGENT_STATE_FILE",
              help="Where the agent records the jobs it printed (default: "
                   "~/.local/state/turnos/printer-agent.json; or set TURNOS_AGENT_STATE_FILE).")
@click.option("--status-interval", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="Seconds between printer status reports.")
@click.option("--timeout", type=click.FloatRange(min=0.5, max=60), default=5.0, show_default=True,
              help="Seconds a print job may take.")
def printer_agent(server_url, token, spec, state_file, status_interval, timeout):
    """Print a remote kiosk's tickets on the printer attached to this computer."""

    try:
        parse_spec(spec)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--printer") from exc
    if not server_url.startswith(("http://", "https://")):
        raise click.BadParameter("use http://HOST:PORT or https://HOST", param_hint="--server")
    run_agent(server_url, token, spec, state_file=state_file, status_interval=status_interval,
              timeout=timeout)
