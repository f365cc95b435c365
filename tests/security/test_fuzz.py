"""A fuzzer against the live server: every operation, as an admin, an official, a kiosk and nobody.

schemathesis reads /api/v1/openapi.json and sends generated requests (valid,
invalid and linked ones) to a real server process on loopback. Any 5xx, any
status the document does not list and any answer that breaks its documented
shape fails the story. Bounded by examples per operation and by time per
caller so the whole fuzz takes about three minutes on the 2-core machine.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEMO_ADMIN, DEMO_OFFICIAL, require_program

CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance,response_headers_conformance,unsupported_method,"
          "allow_header_conformance,ignored_auth")
EXAMPLES_PER_OPERATION = 10
SECONDS_PER_CALLER = 40
SEED = 20261129  # the same requests every run; change it to explore further


def schemathesis() -> str:
    """Return the schemathesis command installed beside this Python."""
    command = Path(sys.executable).with_name("st")
    return str(command) if command.exists() else require_program("st")


def fuzz(base_url: str, token: str | None, tmp_path: Path, who: str) -> subprocess.CompletedProcess:
    """Run schemathesis once, as one caller, against every operation of the document."""
    args = [schemathesis(), "run", f"{base_url}/api/v1/openapi.json", "--checks", CHECKS,
            "--max-examples", str(EXAMPLES_PER_OPERATION), "--max-time", str(SECONDS_PER_CALLER),
            "--seed", str(SEED), "--workers", "1", "--request-timeout", "10",
            "--report-dir", str(tmp_path / f"report-{who}")]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    env = dict(os.environ, NO_COLOR="1", SCHEMATHESIS_HOOKS="")
    return subprocess.run(args, capture_output=True, text=True, timeout=SECONDS_PER_CALLER * 4,
                          env=env, cwd=tmp_path)


@pytest.mark.slow
def test_no_caller_gets_a_server_error_or_an_undocumented_answer(live_server, tmp_path):
    assert live_server.url.startswith("http://127.0.0.1:")  # loopback only
    admin = live_server.token(*DEMO_ADMIN)
    official = live_server.token(*DEMO_OFFICIAL)
    kiosk = live_server.call(admin, "POST", "/api/v1/devices",
                             {"site": "cam-centro", "kind": "kiosk", "name": "Kiosco fuzz"}).json()["token"]
    failures = []
    # The administrator last: its fuzzing revokes devices and closes days.
    for who, token in (("nobody", None), ("kiosk", kiosk), ("official", official), ("admin", admin)):
        run = fuzz(live_server.url, token, tmp_path, who)
        if run.returncode != 0:
            failures.append(f"--- as {who} (exit {run.returncode}) ---\n"
                            f"{run.stdout[-12000:]}\n{run.stderr[-2000:]}")
    server_log = live_server.log.read_text(errors="replace")
    assert "Traceback" not in server_log, server_log[-4000:]
    assert not failures, "\n".join(failures)
