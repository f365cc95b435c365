"""Report endpoints of the JSON API (under /api/v1): the summary, its charts and the live monitor."""

from flask import Blueprint, current_app, jsonify, request

from api import openapi
from shared import auth
from shared.auth import require
from shared.db import get_db

from . import monitor, summary

bp = Blueprint("reports_api", __name__, url_prefix="/api/v1")

MANAGERS = ("admin", "supervisor")


def now_ms() -> int:
    """Return the application clock's time."""
    return current_app.extensions["turnos.clock"].now_ms()


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
        "heatmap": summary.heatmap(by_hour["_partials"]),
        "services": [{"key": r["key"], "label": r["label"], "wait_mean": r["wait_mean"],
                      "wait_p90": r["wait_p90"], "service_mean": r["service_mean"],
                      "service_level": r["service_level"], "issued": r["issued"]}
                     for r in by_service["rows"]],
    }


@bp.get("/reports/summary")
@require(*MANAGERS)
def report_summary():
    """Return a period's figures grouped by service, desk, official, priority, hour or day."""
    db = get_db()
    now = now_ms()
    query = summary.parse_query(db, auth.current_principal(), request.args, now)
    report = summary.summary(db, query["sites"], query["day_from"], query["day_to"],
                             query["group_by"], now)
    return jsonify(public(report))


@bp.get("/reports/charts")
@require(*MANAGERS)
def report_charts():
    """Return the chart data of a period (per hour, wait bands, weekday × hour, per service)."""
    db = get_db()
    now = now_ms()
    query = summary.parse_query(db, auth.current_principal(), request.args, now)
    return jsonify(dict(charts(db, query, now), **{"from": query["day_from"], "to": query["day_to"],
                                                    "sites": [s["code"] for s in query["sites"]]}))


@bp.get("/reports/monitor")
@require(*MANAGERS)
def report_monitor():
    """Return the live state of a site: lines, desks, kiosks' printers, alerts, staffing hint."""
    db = get_db()
    sites = summary.resolve_sites(db, auth.current_principal(), request.args.get("site"))
    return jsonify(monitor.state(db, sites[0], current_app.extensions["turnos.clock"]))


def _register_openapi() -> None:
    """Describe the report endpoints in the OpenAPI document."""
    number = {"type": "number", "nullable": True}
    count = {"type": "integer"}
    figures = {"type": "object", "properties": {
        **{k: count for k in ("tickets", "segments", "issued", "visits", "transferred_in",
                              "called", "served", "no_shows", "abandoned", "cancelled",
                              "transferred", "recalls", "automatic_finished", "automatic_no_shows",
                              "service_level_met", "ratings")},
        **{k: number for k in ("no_show_rate", "abandonment_rate", "wait_mean", "wait_p50",
                               "wait_p90", "wait_max", "segment_wait_mean", "walk_mean",
                               "service_mean", "service_p50", "service_p90", "centre_mean",
                               "service_level", "service_level_all", "logged_in_seconds",
                               "serving_seconds", "paused_seconds", "idle_seconds", "occupancy",
                               "satisfaction_mean", "satisfied_share", "response_rate")},
        "ratings_by_score": {"type": "object", "additionalProperties": count}},
        "description": "Times in seconds; rates and shares from 0 to 1; null when undefined. "
                       "tickets = printed tickets (visits), segments = ticket rows (a transfer "
                       "opens one more; issued and visits are the same two counts). wait = first "
                       "call − the citizen's arrival (segment_wait_mean: from the segment's own "
                       "issue), walk = start − first call, service = finish − start, centre = "
                       "finish − first issue of the visit; automatic closes by the end-of-day job "
                       "are counted apart and left out of served, no-shows, walk, service, centre "
                       "and occupancy; p50/p90 interpolate linearly (within 1 % above 256 times "
                       "in a group); service_level = called segments waiting ≤ the target in "
                       "force when they joined the line ÷ called; service_level_all = the same ÷ "
                       "(called + abandoned); occupancy = serving ÷ logged-in time; "
                       "satisfied_share = ratings of 4 or 5 ÷ ratings. See reports/README.md."}
    row = {"allOf": [figures, {"type": "object", "properties": {
        "key": {"oneOf": [openapi.STR, count], "nullable": True}, "label": openapi.STR,
        "site": {"type": "string", "nullable": True}}}]}
    params = [
        {"name": "site", "in": "query", "required": False, "schema": openapi.STR,
         "description": "Site code or id; empty or 'all' for every site the caller may use"},
        {"name": "from", "in": "query", "required": False, "schema": {"type": "string", "format": "date"},
         "description": "First local day (YYYY-MM-DD); today when absent"},
        {"name": "to", "in": "query", "required": False, "schema": {"type": "string", "format": "date"},
         "description": "Last local day (YYYY-MM-DD); equal to from when absent"},
        {"name": "period", "in": "query", "required": False,
         "schema": {"type": "string", "enum": list(summary.PRESETS)},
         "description": "Instead of from/to: the day, week, month or quarter containing today"},
    ]
    group = {"name": "group_by", "in": "query", "required": False,
             "schema": {"type": "string", "enum": list(summary.GROUPS), "default": "service"}}
    openapi.register("/reports/summary", "get", openapi._op(
        "Evaluation figures of a period grouped by service, desk, official, priority, hour or day "
        "(admin, supervisor)", params=[*params, group], errors=(400, 401, 403, 404),
        ok_schema={"type": "object", "properties": {
            "group_by": openapi.STR, "from": openapi.STR, "to": openapi.STR,
            "sites": {"type": "array", "items": openapi.STR},
            "rows": {"type": "array", "items": row}, "totals": figures},
            "required": ["rows", "totals"]}))
    openapi.register("/reports/charts", "get", openapi._op(
        "Chart data of a period: arrivals and served per hour, wait bands, mean wait per weekday "
        "and hour, per-service comparison (admin, supervisor)", params=params,
        errors=(400, 401, 403, 404)))
    openapi.register("/reports/monitor", "get", openapi._op(
        "Live state of a site: waiting per service with the longest wait, desks, kiosk printers, "
        "alerts and the Erlang C staffing hint (admin, supervisor)",
        params=[params[0]], errors=(401, 403, 404)))


def init_app(app) -> None:
    """Register the report endpoints and describe them."""
    app.register_blueprint(bp)
    _register_openapi()
