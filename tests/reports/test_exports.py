"""A supervisor downloads every table of the known day as CSV and XLSX and finds the same numbers.

Before: the CSV (comma, decimal point) landed in one column in a spreadsheet set to Spanish, the
XLSX held times as text, statuses were raw English codes, numbers carried float noise
(51.64380000000001) and no export said which priority rule was in force at each call.
"""

import csv
import io

import pytest
from openpyxl import load_workbook

from tests.reports.known_day import DAY

QUERY = f"site=cam-centro&from={DAY}&to={DAY}"


def download(api, path: str):
    """Fetch an export as the supervisor and return the response (asserting a 200)."""
    r = api.call("supervisor", "GET", path)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r


def read_csv(response, delimiter: str = ";") -> list[list[str]]:
    """Parse a CSV download (UTF-8 with BOM) as a spreadsheet set to Spanish does (semicolons)."""
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 with BOM, so accents survive in Excel"
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=delimiter))


def number(text: str) -> float:
    """Read a number the way a Spanish-locale spreadsheet does (decimal comma, no thousands dot)."""
    assert "." not in text, f"{text!r} would be read as a date or text in a Spanish spreadsheet"
    return float(text.replace(",", "."))


def test_the_summary_csv_opens_in_columns_in_a_spanish_spreadsheet(known_day, api):
    r = download(api, f"/reports/export/summary.csv?{QUERY}&group_by=service")
    assert r.mimetype == "text/csv"
    assert "turnos-summary-cam-centro-2026-11-25-2026-11-25.csv" in r.headers["Content-Disposition"]
    rows = read_csv(r)
    header = rows[0]
    assert header[:4] == ["Grupo", "Clave", "Turnos impresos", "Segmentos"]
    assert all(len(row) == len(header) for row in rows), "every row in columns"
    by_key = {row[1]: dict(zip(header, row)) for row in rows[1:]}
    assert set(by_key) == {"cam-centro:A", "cam-centro:B", "cam-centro:C", "cam-centro:D",
                           "cam-centro:E", ""}
    total = dict(zip(header, next(row for row in rows[1:] if row[0] == "Total")))
    assert total["Turnos impresos"] == "7" and total["Segmentos"] == "8"
    assert total["Atendidos"] == "4"
    assert number(total["Espera media desde la llegada (s)"]) == 675.0
    assert number(total["Espera media propia del segmento (s)"]) == 545.0
    assert total["Nivel de servicio (llamados)"] == "0,666667"
    assert number(total["Nivel de servicio (todos)"]) == pytest.approx(4 / 7, abs=1e-6)
    assert number(by_key["cam-centro:A"]["Espera p50 (s)"]) == 885.0
    assert by_key["cam-centro:B"]["Espera media desde la llegada (s)"] == ""  # never called


def test_the_international_csv_keeps_commas_and_decimal_points(known_day, api):
    rows = read_csv(download(api, f"/reports/export/summary.csv?{QUERY}&csv=intl"), ",")
    total = dict(zip(rows[0], next(row for row in rows[1:] if row[0] == "Total")))
    assert total["Nivel de servicio (llamados)"] == "0.666667"
    ticket = read_csv(download(api, f"/reports/export/tickets.csv?{QUERY}&csv=intl"), ",")
    e1 = next(dict(zip(ticket[0], r)) for r in ticket[1:] if r[3] == "E-001")
    assert e1["Fin de atención"] == "2026-11-26T00:10:00.000-05:00"
    r = api.call("supervisor", "GET", f"/reports/export/summary.csv?{QUERY}&csv=tsv",
                 headers={"Accept": "application/json"})
    assert r.status_code == 400 and r.get_json()["message"]


def test_the_ticket_list_has_every_segment_in_spanish_with_the_transfer_link(known_day, api):
    rows = read_csv(download(api, f"/reports/export/tickets.csv?{QUERY}"))
    header, body = rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]
    assert "Visita (primer segmento)" in header and "Espera desde la llegada (s)" in header
    assert len(body) == 8
    first, second = (r for r in body if r["Turno"] == "C-001")
    assert first["Estado"] == "transferido" and second["Estado"] == "no se presentó"
    assert second["Cierre automático"] == "No"
    assert second["Visita (primer segmento)"] == first["Id"] == second["Segmento anterior"]
    assert number(second["Espera desde la llegada (s)"]) == 1110.0
    assert number(second["Espera propia del segmento (s)"]) == 330.0
    assert second["Llegada del ciudadano"] == "2026-11-25 08:02:00"
    e1 = next(r for r in body if r["Turno"] == "E-001")
    assert e1["Fin de atención"] == "2026-11-26 00:10:00"
    assert number(e1["Espera desde la llegada (s)"]) == 600.0
    assert number(e1["Tiempo en el centro (s)"]) == 1800.0 and e1["Meta vigente (s)"] == "600"
    assert e1["Calificación"] == "3" and e1["Servidor"] == "carla"
    assert next(r for r in body if r["Turno"] == "D-001")["Estado"] == "cerrado sin atender"


def test_the_event_list_says_which_rule_and_parameters_were_in_force_at_each_call(known_day, api):
    rows = read_csv(download(api, f"/reports/export/events.csv?{QUERY}"))
    body = [dict(zip(rows[0], r)) for r in rows[1:]]
    calls = [r for r in body if r["Evento"] == "llamado"]
    assert len(calls) == 6
    first = calls[0]
    assert first["Turno"] == "PA-002" and first["Regla de prioridad"] == "strict"
    assert first["Llamado como"] == "preferencial" and first["Parámetros de la regla"] == "{}"
    assert first["Espera máxima aplicada"] == "No"
    closed = next(r for r in body if r["Evento"] == "cerrado sin atender")
    assert closed["Turno"] == "D-001" and closed["Automático"] == "Sí"


def test_the_xlsx_files_hold_real_numbers_and_date_times(known_day, api):
    from datetime import datetime

    r = download(api, f"/reports/export/summary.xlsx?{QUERY}&group_by=desk")
    assert r.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(r.get_data()), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:3] == ("Grupo", "Clave", "Turnos impresos")
    desk1 = next(row for row in rows if row[1] == "cam-centro:1")
    assert desk1[header.index("Atendidos")] == 3
    assert desk1[header.index("Ocupación")] == pytest.approx(1260 / 32400, abs=1e-6)
    tickets = load_workbook(io.BytesIO(download(api, f"/reports/export/tickets.xlsx?{QUERY}")
                                       .get_data()), read_only=True)
    rows = list(tickets.active.iter_rows(values_only=True))
    assert len(rows) == 9
    e1 = dict(zip(rows[0], next(r for r in rows if r[3] == "E-001")))
    assert e1["Fin de atención"] == datetime(2026, 11, 26, 0, 10)
    assert e1["Espera desde la llegada (s)"] == 600 and e1["Calificación"] == 3


def test_no_figure_carries_float_noise(known_day, api):
    rows = read_csv(download(api, f"/reports/export/summary.csv?{QUERY}&group_by=hour"))
    for row in rows[1:]:
        for value in row:
            if "," in value:
                assert len(value.split(",")[1]) <= 6, value


def test_a_list_longer_than_a_sheet_continues_on_the_next_sheet(known_day, api, monkeypatch):
    from reports import exports

    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 4)
    book = load_workbook(io.BytesIO(download(api, f"/reports/export/tickets.xlsx?{QUERY}")
                                    .get_data()), read_only=True)
    sizes = [len(list(sheet.iter_rows(values_only=True))) - 1 for sheet in book.worksheets]
    assert sizes == [3, 3, 2]
    assert book.sheetnames == ["Turnos", "Turnos (2)", "Turnos (3)"]


def test_the_chart_tables_export_too(known_day, api):
    hourly = read_csv(download(api, f"/reports/export/hourly.csv?{QUERY}"))
    assert hourly[0] == ["Hora", "Emitidos", "Atendidos", "Espera media (s)"]
    assert [r[:3] for r in hourly[1:]] == [["8", "5", "3"], ["9", "2", "0"], ["23", "1", "1"]]
    bands = read_csv(download(api, f"/reports/export/distribution.csv?{QUERY}"))
    assert sum(int(r[2]) for r in bands[1:]) == 6
    heat = read_csv(download(api, f"/reports/export/heatmap.csv?{QUERY}"))
    assert ["Miércoles", "23", "1", "600"] in heat


def test_a_name_that_looks_like_a_formula_stays_text_in_the_spreadsheet(known_day, api, app):
    from shared.db import connect

    db = connect(app.config["DATABASE"])
    db.execute("UPDATE services SET name = '=HYPERLINK(\"x\")' WHERE code = 'A'")
    db.conn.close()
    tickets = read_csv(download(api, f"/reports/export/tickets.csv?{QUERY}"))
    names = {r[5] for r in tickets[1:] if r[4] == "A"}
    assert names == {"'=HYPERLINK(\"x\")"}


@pytest.mark.parametrize("path, status", [
    ("/reports/export/everything.csv", 404), ("/reports/export/summary.pdf", 404),
    (f"/reports/export/summary.csv?{QUERY}&group_by=colour", 400)])
def test_an_unknown_export_is_refused(api, path, status):
    r = api.call("supervisor", "GET", path, headers={"Accept": "application/json"})
    assert r.status_code == status and r.get_json()["message"]


def test_an_official_cannot_export(api):
    r = api.call("ana", "GET", f"/reports/export/tickets.csv?{QUERY}",
                 headers={"Accept": "application/json"})
    assert r.status_code == 403
