"""Report endpoints of the JSON API (under /api/v1): the summary, its charts and the live monitor."""

from flask import jsonify, request
from marshmallow import fields

from shared import auth, contract
from shared.contract import OpenShape, Query, Shape, Text
from shared.db import get_db
from shared.web import MANAGERS, current_clock, now_ms, require

from . import channels, monitor, summary

bp = contract.Blueprint("reports_api", __name__, url_prefix="/api/v1",
                        description="Evaluation figures, their charts and the live monitor")

def public(report: dict) -> dict:
    """Drop the internal parts of a report (names starting with an underscore)."""
    return {k: v for k, v in report.items() if not k.startswith("_")}


def charts(db, query: dict, now: int, report: dict | None = None) -> dict:
    """Return the chart data of a period: per hour, wait bands, weekday × hour, per service."""
    sites = query["sites"]
    labels = summary.Labels(db, sites)
    by_service = (report if report and report["group_by"] == "service" else
                  summary.summary(db, sites, query["day_from"], query["day_to"], "service", now, labels))
    by_hour = (report if report and report["group_by"] == "hour" else
               summary.summary(db, sites, query["day_from"], query["day_to"], "hour", now, labels))
    return {
        "hourly": [{"hour": r["key"], "issued": r["issued"], "served": r["served"],
                    "wait_mean": r["wait_mean"]} for r in by_hour["rows"]],
        "distribution": summary.wait_distribution(by_service["_total"]),
        "heatmap": by_hour["_heatmap"],
        "services": [{"key": r["key"], "label": r["label"], "wait_mean": r["wait_mean"],
                      "wait_p90": r["wait_p90"], "service_mean": r["service_mean"],
                      "service_level": r["service_level"], "issued": r["issued"]}
                     for r in by_service["rows"]],
    }


# --- the contract (what the OpenAPI document says; summary.parse_query validates) -------------


class SiteQuery(Query):
    """Which site (or all of the caller's)."""

    site = Text(max_length=64, metadata={
        "description": "Site code or id; empty or 'all' for every site the caller may use"})


class PeriodQuery(SiteQuery):
    """Which site and which days."""

    from_ = Text(data_key="from", max_length=10, metadata={
        "format": "date", "description": "First local day (YYYY-MM-DD); today when absent"})
    to = Text(max_length=10, metadata={
        "format": "date", "description": "Last local day (YYYY-MM-DD); equal to from when absent"})
    period = Text(max_length=16, metadata={
        "enum": list(summary.PRESETS),
        "description": "Instead of from/to: the day, week, month or quarter containing today"})


class SummaryQuery(PeriodQuery):
    """Which site, which days, grouped how."""

    group_by = Text(max_length=16, metadata={"enum": list(summary.GROUPS), "default": "service"})


FIGURES_NOTE = ("Times in seconds; rates and shares from 0 to 1; null when undefined. "
                "tickets = printed tickets (visits), segments = ticket rows (a transfer opens one "
                "more; issued and visits are the same two counts). wait = first call − the "
                "citizen's arrival (segment_wait_mean: from the segment's own issue), walk = start "
                "− first call, service = finish − start, centre = finish − first issue of the "
                "visit; automatic closes by the end-of-day job are counted apart and left out of "
                "served, no-shows, walk, service, centre and occupancy; p50/p90 interpolate "
                "linearly (within 1 % above 256 times in a group); service_level = called segments "
                "waiting ≤ the target in force when they joined the line ÷ called; "
                "service_level_all = the same ÷ (called + abandoned); occupancy = serving ÷ "
                "logged-in time; satisfied_share = ratings of 4 or 5 ÷ ratings. See "
                "reports/README.md.")
COUNTS = ("tickets", "segments", "issued", "visits", "transferred_in", "called", "served",
          "no_shows", "abandoned", "cancelled", "transferred", "recalls", "automatic_finished",
          "automatic_no_shows", "service_level_met", "ratings")
MEASURES = ("no_show_rate", "abandonment_rate", "wait_mean", "wait_p50", "wait_p90", "wait_max",
            "segment_wait_mean", "walk_mean", "service_mean", "service_p50", "service_p90",
            "centre_mean", "service_level", "service_level_all", "logged_in_seconds",
            "serving_seconds", "paused_seconds", "idle_seconds", "occupancy", "satisfaction_mean",
            "satisfied_share", "response_rate")

Figures = OpenShape.from_dict(
    {**{k: fields.Integer() for k in COUNTS},
     **{k: fields.Float(allow_none=True) for k in MEASURES},
     "ratings_by_score": fields.Dict(keys=fields.String(), values=fields.Integer())}, name="Figures")


class Row(Figures):
    """One group's figures, with its key and label."""

    key = fields.Raw(allow_none=True, metadata={"oneOf": [{"type": "string"}, {"type": "integer"}]})
    label = fields.String()
    site = fields.String(allow_none=True)


class Summary(OpenShape):
    """A period's figures grouped by one dimension, and their totals."""

    group_by = fields.String(required=True)
    from_ = fields.String(data_key="from", required=True, metadata={"format": "date"})
    to = fields.String(required=True, metadata={"format": "date"})
    sites = fields.List(fields.String(), required=True)
    rows = fields.List(fields.Nested(Row), required=True)
    totals = fields.Nested(Figures, required=True, metadata={"description": FIGURES_NOTE})


class Charts(OpenShape):
    """A period's chart data: per hour, wait bands, weekday × hour, per service."""

    from_ = fields.String(data_key="from", required=True, metadata={"format": "date"})
    to = fields.String(required=True, metadata={"format": "date"})
    sites = fields.List(fields.String(), required=True)
    hourly = fields.List(fields.Dict(), required=True)
    distribution = fields.List(fields.Dict(), required=True)
    heatmap = fields.List(fields.Dict(), required=True)
    services = fields.List(fields.Dict(), required=True)


class Monitor(OpenShape):
    """The live state of a site: lines, desks, kiosks' printers, alerts and the staffing hint."""

    site = fields.String(required=True)
    site_name = fields.String(required=True)
    day = fields.String(required=True, metadata={"format": "date"})
    server_time = fields.String(required=True, metadata={"format": "date-time"})
    services = fields.List(fields.Dict(), required=True)
    waiting = fields.Raw(required=True)
    desks = fields.List(fields.Dict(), required=True)
    kiosks = fields.List(fields.Dict(), required=True)
    alerts = fields.List(fields.Dict(), required=True)
    staffing = fields.Raw(required=True)
    totals = fields.Dict(required=True)
    channels = fields.Dict(required=True, metadata={
        "description": "Today's appointments and turns from phones (reports/README.md)"})


@bp.route("/reports/summary")
@require(*MANAGERS)
@bp.arguments(SummaryQuery, location="query")
@bp.response(200, Summary)
@bp.errors(400, 401, 403, 404)
def report_summary(query):
    """Evaluation figures of a period grouped by service, desk, official, priority, hour or day
    (admin, supervisor)."""
    db = get_db()
    now = now_ms()
    query = summary.parse_query(db, auth.current_principal(), request.args, now)
    report = summary.summary(db, query["sites"], query["day_from"], query["day_to"],
                             query["group_by"], now)
    return jsonify(public(report))


@bp.route("/reports/charts")
@require(*MANAGERS)
@bp.arguments(PeriodQuery, location="query")
@bp.response(200, Charts)
@bp.errors(400, 401, 403, 404)
def report_charts(query):
    """Chart data of a period: arrivals and served per hour, wait bands, mean wait per weekday
    and hour, per-service comparison (admin, supervisor)."""
    db = get_db()
    now = now_ms()
    query = summary.parse_query(db, auth.current_principal(), request.args, now)
    return jsonify(dict(charts(db, query, now), **{"from": query["day_from"], "to": query["day_to"],
                                                    "sites": [s["code"] for s in query["sites"]]}))


@bp.route("/reports/monitor")
@require(*MANAGERS)
@bp.arguments(SiteQuery, location="query")
@bp.response(200, Monitor)
@bp.errors(400, 401, 403, 404)
def report_monitor(query):
    """Live state of a site: waiting per service with the longest wait, desks, kiosk printers,
    alerts and the Erlang C staffing hint (admin, supervisor)."""
    db = get_db()
    sites = summary.resolve_sites(db, auth.current_principal(), request.args.get("site"))
    return jsonify(monitor.state(db, sites[0], current_clock()))


class ChannelRow(Shape):
    """Appointments and turns from phones of one service in a period."""

    site = fields.String(required=True)
    service = fields.String(required=True)
    service_name = fields.String(required=True)
    booked = fields.Integer(required=True)
    cancelled = fields.Integer(required=True)
    moved = fields.Integer(required=True)
    checked_in = fields.Integer(required=True)
    no_show = fields.Integer(required=True)
    no_show_rate = fields.Float(required=True, allow_none=True)
    early = fields.Integer(required=True)
    late = fields.Integer(required=True)
    remote_taken = fields.Integer(required=True)
    remote_confirmed = fields.Integer(required=True)
    remote_never_confirmed = fields.Integer(required=True)
    remote_awaiting = fields.Integer(required=True)
    remote_called = fields.Integer(required=True)
    remote_no_show = fields.Integer(required=True)


class Channels(Shape):
    """A period's appointments (punctuality, wait from slot time) and turns from phones."""

    from_ = fields.String(data_key="from", required=True, metadata={"format": "date"})
    to = fields.String(required=True, metadata={"format": "date"})
    sites = fields.List(fields.String(), required=True)
    rows = fields.List(fields.Nested(ChannelRow), required=True)
    totals = fields.Dict(required=True)


@bp.route("/reports/channels")
@require(*MANAGERS)
@bp.arguments(PeriodQuery, location="query")
@bp.response(200, Channels)
@bp.errors(400, 401, 403, 404)
def report_channels(query):
    """Appointments (booked, cancelled, moved, checked in, no-shows, punctuality, wait from slot
    time) and turns from phones (taken, confirmed, never confirmed, no-shows) of a period
    (admin, supervisor)."""
    db = get_db()
    query = summary.parse_query(db, auth.current_principal(), request.args, now_ms())
    data = channels.figures(db, query["sites"], query["day_from"], query["day_to"])
    return jsonify(dict(data, **{"from": query["day_from"], "to": query["day_to"]}))


def init_app(app) -> None:
    """Register the report endpoints (described in the one API document)."""
    contract.register(app, bp)
