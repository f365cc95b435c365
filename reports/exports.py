"""Exports of every report table as CSV (streamed) or XLSX (openpyxl write-only), with no row cap.

The ticket list reads the database with its own connection and a cursor in
batches, so a year goes out in constant memory; an XLSX workbook is written
row by row to a temporary file (a sheet holds at most 1,048,576 rows, so long
lists continue on further sheets).
"""

import csv
import io
import tempfile

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook

from shared import kpi, store
from shared.db import connect
from shared.timefmt import iso

XLSX_MAX_ROWS = 1_048_576
BATCH = 2000
FIGURE_COLUMNS = (
    ("issued", _l("Emitidos")), ("visits", _l("Visitas")),
    ("transferred_in", _l("Recibidos por transferencia")), ("called", _l("Llamados")),
    ("served", _l("Atendidos")), ("no_shows", _l("No se presentaron")),
    ("abandoned", _l("Abandonados")), ("cancelled", _l("Cancelados")),
    ("transferred", _l("Transferidos")), ("recalls", _l("Rellamados")),
    ("no_show_rate", _l("Tasa de no presentación")), ("abandonment_rate", _l("Tasa de abandono")),
    ("wait_mean", _l("Espera media (s)")), ("wait_p50", _l("Espera p50 (s)")),
    ("wait_p90", _l("Espera p90 (s)")), ("wait_max", _l("Espera máxima (s)")),
    ("walk_mean", _l("Desplazamiento medio (s)")), ("service_mean", _l("Atención media (s)")),
    ("service_p50", _l("Atención p50 (s)")), ("service_p90", _l("Atención p90 (s)")),
    ("centre_mean", _l("Tiempo en el centro medio (s)")),
    ("service_level", _l("Nivel de servicio")), ("logged_in_seconds", _l("Tiempo en sesión (s)")),
    ("serving_seconds", _l("Tiempo atendiendo (s)")), ("paused_seconds", _l("Tiempo en pausa (s)")),
    ("idle_seconds", _l("Tiempo sin atender (s)")), ("occupancy", _l("Ocupación")),
    ("ratings", _l("Calificaciones")), ("satisfaction_mean", _l("Satisfacción media (1-5)")),
    ("response_rate", _l("Tasa de respuesta")),
)
TICKET_COLUMNS = (
    _l("Sede"), _l("Día"), _l("Id"), _l("Turno"), _l("Servicio"), _l("Nombre del servicio"),
    _l("Categoría preferencial"), _l("Estado"), _l("Emitido"), _l("Primer llamado"),
    _l("Rellamados"), _l("Inicio de atención"), _l("Fin de atención"), _l("Cierre"), _l("Módulo"),
    _l("Servidor"), _l("Visita (primer segmento)"), _l("Segmento anterior"), _l("Espera (s)"),
    _l("Desplazamiento (s)"), _l("Atención (s)"), _l("Tiempo en el centro (s)"), _l("Resultado"),
    _l("Calificación"),
)


def summary_table(report: dict) -> tuple[list[str], list[list]]:
    """Return the header and rows of a summary (its groups, then the totals)."""
    header = [_("Grupo"), _("Clave")] + [str(label) for _key, label in FIGURE_COLUMNS]
    rows = [[r["label"], r["key"]] + [r[k] for k, _label in FIGURE_COLUMNS] for r in report["rows"]]
    rows.append([_("Total"), ""] + [report["totals"][k] for k, _label in FIGURE_COLUMNS])
    return header, rows


def chart_tables(charts: dict) -> dict[str, tuple[list[str], list[list]]]:
    """Return the hourly, wait-band and weekday × hour tables of a period's charts."""
    from .summary import WEEKDAYS

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


def _ticket_row(r) -> list:
    """Return one segment as an export row (local times, KPI times in seconds)."""
    tz = r["timezone"]
    t = dict(r)
    return [r["site"], r["day"], r["id"], r["code"], r["service"], r["service_name"], r["priority"],
            r["status"], iso(r["issued_at"], tz), iso(r["called_at"], tz), r["recalls"],
            iso(r["started_at"], tz), iso(r["finished_at"], tz), iso(r["closed_at"], tz), r["desk"],
            r["official"], r["origin_id"], r["previous_id"],
            kpi.seconds(kpi.wait_ms(t)), kpi.seconds(kpi.walk_ms(t)), kpi.seconds(kpi.service_ms(t)),
            kpi.seconds(kpi.centre_ms(t)), r["outcome"], r["score"]]


def ticket_rows(database: str, site_ids: list[int], day_from: str, day_to: str):
    """Yield every segment of a period as export rows, reading in batches on its own connection."""
    db = connect(database)
    try:
        cursor = store.export_segments(db, site_ids, day_from, day_to)
        while True:
            batch = cursor.fetchmany(BATCH)
            if not batch:
                break
            for r in batch:
                yield _ticket_row(r)
    finally:
        db.close()


_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(value):
    """Return a value safe for a spreadsheet: text that looks like a formula is kept as text."""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def csv_stream(header: list[str], rows):
    """Yield a CSV document (UTF-8 with BOM, for spreadsheets) a few hundred rows at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    for n, row in enumerate(rows, start=1):
        writer.writerow(["" if v is None else cell(v) for v in row])
        if n % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def xlsx_file(sheets: list[tuple[str, list[str], object]]):
    """Write sheets ``(title, header, rows)`` to a temporary XLSX file and return it, rewound.

    A sheet longer than Excel's limit continues on ``title (2)``, ``title (3)``...
    """
    workbook = Workbook(write_only=True)
    for title, header, rows in sheets:
        part = 1
        sheet = workbook.create_sheet(title[:31])
        sheet.append(header)
        used = 1
        for row in rows:
            if used == XLSX_MAX_ROWS:
                part += 1
                sheet = workbook.create_sheet(f"{title[:25]} ({part})")
                sheet.append(header)
                used = 1
            sheet.append([cell(v) for v in row])
            used += 1
    handle = tempfile.TemporaryFile()
    workbook.save(handle)
    handle.seek(0)
    return handle
