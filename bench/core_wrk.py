"""Core benchmark with wrk as the load generator (needs Debian's ``wrk``).

    python bench/core_wrk.py [--runs 3] [--seconds 10]

The Python clients of ``bench/core_throughput.py`` need most of the second core
to keep up, so on a 2-core machine they measure the clients as much as the
server. wrk (C, one thread per connection here) leaves the server its core:

1. Issuing: 8 connections, each with its own kiosk device token, issue tickets
   for ``--seconds``: tickets/s and wrk's p50/p99.
2. Calling: the queue now holds thousands of waiting tickets; 50 connections,
   one per desk (admin token), each calls ``next`` and closes the ticket with
   ``no-show`` before its next call: calls/s, p50/p99 over both requests, and
   duplicates counted in the database (calls ÷ distinct tickets called).
"""

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Server, median, request  # noqa: E402
from core_throughput import DESKS, KIOSKS, layout_with_desks  # noqa: E402

ISSUE_LUA = r'''
local tokens = {}
for line in io.lines(os.getenv("TURNOS_TOKENS")) do tokens[#tokens + 1] = line end
local n = 0
function setup(thread) n = n + 1; thread:set("token", tokens[n]) end
function init(args)
  wrk.method = "POST"
  wrk.body = '{"site": "cam-centro", "service": "A"}'
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. token
end
'''

CALL_LUA = r'''
local threads = {}
local n = 0
function setup(thread)
  n = n + 1
  thread:set("desk", "b" .. n)
  table.insert(threads, thread)
end
function init(args)
  calls = 0
  pending = nil
  auth = "Bearer " .. os.getenv("TURNOS_ADMIN")
end
function request()
  local headers = { ["Authorization"] = auth }
  if pending then
    return wrk.format("POST", "/api/v1/tickets/" .. pending .. "/no-show", headers)
  end
  return wrk.format("POST", "/api/v1/desks/cam-centro:" .. desk .. "/next", headers)
end
function response(status, headers, body)
  if pending then
    pending = nil
  elseif status == 200 then
    pending = string.match(body, '"id":%s*(%d+)')
    calls = calls + 1
  end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("calls") end
  io.write(string.format("CALLS %d\n", total))
end
'''


def run_wrk(url: str, script: str, threads: int, seconds: int, env: dict) -> dict:
    """Run wrk and return requests/s, p50/p99 (ms) and any CALLS line."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        out = subprocess.run(["wrk", f"-t{threads}", f"-c{threads}", f"-d{seconds}s", "--latency",
                              "-s", fh.name, url], capture_output=True, text=True, check=True,
                             env=dict(os.environ, **env)).stdout
    finally:
        os.unlink(fh.name)

    def ms(label):
        m = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)$", out, re.M)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    calls = re.search(r"^CALLS (\d+)$", out, re.M)
    return {"rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50": ms(50), "p99": ms(99), "calls": int(calls.group(1)) if calls else None,
            "non2xx": int(m.group(1)) if (m := re.search(r"Non-2xx.*:\s+(\d+)", out)) else 0}


def main() -> int:
    """Measure issuing and calling with wrk, several runs, and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed: apt-get install wrk (or use bench/core_throughput.py)")
        return 2
    os.environ["TURNOS_KIOSK_RATE_LIMIT"] = "[1000000, 60]"  # the benchmark is the flood
    issue, calls = [], []
    with tempfile.TemporaryDirectory() as tmp:
        layout = Path(tmp) / "layout.toml"
        layout_with_desks(layout)
        tokens = Path(tmp) / "tokens.txt"
        for run in range(1, args.runs + 1):
            with Server(str(layout)) as server:
                admin = server.token()
                tokens.write_text("\n".join(
                    request(server.port, "POST", "/api/v1/devices",
                            {"site": "cam-centro", "kind": "kiosk", "name": f"Kiosco {k}"},
                            admin)[1]["token"] for k in range(KIOSKS)) + "\n")
                base = f"http://127.0.0.1:{server.port}"
                i = run_wrk(base + "/api/v1/tickets", ISSUE_LUA, KIOSKS, args.seconds,
                            {"TURNOS_TOKENS": str(tokens)})
                db = sqlite3.connect(server.instance / "turnos.sqlite3")
                waiting = db.execute("SELECT count(*) FROM tickets WHERE status = 'waiting'").fetchone()[0]
                c = run_wrk(base + "/", CALL_LUA, DESKS, args.seconds, {"TURNOS_ADMIN": admin})
                called, distinct = db.execute("SELECT count(*), count(DISTINCT ticket_id) FROM "
                                              "ticket_events WHERE kind = 'called'").fetchone()
                db.close()
                c["calls_per_s"] = c["calls"] / args.seconds
                c["duplicates"] = called - distinct
                issue.append(i)
                calls.append(c)
                print(f"run {run}: issue {i['rate']:.0f}/s p50 {i['p50']:.1f} ms p99 {i['p99']:.1f} ms"
                      f" (errors {i['non2xx']}) | {waiting} waiting | calls {c['calls_per_s']:.0f}/s"
                      f" ({c['calls']} calls) p50 {c['p50']:.1f} ms p99 {c['p99']:.1f} ms"
                      f" duplicates {c['duplicates']}", flush=True)
    print(f"\nmedians of {args.runs} runs (wrk load generator)")
    print(f"  issuing, 8 kiosk connections:  {median([r['rate'] for r in issue]):.0f} tickets/s, "
          f"p50 {median([r['p50'] for r in issue]):.1f} ms, p99 {median([r['p99'] for r in issue]):.1f} ms"
          "   (target >= 500/s)")
    print(f"  calling, 50 desk connections:  {median([r['calls_per_s'] for r in calls]):.0f} calls/s, "
          f"duplicates {max(r['duplicates'] for r in calls)} (max over runs), "
          f"p99 {median([r['p99'] for r in calls]):.1f} ms   (target >= 300/s, 0 duplicates)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
