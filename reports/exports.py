"""Exports of every report table as CSV (streamed) or XLSX (openpyxl write-only), with no row cap.

CSV comes in two dialects. The default is for spreadsheets set to Spanish
(Colombia and most of Latin America): fields separated by semicolons, a
decimal comma, local date-times as ``YYYY-MM-DD HH:MM:SS``, UTF-8 with a BOM,
so Excel and LibreOffice open it in columns with numbers they can add up.
``?csv=intl`` gives the international form: commas, a decimal point and ISO
8601 date-times with milliseconds and the site's UTC offset. XLSX cells hold
real numbers and date-times (the site's local time). Statuses and outcomes
are written in Spanish; numbers carry no float noise (times to the
millisecond, shares to six decimals).

The ticket and event lists read the database with their own connection and
a cursor in batches, so a year goes out in constant memory; an XLSX workbook
is written row by row to a temporary file (a sheet holds at most 1,048,576
rows, so long lists continue on further sheets).
"""

import csv
import io
import json
import tempfile
from datetime import datetime

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from shared import kpi, store
from shared.db import TakeTurns, connect
from shared.queue import STATUS_LABELS
from shared.timefmt import local_datetime

from .summary import WEEKDAYS

XLSX_MAX_ROWS = 1_048_576
BATCH = 2000
DIALECTS = ("es", "intl")
OUTCOME_LABELS = {"resolved": _l("resuelto"), "pending": _l("pendiente")}
EVENT_LABELS = {
    "issued": _l("emitido"), "called": _l("llamado"), "recalled": _l("vuelto a llamar"),
    "started": _l("atención iniciada"), "finished": _l("atención finalizada"),
    "no_show": _l("no se presentó"), "transferred": _l("transferido"), "cancelled": _l("cancelado"),
    "abandoned": _l("cerrado sin atender"), "marked_preferential": _l("marcado preferencial"),
}
FIGURE_COLUMNS = (
    ("tickets", _l("Turnos impresos")), ("segments", _l("Segmentos")),
    ("transferred_in", _l("Recibidos por transferencia")), ("called", _l("Llamados")),
    ("served", _l("Atendidos")), ("no_shows", _l("No se presentaron")),
    ("automatic_finished", _l("Finalizados por el cierre del día")),
    ("automatic_no_shows", _l("No presentados por el cierre del día")),
    ("abandoned", _l("Abandonados")), ("cancelled", _l("Cancelados")),
    ("transferred", _l("Transferidos")), ("recalls", _l("Rellamados")),
    ("no_show_rate", _l("Tasa de no presentación")), ("abandonment_rate", _l("Tasa de abandono")),
    ("wait_mean", _l("Espera media desde la llegada (s)")), ("wait_p50", _l("Espera p50 (s)")),
    ("wait_p90", _l("Espera p90 (s)")), ("wait_max", _l("Espera máxima (s)")),
    ("segment_wait_mean", _l("Espera media propia del segmento (s)")),
    ("walk_mean", _l("Desplazamiento medio (s)")), ("service_mean", _l("Atención media (s)")),
    ("service_p50", _l("Atención p50 (s)")), ("service_p90", _l("Atención p90 (s)")),
    ("centre_mean", _l("Tiempo en el centro medio (s)")),
    ("service_level", _l("Nivel de servicio (llamados)")),
    ("service_level_all", _l("Nivel de servicio (todos)")),
    ("logged_in_seconds", _l("Tiempo en sesión (s)")),
    ("serving_seconds", _l("Tiempo atendiendo (s)")), ("paused_seconds", _l("Tiempo en pausa (s)")),
    ("idle_seconds", _l("Tiempo sin atender (s)")), ("occupancy", _l("Ocupación")),
    ("ratings", _l("Calificaciones")), ("satisfaction_mean", _l("Satisfacción media (1-5)")),
    ("satisfied_share", _l("Satisfechos (4 o 5)")), ("response_rate", _l("Tasa de respuesta")),
)
TICKET_COLUMNS = (
    _l("Sede"), _l("Día"), _l("Id"), _l("Turno"), _l("Servicio"), _l("Nombre del servicio"),
    _l("Categoría preferencial"), _l("Estado"), _l("Cierre automático"), _l("Emitido"),
    _l("Llegada del ciudadano"), _l("Primer llamado"), _l("Rellamados"), _l("Inicio de atención"),
    _l("Fin de atención"), _l("Cierre"), _l("Módulo"), _l("Servidor"),
    _l("Visita (primer segmento)"), _l("Segmento anterior"), _l("Meta vigente (s)"),
    _l("Espera desde la llegada (s)"), _l("Espera propia del segmento (s)"),
    _l("Desplazamiento (s)"), _l("Atención (s)"), _l("Tiempo en el centro (s)"), _l("Resultado"),
    _l("Calificación"),
)
EVENT_COLUMNS = (
    _l("Sede"), _l("Día"), _l("Turno"), _l("Id del turno"), _l("Servicio"), _l("Evento"),
    _l("Momento"), _l("Módulo"), _l("Servidor"), _l("Regla de prioridad"),
    _l("Parámetros de la regla"), _l("Estado de la regla"), _l("Llamado como"),
    _l("Espera máxima aplicada"), _l("Automático"), _l("Detalle"),
)


def summary_table(report: dict) -> tuple[list[str], list[list]]:
    """Return the header and rows of a summary (its groups, then the totals)."""
    header = [_("Grupo"), _("Clave")] + [str(label) for _key, label in FIGURE_COLUMNS]
    rows = [[r["label"], r["key"]] + [r[k] for k, _label in FIGURE_COLUMNS] for r in report["rows"]]
    rows.append([_("Total"), ""] + [report["totals"][k] for k, _label in FIGURE_COLUMNS])
    return header, rows


def chart_tables(charts: dict) -> dict[str, tuple[list[str], list[list]]]:
    """Return the hourly, wait-band and weekday × hour tables of a period's charts."""
    return {
        "hourly": ([_("Hora"), _("Emitidos"), _("Atendidos"), _("Espera media (s)")],
                   [[h["hour"], h["issued"], h["served"], h["wait_mean"]] for h in charts["hourly"]]),
        "distribution": ([_("Desde (min)"), _("Hasta (min)"), _("Turnos")],
                         [[b["from_minutes"], b["to_minutes"], b["count"]]
                          for b in charts["distribution"]]),
        "heatmap": ([_("Día de la semana"), _("Hora"), _("Emitidos"), _("Espera media (s)")],
                    [[str(WEEKDAYS[c["weekday"]]), c["hour"], c["issued"], c["wait_mean"]]
                     for c in charts["heatmap"]]),
    }


def _yes_no(value) -> str:
    """Return Sí or No."""
    return _("Sí") if value else _("No")


def _local(ms: int | None, tz: str) -> datetime | None:
    """Return a timestamp as an aware local date-time, or None."""
    return None if ms is None else local_datetime(ms, tz)


def _ticket_row(r) -> list:
    """Return one segment as an export row (local date-times, KPI times in seconds)."""
    tz = r["timezone"]
    t = dict(r)
    return [r["site"], r["day"], r["id"], r["code"], r["service"], r["service_name"], r["priority"],
            str(STATUS_LABELS.get(r["status"], r["status"])), _yes_no(r["automatic"]),
            _local(r["issued_at"], tz), _local(r["queue_at"], tz), _local(r["called_at"], tz),
            r["recalls"], _local(r["started_at"], tz), _local(r["finished_at"], tz),
            _local(r["closed_at"], tz), r["desk"], r["official"], r["origin_id"], r["previous_id"],
            r["target_wait_seconds"], kpi.seconds(kpi.wait_ms(t)),
            kpi.seconds(kpi.segment_wait_ms(t)), kpi.seconds(kpi.walk_ms(t)),
            kpi.seconds(kpi.service_ms(t)), kpi.seconds(kpi.centre_ms(t)),
            str(OUTCOME_LABELS[r["outcome"]]) if r["outcome"] in OUTCOME_LABELS else r["outcome"],
            r["score"]]


def _event_row(r) -> list:
    """Return one ticket event as an export row, with the priority rule in force for a call."""
    data = json.loads(r["data"] or "{}")
    rule = data.get("rule") or data.get("policy")
    max_wait = data.get("max_wait") or {}
    chosen = {"preferential": _("preferencial"), "general": _("general"),
              "max_wait": _("espera máxima")}.get(data.get("chosen"), data.get("chosen"))
    return [r["site"], r["day"], r["code"], r["ticket_id"], r["service"],
            str(EVENT_LABELS.get(r["kind"], r["kind"])), _local(r["at"], r["timezone"]), r["desk"],
            r["official"], rule,
            json.dumps(data["params"], ensure_ascii=False, sort_keys=True) if "params" in data else None,
            json.dumps(data["state"], ensure_ascii=False, sort_keys=True) if "state" in data else None,
            chosen, _yes_no(max_wait.get("applied")) if max_wait else None,
            _yes_no(data.get("automatic")) if "automatic" in data else None,
            json.dumps(data, ensure_ascii=False, sort_keys=True) if data else None]


def _stream(database: str, cursor_of, shape):
    """Yield rows of a cursor opened on a connection of its own, read in batches."""
    db = connect(database)
    take_turns = TakeTurns()  # a month of a nation's tickets takes minutes to write out
    try:
        cursor = cursor_of(db)
        while True:
            batch = cursor.fetchmany(BATCH)
            if not batch:
                break
            for r in batch:
                take_turns()
                yield shape(r)
    finally:
        db.close()


def ticket_rows(database: str, site_ids: list[int], day_from: str, day_to: str):
    """Yield every segment of a period as export rows, reading in batches on its own connection."""
    return _stream(database, lambda db: store.export_segments(db, site_ids, day_from, day_to),
                   _ticket_row)


def event_rows(database: str, site_ids: list[int], day_from: str, day_to: str):
    """Yield every ticket event of a period (with the rule in force at each call) as export rows."""
    return _stream(database, lambda db: store.export_events(db, site_ids, day_from, day_to),
                   _event_row)


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    """Return a value safe for a spreadsheet: text that looks like a formula is kept as text."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def _csv_text(value, dialect: str) -> str:
    """Return one CSV field in a dialect: numbers and date-times the way its spreadsheets read them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _yes_no(value)
    if isinstance(value, float):
        text = f"{value:.6f}".rstrip("0").rstrip(".")
        return text.replace(".", ",") if dialect == "es" else text
    if isinstance(value, datetime):
        if dialect == "es":
            return value.strftime("%Y-%m-%d %H:%M:%S")
        return value.isoformat(timespec="milliseconds")
    return cell(value) if isinstance(value, str) else str(value)


def csv_stream(header: list[str], rows, dialect: str = "es"):
    """Yield a CSV document (UTF-8 with BOM) a few hundred rows at a time, in a dialect (es or intl)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if dialect == "es" else ",")
    buffer.write("\ufeff")
    writer.writerow(header)
    for n, row in enumerate(rows, start=1):
        writer.writerow([_csv_text(v, dialect) for v in row])
        if n % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def _xlsx_cell(sheet, value):
    """Return a value as an XLSX cell: date-times as real local date-times, text kept as text."""
    if isinstance(value, datetime):
        c = WriteOnlyCell(sheet, value=value.replace(tzinfo=None))
        c.number_format = "yyyy-mm-dd hh:mm:ss"
        return c
    return cell(value)


def xlsx_file(sheets: list[tuple[str, list[str], object]]):
    """Write sheets ``(title, header, rows)`` to a temporary XLSX file and return it, rewound.

    A sheet longer than Excel's limit continues on ``title (2)``, ``title (3)``...
    """
    workbook = Workbook(write_only=True)
    take_turns = TakeTurns()
    for title, header, rows in sheets:
        part = 1
        sheet = workbook.create_sheet(title[:31])
        sheet.append(header)
        used = 1
        for row in rows:
            take_turns()
            if used == XLSX_MAX_ROWS:
                part += 1
                sheet = workbook.create_sheet(f"{title[:25]} ({part})")
                sheet.append(header)
                used = 1
            sheet.append([_xlsx_cell(sheet, v) for v in row])
            used += 1
    handle = tempfile.TemporaryFile()
    workbook.save(handle)
    handle.seek(0)
    return handle
