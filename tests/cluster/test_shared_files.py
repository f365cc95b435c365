"""Logos and spoken calls are served by every process, whatever machine's disk they were made on.

Process B has an instance folder of its own (another machine's disk) and no
espeak-ng on its PATH: what A stored, B serves from the database.
"""

from __future__ import annotations

import io
import re
import shutil

import pytest
import requests

from tests.conftest import LiveServer
from tests.security.test_revocation_live import _admin_session as admin_session

pytestmark = [pytest.mark.engines("postgresql"), pytest.mark.slow]


def png_logo() -> bytes:
    """Return a small PNG logo."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (120, 40), (10, 80, 160)).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def far_process(pair, tmp_path):
    """A process with its own instance folder and no espeak-ng: another machine of the same server."""
    bare = tmp_path / "bin"
    bare.mkdir()
    env = dict(pair.a.env, PATH=str(bare))  # only what the process needs by absolute path
    server = LiveServer(tmp_path / "far", database=pair.database, env=env, demo=False,
                        extra_args=pair.a.extra_args)
    server.start()
    yield server
    server.close()


def test_a_logo_uploaded_through_one_process_is_shown_and_printed_by_another(pair, far_process, tmp_path):
    session, csrf = admin_session(pair.a.url)
    page = session.get(f"{pair.a.url}/admin/sites/cam-centro", timeout=10).text
    form_csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    r = session.post(f"{pair.a.url}/admin/sites/cam-centro/logo", timeout=10, allow_redirects=False,
                     data={"csrf_token": form_csrf.group(1) if form_csrf else csrf},
                     files={"logo": ("logo.png", png_logo(), "image/png")})
    assert r.status_code == 302, r.text[:500]
    far_session, _ = admin_session(far_process.url)
    served = far_session.get(f"{far_process.url}/admin/sites/cam-centro/logo", timeout=10)
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/png"
    from PIL import Image

    assert Image.open(io.BytesIO(served.content)).size == (120, 40)
    assert not (far_process.instance / "logos").exists()


def test_a_spoken_call_made_by_one_process_is_played_by_another_without_espeak(pair, far_process):
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is not installed (the test command installs it)")
    token = pair.a.token("admin", "admin-demo-2026")
    display = pair.a.call(token, "POST", "/api/v1/devices",
                          {"site": "cam-centro", "kind": "display", "name": "Pantalla sala"}).json()
    cookies = {"turnos_device": display["token"]}
    query = {"code": "A-007", "desk": "3", "pref": "0"}
    made = requests.get(f"{pair.a.url}/display/audio/call.wav", params=query, cookies=cookies, timeout=30)
    assert made.status_code == 200 and made.content[:4] == b"RIFF"
    played = requests.get(f"{far_process.url}/display/audio/call.wav", params=query, cookies=cookies,
                          timeout=30)
    assert played.status_code == 200, played.text[:300]
    assert played.content == made.content
    never_said = dict(query, code="A-008")
    refused = requests.get(f"{far_process.url}/display/audio/call.wav", params=never_said,
                           cookies=cookies, timeout=30)
    assert refused.status_code == 503 and refused.json()["error"] == "speech_unavailable"
