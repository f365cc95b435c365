"""Administrators read who changed what and when, and move the configuration as a TOML file."""

import io
import re

from tests.admin.pages import audit_actions, heard, page_error


def _rows(html: str, table: str) -> list[str]:
    """Return the text of each row of a table on a page."""
    body = re.search(rf'<table id="{table}">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
            for row in re.findall(r"<tr.*?</tr>", body, re.S)]


def test_the_audit_page_shows_admin_changes_and_preferential_marks(app, admin, api, clock):
    admin.post("/admin/sites/cam-centro/services",
               {"code": "G", "prefix": "G", "name": "Certificados", "active": "1"})
    clock.advance(minutes=5)
    admin.post("/admin/users", {"username": "dora", "display_name": "Dora", "role": "official",
                                "password": "dora-pass-2026", "password2": "dora-pass-2026"})
    ticket = api.issue("A")
    api.take_desk("ana")
    r = api.call("ana", "POST", f"/api/v1/tickets/{ticket['id']}/priority",
                 {"priority": "adulto_mayor", "reason": "Persona mayor con bastón"})
    assert r.status_code == 200, r.get_json()
    page = admin.get("/admin/audit").text
    changes = _rows(page, "audit-table")
    assert changes[1].startswith("2026-11-25 08:05 admin user.create user:dora")
    assert changes[2].startswith("2026-11-25 08:00 admin service.create site:cam-centro/service:G")
    assert "ana ticket.mark_preferential" in changes[0]
    marks = _rows(page, "marks-table")
    assert marks == ["2026-11-25 08:05 ana cam-centro — A-001 adulto_mayor"]
    only_users = _rows(admin.get("/admin/audit?action=user.").text, "audit-table")
    assert len(only_users) == 1 and "user.create" in only_users[0]


def test_only_administrators_read_the_audit_log(app, supervisor, api):
    assert supervisor.get("/admin/audit").status_code == 403
    assert api.call("ana", "GET", "/admin/audit").status_code == 403


def test_the_layout_exports_and_an_edited_copy_imports_back(app, admin, api, listener):
    exported = admin.get("/admin/layout/export")
    assert exported.status_code == 200
    assert exported.headers["Content-Disposition"].startswith("attachment; filename=\"turnos-layout-")
    text = exported.get_data(as_text=True)
    assert 'name = "Impuesto predial"' in text
    edited = text.replace('name = "Impuesto predial"', 'name = "Impuesto predial unificado"', 1)
    r = admin.post("/admin/layout/import", {"layout": (io.BytesIO(edited.encode()), "cam.toml")},
                   content_type="multipart/form-data")
    assert r.status_code == 302
    services = api.call("admin", "GET", "/api/v1/sites/cam-centro/services").get_json()["services"]
    assert [s["name"] for s in services if s["code"] == "A"] == ["Impuesto predial unificado"]
    assert {"site": "cam-centro", "what": "layout"} in heard(listener, "config_changed")
    assert ("layout.import", "cam.toml", "admin") in audit_actions(app)


def test_a_broken_layout_names_the_problem_and_changes_nothing(app, admin, api):
    before = admin.get("/admin/layout/export").get_data(as_text=True)
    cases = [
        ('[[sites]]\ncode = "cam-centro"\nname = "X"\n[[sites.desks]]\ncode = "1"\nservices = ["Q"]\n',
         "sites[0].desks[0].services: servicios desconocidos ['Q']"),
        ("[[sites]\n", "TOML no válido"),
        ('[[sites]]\ncode = "cam-centro"\nname = "X"\n[[sites.services]]\ncode = "Z"\nprefix = "A"\n'
         'name = "Otro A"\n', "tendrían el mismo prefijo «A»"),
    ]
    for text, message in cases:
        r = admin.post("/admin/layout/import", {"layout": (io.BytesIO(text.encode()), "bad.toml")},
                       content_type="multipart/form-data")
        assert r.status_code == 400
        assert message in page_error(r)
    r = admin.post("/admin/layout/import", {"layout": (io.BytesIO(b"\xff\xfe"), "bad.toml")},
                   content_type="multipart/form-data")
    assert page_error(r) == "El archivo debe estar en UTF-8."
    assert admin.get("/admin/layout/export").get_data(as_text=True) == before


def test_a_supervisor_may_export_but_not_import(app, supervisor):
    assert supervisor.get("/admin/layout/export").status_code == 200
    r = supervisor.post("/admin/layout/import", {"layout": (io.BytesIO(b""), "x.toml")},
                        content_type="multipart/form-data")
    assert r.status_code == 403
