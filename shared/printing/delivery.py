"""Print jobs: send a rendered ticket to a printer and say honestly what happened.

Sending bytes is not printing: a printer can swallow a ticket without an
error. The outcome therefore only claims what the link could tell, and the
database, not the printer, stays the truth about the turn.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass

from .connections import (
    STOPPED,
    LinkError,
    PrinterSpec,
    PrinterStatus,
    check_job_id,
    open_transport,
    parse_spec,
)

log = logging.getLogger(__name__)

# Share of the job's time budget a status check may use, and its ceiling:
# a printer that answers does so in milliseconds.
_STATUS_SHARE = 0.2
_STATUS_CEILING = 1.0

_KEEP_TURN = "Su turno es válido: tome una foto del código QR o anote su turno."

MESSAGES = {
    "sent": "Turno enviado a la impresora.",
    "unconfirmed": "Turno enviado a la impresora, pero la impresora no confirmó que lo imprimió. "
    "Revise que el tiquete haya salido; si no salió, su turno en pantalla es válido.",
    "sent_near_end": "Turno enviado a la impresora. Queda poco papel: avise al personal.",
    "paper_out": f"La impresora no tiene papel. {_KEEP_TURN}",
    "paper_out_during": f"La impresora se quedó sin papel; el tiquete puede estar incompleto. {_KEEP_TURN}",
    "offline": f"La impresora no está disponible. {_KEEP_TURN}",
    "cover_open": f"La impresora tiene la tapa abierta. {_KEEP_TURN}",
    "cover_open_during": f"Se abrió la tapa de la impresora; el tiquete puede estar incompleto. {_KEEP_TURN}",
    "printer_error": f"La impresora reporta un error. {_KEEP_TURN}",
    "printer_error_during": f"La impresora reportó un error; el tiquete puede estar incompleto. {_KEEP_TURN}",
    "busy": f"La impresora está ocupada. {_KEEP_TURN}",
    "offline_during": "La impresora dejó de estar disponible; el tiquete puede no haberse impreso. "
    + _KEEP_TURN,
    "no_printer": f"Este punto no tiene impresora. {_KEEP_TURN}",
    "timeout": f"La impresora no respondió a tiempo. {_KEEP_TURN}",
    "timeout_during": f"La impresora no respondió a tiempo; el tiquete puede estar incompleto. {_KEEP_TURN}",
    "refused": f"No se pudo conectar con la impresora. {_KEEP_TURN}",
    "link_lost": f"Se perdió la conexión con la impresora. {_KEEP_TURN}",
    "link_lost_during": "Se perdió la conexión con la impresora; el tiquete puede estar incompleto. "
    + _KEEP_TURN,
    "bad_spec": f"La impresora no está bien configurada. {_KEEP_TURN}",
    "unknown_error": f"Error inesperado de la impresora. {_KEEP_TURN}",
}

# What a failed link says about the printer: refused or vanished means it is
# not there; a timeout means it did not answer, which is not knowing.
_STATUS_AFTER_ERROR = {
    "refused": PrinterStatus.OFFLINE,
    "offline": PrinterStatus.OFFLINE,
    "link_lost": PrinterStatus.OFFLINE,
    "timeout": PrinterStatus.UNKNOWN,
    "unknown_error": PrinterStatus.UNKNOWN,
}


# What a printer that cannot print says, as the job's error code.
_STOPPED_ERRORS = {
    PrinterStatus.PAPER_OUT: "paper_out",
    PrinterStatus.COVER_OPEN: "cover_open",
    PrinterStatus.CUTTER_ERROR: "printer_error",
    PrinterStatus.ERROR: "printer_error",
    PrinterStatus.OFFLINE: "offline",
}

# One job or status check at a time per printer: a serial port cannot be opened
# twice, and a status answer must not be read by the wrong asker.
_link_locks: dict[str, threading.Lock] = {}
_link_locks_guard = threading.Lock()


@contextlib.contextmanager
def printer_in_use(spec: PrinterSpec, timeout: float):
    """Hold a printer for one job or status check; yield False if it stayed busy past timeout."""
    with _link_locks_guard:
        lock = _link_locks.setdefault(str(spec), threading.Lock())
    got = lock.acquire(timeout=timeout) if timeout > 0 else lock.acquire(blocking=False)
    try:
        yield got
    finally:
        if got:
            lock.release()


@dataclass
class PrintOutcome:
    """What happened to one print job, in codes for programs and Spanish for people."""

    ok: bool
    status: PrinterStatus
    # paper_out, cover_open, printer_error, offline, timeout, refused, link_lost,
    # unconfirmed (sent, but the printer did not confirm it), busy, bad_spec, unknown_error
    error: str | None
    message: str
    warning: str | None
    bytes_sent: int
    elapsed_ms: float
    detail: str | None = None  # technical cause, in English, for logs and the supervisor


def _status_budget(timeout: float) -> float:
    """Return how long one status check may take within a job of `timeout` seconds."""
    return min(_STATUS_CEILING, timeout * _STATUS_SHARE)


def _failure(
    error: str,
    status: PrinterStatus,
    message_key: str,
    started: float,
    bytes_sent: int = 0,
    detail: str | None = None,
) -> PrintOutcome:
    """Return the outcome of a job that did not (or may not) print."""
    return PrintOutcome(
        ok=False,
        status=status,
        error=error,
        message=MESSAGES[message_key],
        warning=None,
        bytes_sent=bytes_sent,
        elapsed_ms=(time.monotonic() - started) * 1000,
        detail=detail,
    )


def deliver(
    spec: str | PrinterSpec,
    data: bytes,
    *,
    job_id: str,
    png: bytes | None = None,
    virtual_dir: str | None = None,
    timeout: float = 5.0,
) -> PrintOutcome:
    """Send one rendered ticket to a printer, return what is known of the result ; never raises."""
    started = time.monotonic()
    deadline = started + timeout
    check_job_id(job_id)
    try:
        parsed = parse_spec(spec) if isinstance(spec, str) else spec
    except ValueError as exc:
        return _failure("bad_spec", PrinterStatus.UNKNOWN, "bad_spec", started, detail=str(exc))
    if parsed.kind == "none":
        return _failure(
            "offline", PrinterStatus.UNKNOWN, "no_printer", started, detail="no printer configured"
        )
    try:
        link = open_transport(parsed, timeout=timeout, virtual_dir=virtual_dir)
    except ValueError as exc:
        return _failure("bad_spec", PrinterStatus.UNKNOWN, "bad_spec", started, detail=str(exc))

    with printer_in_use(parsed, max(0.0, deadline - time.monotonic())) as free:
        if not free:
            return _failure(
                "busy", PrinterStatus.UNKNOWN, "busy", started, detail="printer busy with another job"
            )
        return _deliver(
            link,
            data,
            job_id=job_id,
            png=png,
            started=started,
            deadline=deadline,
            budget=_status_budget(timeout),
            parsed=parsed,
        )


def _deliver(
    link,
    data: bytes,
    *,
    job_id: str,
    png: bytes | None,
    started: float,
    deadline: float,
    budget: float,
    parsed: PrinterSpec,
) -> PrintOutcome:
    """Send one job on an unopened link and ask the printer to confirm it (see deliver)."""
    sent = 0
    before = after = PrinterStatus.UNKNOWN
    try:
        link.open()
        try:
            if link.can_answer:
                before = link.status(min(budget, deadline - time.monotonic()))
            if before in STOPPED:
                error = _STOPPED_ERRORS[before]
                return _failure(error, before, error, started, detail=f"printer reports {before}")
            link.begin_job(job_id, png)
            # Keep back time for the check after the job, which is the only proof
            # that the printer took the bytes: a ticket fits in the socket buffers.
            reserve = budget if link.can_answer else 0.0
            sent = link.write(data, timeout=max(0.05, deadline - time.monotonic() - reserve))
            if link.can_answer:
                # Its answer proves the bytes reached it (they were queued before the query).
                after = link.status(max(0.05, min(budget, deadline - time.monotonic())))
        finally:
            link.close()
    except LinkError as exc:
        sent = sent or exc.bytes_sent
        key = exc.code
        if exc.code in ("timeout", "offline", "link_lost") and sent:
            key = f"{exc.code}_during"
        status = _STATUS_AFTER_ERROR.get(exc.code, PrinterStatus.UNKNOWN)
        return _failure(exc.code, status, key, started, sent, exc.detail)
    except ValueError as exc:
        return _failure("bad_spec", PrinterStatus.UNKNOWN, "bad_spec", started, sent, str(exc))
    except Exception as exc:  # a kiosk must get an outcome, whatever the driver raised
        log.exception("Unexpected error printing job %s on %s", job_id, parsed)
        return _failure("unknown_error", PrinterStatus.UNKNOWN, "unknown_error", started, sent, repr(exc))

    if after in STOPPED:
        error = _STOPPED_ERRORS[after]
        key = "paper_out_during" if error == "paper_out" else f"{error}_during"
        return _failure(error, after, key, started, sent, f"printer reports {after} after the job")
    if after is PrinterStatus.UNKNOWN:
        # Sending bytes is not printing: a stalled or reset printer takes a whole
        # ticket into the socket buffers. Only an answer after the job confirms it.
        return _failure(
            "unconfirmed",
            after,
            "unconfirmed",
            started,
            sent,
            "the printer gave no status after the job; delivery not confirmed",
        )
    if after is PrinterStatus.NEAR_END:
        message, warning = MESSAGES["sent_near_end"], "near_end"
    else:
        message, warning = MESSAGES["sent"], None
    return PrintOutcome(
        ok=True,
        status=after,
        error=None,
        message=message,
        warning=warning,
        bytes_sent=sent,
        elapsed_ms=(time.monotonic() - started) * 1000,
        detail=None,
    )


def check_status(spec: str | PrinterSpec, timeout: float = 1.0, *, wait: bool = True) -> PrinterStatus | None:
    """Return a printer's status within about `timeout` seconds; raise ValueError for a malformed spec.

    With ``wait=False`` a printer busy with a job is not disturbed: the answer is None.
    A link that can never answer (a file) is not even opened: `unknown`.
    """
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    if parsed.kind == "none":
        return PrinterStatus.UNKNOWN
    deadline = time.monotonic() + timeout
    try:
        link = open_transport(parsed, timeout=timeout)
    except ValueError:
        return PrinterStatus.UNKNOWN
    if not link.can_answer:
        return PrinterStatus.UNKNOWN
    with printer_in_use(parsed, timeout if wait else 0) as free:
        if not free:
            return None if not wait else PrinterStatus.UNKNOWN
        return _probe(link, parsed, deadline)


def _probe(link, parsed: PrinterSpec, deadline: float) -> PrinterStatus:
    """Open a link, ask the printer's status before the deadline and close it."""
    try:
        link.open()
        try:
            return link.status(max(0.05, deadline - time.monotonic()))
        finally:
            link.close()
    except LinkError as exc:
        return _STATUS_AFTER_ERROR.get(exc.code, PrinterStatus.UNKNOWN)
    except Exception:  # a status probe must answer, whatever the driver raised
        log.exception("Unexpected error reading the status of %s", parsed)
        return PrinterStatus.UNKNOWN
