"""A supervisor reads the evaluation pages in the browser (server-rendered HTML)."""

import json
import re

from tests.reports.known_day import DAY


def test_the_report_page_shows_the_figures_tables_charts_and_exports(known_day, browser_login):
    client = browser_login("supervisor")
    r = client.get(f"/reports/?site=cam-centro&from={DAY}&to={DAY}&group_by=desk")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    # Seven tickets were printed; C-001's transfer made an eighth segment.
    assert re.search(r'id="kpi-tickets">7<', page) and re.search(r'id="kpi-segments">8<', page)
    assert re.search(r'id="kpi-wait">11:15<', page)  # 675 s from the citizens' arrival
    # Service level over the called segments and over every ticket (the abandoned D-001 missed).
    assert re.search(r'id="kpi-level">66.7 %<', page)
    assert re.search(r'id="kpi-level-all">57.1 %<', page)
    definitions = re.search(r'id="definitions">(.*?)</dl>', page, re.S).group(1)
    assert "abandonados" in definitions and "desde que el ciudadano llegó" in definitions
    assert "Módulo 1" in page and "Sin módulo (no llamados)" in page
    charts = json.loads(re.search(r'<script type="application/json" id="chart-data">(.*?)</script>',
                                  page, re.S).group(1))
    assert [h["hour"] for h in charts["hourly"]] == [8, 9, 23]
    assert 'data-export="tickets-csv"' in page and 'data-export="summary-xlsx"' in page
    comments = re.search(r'id="comments">(.*?)</table>', page, re.S).group(1)
    assert "Muy amable" in comments and "Impuesto predial" in comments
    # The page runs under the CSP: no inline script or style.
    assert not re.search(r"<script(?![^>]*(src=|application/json))", page)
    assert "style=" not in page


def test_without_a_login_the_pages_send_the_browser_to_the_login_page(client):
    for path in ("/reports/", "/reports/monitor", "/reports/quarterly"):
        r = client.get(path)
        assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")


def test_an_official_is_refused_the_report_pages(browser_login):
    client = browser_login("ana")
    assert client.get("/reports/").status_code == 403
    assert client.get("/reports/monitor").status_code == 403


def test_the_quarterly_summary_is_a_printable_page_for_control_bodies(known_day, browser_login):
    client = browser_login("admin")
    page = client.get("/reports/quarterly?site=cam-centro&year=2026&quarter=4").get_data(as_text=True)
    assert "Informe trimestral de atención al ciudadano" in page
    assert "2026-10-01 – 2026-12-31" in page
    totals = re.search(r'id="quarter-totals">(.*?)</table>', page, re.S).group(1)
    assert re.search(r"Ciudadanos atendidos</th><td class=\"num\">4<", totals)
    months = re.search(r'id="quarter-months">(.*?)</table>', page, re.S).group(1)
    assert "2026-11</td><td class=\"num\">7<" in months
    assert "Alcaldía de Villa Esperanza" in page and "Definiciones" in page


def test_the_quarterly_report_has_each_site_the_previous_quarter_ratings_and_priority_losses(
        known_day, browser_login, room, clock):
    from shared import desks
    from shared.queue import Actor
    from tests.reports.conftest import user_id
    from tests.reports.known_day import at

    # One citizen served in September: the previous quarter.
    at(clock, "09:00:00", "2026-09-15")
    ana = Actor(user_id=user_id(room, "ana"))
    desk = room.desk("1", room.site("cam-centro"))
    desks.open_session(room, desk, ana.user_id)
    t = room.issue("cam-centro", "A")
    room.call_next(desk, ana)
    at(clock, "09:01:00", "2026-09-15")
    room.start(t["id"], ana)
    room.finish(t["id"], ana)
    room.close_day(room.site("cam-centro"), "2026-09-15")
    at(clock, "00:30:00", "2026-11-26")
    page = browser_login("admin").get("/reports/quarterly?site=all&year=2026&quarter=4") \
        .get_data(as_text=True)
    sites = re.search(r'id="quarter-sites">(.*?)</table>', page, re.S).group(1)
    assert 'data-key="cam-centro"><td>CAM Centro</td><td class="num">7<' in sites
    comparison = re.search(r'id="quarter-comparison">(.*?)</table>', page, re.S).group(1)
    served = re.search(r'data-key="served"><th>[^<]+</th>\s*<td class="num">(\d+)</td>\s*'
                       r'<td class="num">(\d+)</td>', comparison)
    assert served.groups() == ("1", "4")
    ratings = re.search(r'id="quarter-ratings">(.*?)</table>', page, re.S).group(1)
    assert re.search(r'data-score="5">1<', ratings) and re.search(r'data-score="3">1<', ratings)
    assert re.search(r'id="quarter-satisfied">66.7 %<', ratings)
    priority = re.search(r'id="quarter-priority">(.*?)</table>', page, re.S).group(1)
    general = re.search(r'data-key="general">(.*?)</tr>', priority, re.S).group(1)
    assert "14.3 %" in general  # D-001 abandoned: one of the seven general segments
    assert 'id="quarter-automatic">0 en atención · 0 llamados' in page
    assert "abandonados" in re.search(r'id="definitions">(.*?)</dl>', page, re.S).group(1)


def test_a_wrong_quarter_is_refused(browser_login):
    client = browser_login("admin")
    assert client.get("/reports/quarterly?year=2026&quarter=5").status_code == 400
    assert client.get("/reports/quarterly?year=abc").status_code == 400
    # Digits that are not ASCII digits (a superscript three) are not a year either.
    assert client.get("/reports/quarterly?year=%C2%B3").status_code == 400
    assert client.get("/reports/quarterly?year=2026&quarter=%C2%B2").status_code == 400
