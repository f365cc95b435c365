"""A supervisor downloads every table of the known day as CSV and XLSX and finds the same numbers."""

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


def read_csv(response) -> list[list[str]]:
    """Parse a CSV download (UTF-8 with BOM)."""
    text = response.get_data().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text)))


def test_the_summary_csv_has_every_group_and_the_totals(known_day, api):
    r = download(api, f"/reports/export/summary.csv?{QUERY}&group_by=service")
    assert r.mimetype == "text/csv"
    assert "turnos-summary-cam-centro-2026-11-25-2026-11-25.csv" in r.headers["Content-Disposition"]
    rows = read_csv(r)
    header = rows[0]
    assert header[:3] == ["Grupo", "Clave", "Emitidos"]
    by_key = {row[1]: dict(zip(header, row)) for row in rows[1:]}
    assert set(by_key) == {"cam-centro:A", "cam-centro:B", "cam-centro:C", "cam-centro:D",
                           "cam-centro:E", ""}
    total = next(row for row in rows[1:] if row[0] == "Total")
    total = dict(zip(header, total))
    assert total["Emitidos"] == "8" and total["Atendidos"] == "4"
    assert float(total["Espera media (s)"]) == 545.0 and float(total["Espera p90 (s)"]) == 930.0
    assert float(by_key["cam-centro:A"]["Espera p50 (s)"]) == 495.0
    assert by_key["cam-centro:B"]["Espera media (s)"] == ""  # never called: no wait


def test_the_ticket_list_has_every_segment_with_the_transfer_link(known_day, api):
    rows = read_csv(download(api, f"/reports/export/tickets.csv?{QUERY}"))
    header, body = rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]
    assert "Visita (primer segmento)" in header and "Espera (s)" in header
    assert len(body) == 8
    first, second = (r for r in body if r["Turno"] == "C-001")
    assert first["Estado"] == "transferred" and second["Estado"] == "no_show"
    assert second["Visita (primer segmento)"] == first["Id"] == second["Segmento anterior"]
    e1 = next(r for r in body if r["Turno"] == "E-001")
    assert e1["Fin de atención"].startswith("2026-11-26T00:10:00.000-05:00")
    assert float(e1["Espera (s)"]) == 600.0 and float(e1["Tiempo en el centro (s)"]) == 1800.0
    assert e1["Calificación"] == "3" and e1["Servidor"] == "carla"


def test_the_xlsx_files_hold_the_same_rows(known_day, api):
    r = download(api, f"/reports/export/summary.xlsx?{QUERY}&group_by=desk")
    assert r.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(r.get_data()), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Grupo", "Clave", "Emitidos")
    desk1 = next(row for row in rows if row[1] == "cam-centro:1")
    header = rows[0]
    assert desk1[header.index("Atendidos")] == 3
    assert desk1[header.index("Ocupación")] == pytest.approx(1260 / 32400)
    tickets = load_workbook(io.BytesIO(download(api, f"/reports/export/tickets.xlsx?{QUERY}")
                                       .get_data()), read_only=True)
    assert len(list(tickets.active.iter_rows(values_only=True))) == 9


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
    assert ["Miércoles", "23", "1", "600.0"] in heat


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
