"""Evaluation pages for supervisors and administrators: reports, exports, quarterly summary, monitor."""

import re
from datetime import date, timedelta

from flask import Blueprint, Response, current_app, render_template, request, send_file, stream_with_context
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from shared import auth, store
from shared.db import get_db
from shared.errors import Invalid
from shared.queue import current_engine
from shared.timefmt import iso, local_day
from shared.web import ADMINS, MANAGERS, login_first, now_ms, require

from . import api, channels, exports, monitor, summary

bp = Blueprint("reports", __name__, url_prefix="/reports", template_folder="templates",
               static_folder="static", static_url_path="/static")

TABLES = ("summary", "tickets", "events", "hourly", "distribution", "heatmap")
FORMATS = ("csv", "xlsx")
GROUP_LABELS = {"service": _l("Servicio"), "desk": _l("Módulo"), "official": _l("Servidor"),
                "priority": _l("Categoría"), "hour": _l("Hora de llegada"), "day": _l("Día")}
# Figures compared with the previous quarter: (key, label, format filter).
QUARTER_COMPARISON = (
    ("tickets", _l("Turnos impresos"), "int"), ("served", _l("Ciudadanos atendidos"), "int"),
    ("wait_mean", _l("Espera media"), "duration"), ("wait_p90", _l("Espera percentil 90"), "duration"),
    ("service_level", _l("Nivel de servicio (llamados)"), "percent"),
    ("service_level_all", _l("Nivel de servicio (todos)"), "percent"),
    ("no_show_rate", _l("No se presentaron"), "percent"),
    ("abandonment_rate", _l("Abandono"), "percent"),
    ("satisfied_share", _l("Satisfechos (4 o 5)"), "percent"),
)
PERIOD_LABELS = {"day": _l("Hoy"), "week": _l("Esta semana"), "month": _l("Este mes"),
                 "quarter": _l("Este trimestre"), "custom": _l("Personalizado")}


bp.before_request(login_first)


def _query() -> dict:
    """Return this request's validated report parameters."""
    return summary.parse_query(get_db(), auth.current_principal(), request.args, now_ms())


def _sites_for_form() -> list[dict]:
    """Return the sites the user may choose in the filter."""
    principal = auth.current_principal()
    return [s for s in store.list_sites(get_db()) if principal.may_use_site(s["id"])]


def _heat_rows(cells: list[dict], targets: list[float]) -> dict:
    """Arrange weekday × hour cells as a table with a colour level (0–5) per cell."""
    reference = (sum(targets) / len(targets)) if targets else 900.0
    hours = sorted({c["hour"] for c in cells if c["hour"] is not None})
    table = {}
    for c in cells:
        level = None
        if c["wait_mean"] is not None:
            level = min(5, int(c["wait_mean"] / reference * 2.5))
        table[(c["weekday"], c["hour"])] = dict(c, level=level)
    rows = []
    for weekday in range(7):
        cells_of_day = [table.get((weekday, h)) for h in hours]
        if any(cells_of_day):
            rows.append({"weekday": str(summary.WEEKDAYS[weekday]), "cells": cells_of_day})
    return {"hours": hours, "rows": rows, "reference": reference}


@bp.get("/")
@require(*MANAGERS)
def index():
    """Show a period's report: filters, tables, charts and export links."""
    db = get_db()
    now = now_ms()
    query = _query()
    report = summary.summary(db, query["sites"], query["day_from"], query["day_to"],
                             query["group_by"], now)
    chart_data = api.charts(db, query, now, report)
    targets = [float(s["target_wait_seconds"]) for site in query["sites"]
               for s in store.list_services(db, site["id"])]
    args = {"site": request.args.get("site", ""), "from": query["day_from"], "to": query["day_to"],
            "period": "custom", "group_by": query["group_by"]}
    comments = [dict(c, at=iso(c["created_at"], c["timezone"])[:16].replace("T", " "))
                for c in store.rating_comments(db, [s["id"] for s in query["sites"]],
                                               query["day_from"], query["day_to"])]
    channel_figures = channels.figures(db, query["sites"], query["day_from"], query["day_to"])
    return render_template(
        "reports/index.html", query=query, report=report, charts=chart_data, comments=comments,
        channel_figures=channel_figures,
        heat=_heat_rows(chart_data["heatmap"], targets), sites=_sites_for_form(),
        site_arg=request.args.get("site", ""), group_labels=GROUP_LABELS,
        period_labels=PERIOD_LABELS, export_args=args,
        period=request.args.get("period") or "custom",
        quarter=(date.fromisoformat(query["day_from"]).month - 1) // 3 + 1,
        year=date.fromisoformat(query["day_from"]).year)


@bp.get("/export/<table>.<fmt>")
@require(*MANAGERS)
def export(table, fmt):
    """Download one report table as CSV (streamed) or XLSX, with every row."""
    if table not in TABLES or fmt not in FORMATS:
        raise Invalid(_l("Exportación no válida: use summary, tickets, events, hourly, distribution "
                         "o heatmap, en csv o xlsx."), code="invalid_export", status=404)
    dialect = request.args.get("csv") or "es"
    if dialect not in exports.DIALECTS:
        raise Invalid(_l("Formato CSV no válido: use es (punto y coma, coma decimal) o intl."),
                      code="invalid_export", field="csv")
    db = get_db()
    now = now_ms()
    query = _query()
    sites = query["sites"]
    site_part = sites[0]["code"] if len(sites) == 1 else "todas"
    name = f"turnos-{table}-{site_part}-{query['day_from']}-{query['day_to']}.{fmt}"
    if table in ("tickets", "events"):
        columns, reader = ((exports.TICKET_COLUMNS, exports.ticket_rows) if table == "tickets"
                           else (exports.EVENT_COLUMNS, exports.event_rows))
        header = [str(c) for c in columns]
        rows = reader(current_app.config["DATABASE"], [s["id"] for s in sites], query["day_from"],
                      query["day_to"])
    elif table == "summary":
        report = summary.summary(db, sites, query["day_from"], query["day_to"], query["group_by"],
                                 now)
        header, rows = exports.summary_table(report)
    else:
        header, rows = exports.chart_tables(api.charts(db, query, now))[table]
    if fmt == "csv":
        response = Response(stream_with_context(exports.csv_stream(header, rows, dialect)),
                            mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    titles = {"summary": _("Resumen"), "tickets": _("Turnos"), "events": _("Eventos"),
              "hourly": _("Por hora"),
              "distribution": _("Distribución de espera"), "heatmap": _("Día y hora")}
    handle = exports.xlsx_file([(titles[table], header, rows)])
    return send_file(handle, as_attachment=True, download_name=name,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.get("/quarterly")
@require(*MANAGERS)
def quarterly():
    """Show a printable quarterly summary for control bodies (per service and per month)."""
    db = get_db()
    now = now_ms()
    principal = auth.current_principal()
    sites = summary.resolve_sites(db, principal, request.args.get("site"))
    today = date.fromisoformat(local_day(now, sites[0]["timezone"]))
    year_arg = request.args.get("year", str(today.year))
    quarter_arg = request.args.get("quarter", str((today.month - 1) // 3 + 1))
    if (not re.fullmatch(r"[0-9]{4}", year_arg) or not 2000 <= int(year_arg) <= 2100
            or not re.fullmatch(r"[1-4]", quarter_arg)):
        raise Invalid(_l("Año o trimestre no válido."), code="invalid_quarter")
    first, last = summary.quarter_range(int(year_arg), int(quarter_arg))
    labels = summary.Labels(db, sites)
    by_service = summary.summary(db, sites, first.isoformat(), last.isoformat(), "service", now,
                                 labels)
    by_priority = summary.summary(db, sites, first.isoformat(), last.isoformat(), "priority", now,
                                  labels)
    by_site = summary.summary(db, sites, first.isoformat(), last.isoformat(), "site", now, labels)
    previous_last = first - timedelta(days=1)
    previous_first = summary.quarter_range(previous_last.year, (previous_last.month - 1) // 3 + 1)[0]
    previous = summary.summary(db, sites, previous_first.isoformat(), previous_last.isoformat(),
                               "site", now, labels)["totals"]
    months = []
    for month in range(first.month, last.month + 1):
        start = date(first.year, month, 1)
        end = summary.preset_range("month", start)[1]
        report = summary.summary(db, sites, start.isoformat(), end.isoformat(), "day", now, labels)
        months.append({"label": start.strftime("%Y-%m"), "totals": report["totals"]})
    entity = next((s["entity_name"] for s in sites if s["entity_name"]), "")
    return render_template("reports/quarterly.html", sites=sites, entity=entity,
                           year=int(year_arg), quarter=int(quarter_arg), first=first, last=last,
                           by_service=by_service, by_priority=by_priority, months=months,
                           by_site=by_site, previous=previous, previous_first=previous_first,
                           previous_last=previous_last, comparison=QUARTER_COMPARISON,
                           generated=iso(now, sites[0]["timezone"])[:16].replace("T", " "),
                           site_arg=request.args.get("site", ""))


@bp.route("/close-day", methods=["GET", "POST"])
@require(*ADMINS)
def close_day_page():
    """Show what closing a site's day will change, and close it when the administrator confirms."""
    engine = current_engine()
    sites = _sites_for_form()
    form = request.form if request.method == "POST" else request.args
    site = summary.resolve_sites(get_db(), auth.current_principal(),
                                 form.get("site") or (sites[0]["code"] if sites else ""))[0]
    plan, done, error = None, None, None
    try:
        plan = engine.close_day_plan(site, form.get("day") or None)
        if request.method == "POST" and form.get("confirm") == "1":
            done = engine.close_day(site, plan["day"])
            plan = None
    except Invalid as exc:
        error = str(exc.message)
    status = 400 if error else 200
    return render_template("reports/close_day.html", sites=sites, site=site, plan=plan, done=done,
                           error=error, day=form.get("day") or engine.today(site)), status


@bp.get("/monitor")
@require(*MANAGERS)
def monitor_page():
    """Show the live monitor of one site."""
    db = get_db()
    sites = _sites_for_form()
    chosen = summary.resolve_sites(db, auth.current_principal(),
                                   request.args.get("site") or (sites[0]["code"] if sites else ""))
    site = chosen[0]
    services = store.list_services(db, site["id"], only_active=True)
    can_reprint = any(rule.rule == "/api/v1/tickets/<int:ticket_id>/reprint"
                      for rule in current_app.url_map.iter_rules())
    return render_template("reports/monitor.html", site=site, sites=sites, services=services,
                           can_reprint=can_reprint)


def _start_watcher() -> None:
    """Start the alert watcher with the first request of a serving process (not in tests)."""
    app = current_app._get_current_object()
    if not app.testing:
        monitor.start_watcher(app)


def _format_filters(app) -> None:
    """Register the template filters the report pages use."""
    def duration(seconds):
        if seconds is None:
            return "—"
        seconds = int(round(seconds))
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"

    def percent(share):
        return "—" if share is None else f"{share * 100:.1f} %"

    def decimal(value, places=2):
        return "—" if value is None else f"{value:.{places}f}"

    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["percent"] = percent
    app.jinja_env.filters["decimal"] = decimal


def init_app(app) -> None:
    """Register the report pages, the report API, their filters and the alert watcher."""
    app.register_blueprint(bp)
    api.init_app(app)
    _format_filters(app)
    app.before_request(_start_watcher)
