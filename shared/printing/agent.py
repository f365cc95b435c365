"""The printer agent of a remote kiosk: ``run.py printer-agent --server URL --token TOKEN --printer SPEC``.

A kiosk PC whose printer is attached to it (serial, USB, a device file, or a
network printer only it can reach) runs this agent. It connects to the
server over Socket.IO with the kiosk's device token, receives that kiosk's
print jobs (``print_job``), prints each through ``shared.printing.delivery.deliver`` and
answers with ``print_result``; between jobs it reports ``printer_status``.
It reconnects by itself after a server restart.

A job is printed at most once. Before sending a job to the printer the agent
writes the job's id to a small record on disk, and the outcome after; a job
offered again (the server re-offers jobs it has no answer for) is answered
from the record, never printed again, even across an agent restart. A job
the agent was printing when it stopped is answered as failed, so a
supervisor can reprint it deliberately.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from .. import events
from .connections import PrinterStatus, parse_spec
from .delivery import MESSAGES, check_status, deliver

log = logging.getLogger("turnos.printer_agent")

DEFAULT_STATE_FILE = Path.home() / ".local" / "state" / "turnos" / "printer-agent.json"
KEEP_JOBS = 1000


class JobRecord:
    """The jobs this agent started and finished, kept on disk (written atomically)."""

    def __init__(self, path: str | os.PathLike, keep: int = KEEP_JOBS):
        self.path = Path(path)
        self.keep = keep
        self._lock = threading.Lock()
        self._jobs: dict[str, dict] = {}
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                self._jobs = loaded.get("jobs", {}) if isinstance(loaded, dict) else {}
            except (OSError, ValueError) as exc:
                # A record that cannot be read must not stop printing; say so loudly.
                log.error("cannot read the job record %s (%s): starting a new one", self.path, exc)

    def get(self, uid: str) -> dict | None:
        """Return what the agent knows of a job, or None if it never saw it."""
        with self._lock:
            entry = self._jobs.get(uid)
            return dict(entry) if entry else None

    def started(self, uid: str, name: str) -> None:
        """Note, durably, that a job is about to go to the printer."""
        self._put(uid, {"state": "started", "name": name, "at": time.time()})

    def finished(self, uid: str, outcome: dict) -> None:
        """Note, durably, what happened to a job."""
        entry = self.get(uid) or {}
        self._put(uid, dict(entry, state="done", outcome=outcome, acked=False, at=time.time()))

    def acknowledged(self, uid: str) -> None:
        """Note that the server has the job's outcome."""
        entry = self.get(uid)
        if entry:
            self._put(uid, dict(entry, acked=True))

    def _put(self, uid: str, entry: dict) -> None:
        """Store one entry and write the record to disk before returning."""
        with self._lock:
            self._jobs.pop(uid, None)
            self._jobs[uid] = entry
            while len(self._jobs) > self.keep:
                self._jobs.pop(next(iter(self._jobs)))
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".printer-agent-", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    json.dump({"jobs": self._jobs}, out)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise


class PrinterAgent:
    """Prints a remote kiosk's jobs on its local printer and answers the server."""

    def __init__(
        self,
        server: str,
        token: str,
        printer: str,
        *,
        state_file=DEFAULT_STATE_FILE,
        status_interval: float = 30.0,
        timeout: float = 5.0,
    ):
        import socketio

        self.server = server.rstrip("/")
        self.token = token
        self.printer = str(parse_spec(printer))
        self.timeout = timeout
        self.status_interval = status_interval
        self.record = JobRecord(state_file)
        self.ready = threading.Event()
        #: How many times the server accepted the agent, and how many answers it confirmed.
        self.accepted = 0
        self.confirmed = 0
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._printer_lock = threading.Lock()
        self._last_status: str | None = None
        self.sio = socketio.Client(
            reconnection=True,
            reconnection_attempts=0,
            reconnection_delay=0.5,
            reconnection_delay_max=5,
            randomization_factor=0.3,
        )
        self.sio.on("connect", self._on_connect)
        self.sio.on("disconnect", self._on_disconnect)
        self.sio.on(events.PRINT_JOB, self._on_job)

    # --- life cycle ---------------------------------------------------------------------

    def start(self) -> PrinterAgent:
        """Connect (retrying until the server answers) and run in background threads."""
        threading.Thread(target=self._connect_loop, name="agent-connect", daemon=True).start()
        threading.Thread(target=self._status_loop, name="agent-status", daemon=True).start()
        return self

    def run(self) -> None:
        """Connect and serve until stopped (the command line's main loop)."""
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def wait_until(self, *, accepted: int = 0, confirmed: int = 0, timeout: float = 10.0) -> bool:
        """Wait until the server accepted the agent and confirmed answers that many times in all."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self.accepted >= accepted and self.confirmed >= confirmed, timeout
            )

    def stop(self) -> None:
        """Disconnect and stop every loop."""
        self._stop.set()
        try:
            self.sio.disconnect()
        except Exception:  # already gone
            pass

    def _connect_loop(self) -> None:
        """Make the first connection; the client reconnects by itself afterwards."""
        delay = 0.5
        while not self._stop.is_set():
            try:
                self.sio.connect(
                    self.server,
                    auth={"token": self.token},
                    transports=["websocket", "polling"],
                    wait_timeout=10,
                )
                return
            except Exception as exc:  # server down, refused token, network: try again
                log.warning("cannot connect to %s (%s); retrying in %.1f s", self.server, exc, delay)
                if self._stop.wait(delay):
                    return
                delay = min(delay * 2, 5.0)

    # --- socket events ---------------------------------------------------------------------

    def _on_connect(self) -> None:
        """Introduce the agent: the server then offers the jobs it has no answer for."""
        log.info("connected to %s", self.server)
        status = self._status()
        self.sio.emit(
            events.AGENT_READY, {"printer": self.printer, "status": status}, callback=self._on_ready
        )

    def _on_ready(self, answer=None) -> None:
        """Note the server's answer to the introduction."""
        if isinstance(answer, dict) and answer.get("ok"):
            log.info(
                "agent accepted for kiosk %s (%s job(s) offered)", answer.get("device"), answer.get("offered")
            )
            self.ready.set()
            with self._changed:
                self.accepted += 1
                self._changed.notify_all()
        else:
            log.error("the server refused this agent: %s", answer)

    def _on_disconnect(self, *args) -> None:
        """Forget readiness until the next connection."""
        self.ready.clear()
        log.warning("disconnected from %s", self.server)

    def _on_job(self, job=None) -> None:
        """Print one offered job (at most once) and answer with its outcome."""
        if not isinstance(job, dict) or not isinstance(job.get("job"), str):
            return
        uid = job["job"]
        with self._printer_lock:
            known = self.record.get(uid)
            if known is None:
                outcome = self._print(uid, job)
            elif known.get("state") == "done":
                log.info("job %s was already printed: answering again, not printing", uid)
                outcome = known["outcome"]
            else:
                log.warning("job %s was being printed when the agent stopped: not printing it again", uid)
                outcome = {
                    "ok": False,
                    "status": PrinterStatus.UNKNOWN.value,
                    "error": "interrupted",
                    "message": MESSAGES["offline_during"],
                    "warning": None,
                    "bytes_sent": 0,
                    "elapsed_ms": None,
                    "detail": "the agent stopped while printing this job",
                }
                self.record.finished(uid, outcome)
        self._answer(uid, outcome)

    def _print(self, uid: str, job: dict) -> dict:
        """Send a job's bytes to the printer and record the outcome."""
        name = job.get("name") if isinstance(job.get("name"), str) else uid
        self.record.started(uid, name)
        try:
            data = base64.b64decode(job.get("data") or "", validate=True)
        except ValueError:
            outcome = {
                "ok": False,
                "status": PrinterStatus.UNKNOWN.value,
                "error": "unknown_error",
                "message": MESSAGES["unknown_error"],
                "warning": None,
                "bytes_sent": 0,
                "elapsed_ms": None,
                "detail": "the job's data is not valid base64",
            }
        else:
            result = deliver(self.printer, data, job_id=name, timeout=self.timeout)
            outcome = {
                "ok": result.ok,
                "status": str(result.status),
                "error": result.error,
                "message": result.message,
                "warning": result.warning,
                "bytes_sent": result.bytes_sent,
                "elapsed_ms": round(result.elapsed_ms, 1),
                "detail": result.detail,
            }
            self._last_status = str(result.status)
        self.record.finished(uid, outcome)
        log.info("job %s (%s): %s", uid, job.get("code"), "printed" if outcome["ok"] else outcome["error"])
        return outcome

    def _answer(self, uid: str, outcome: dict) -> None:
        """Send a job's outcome; the record notes it once the server confirms."""

        def confirmed(answer=None):
            self.record.acknowledged(uid)
            with self._changed:
                self.confirmed += 1
                self._changed.notify_all()

        try:
            self.sio.emit(events.PRINT_RESULT, dict(outcome, job=uid), callback=confirmed)
        except Exception as exc:  # disconnected: the server re-offers the job on reconnect
            log.warning("could not answer job %s now (%s); will answer when offered again", uid, exc)

    # --- printer status -------------------------------------------------------------------------

    def _status(self) -> str:
        """Return the printer's status now (unknown while a job is printing)."""
        if not self._printer_lock.acquire(timeout=0.1):
            return self._last_status or PrinterStatus.UNKNOWN.value
        try:
            status = str(check_status(self.printer, timeout=1.0))
        finally:
            self._printer_lock.release()
        self._last_status = status
        return status

    def _status_loop(self) -> None:
        """Report the printer's status every interval while connected."""
        while not self._stop.wait(self.status_interval):
            if not self.sio.connected or not self.ready.is_set():
                continue
            try:
                self.sio.emit(events.PRINTER_STATUS, {"status": self._status()})
            except Exception as exc:  # a dropped link: the next round tries again
                log.warning("could not report the printer status: %s", exc)


def run_agent(
    server: str,
    token: str,
    printer: str,
    *,
    state_file=None,
    status_interval: float = 30.0,
    timeout: float = 5.0,
) -> None:
    """Run the printer agent until interrupted (the ``printer-agent`` command)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    agent = PrinterAgent(
        server,
        token,
        printer,
        state_file=state_file or DEFAULT_STATE_FILE,
        status_interval=status_interval,
        timeout=timeout,
    )
    log.info("printer agent for %s on %s (job record: %s)", server, agent.printer, agent.record.path)
    agent.run()
