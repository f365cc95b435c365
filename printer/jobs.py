"""Print jobs: send a rendered ticket to a printer and say honestly what happened.

Sending bytes is not printing: a printer can swallow a ticket without an
error. The outcome therefore only claims what the link could tell, and the
database, not the printer, stays the truth about the turn.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .connections import (
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
    "sent_unconfirmed": "Turno enviado a la impresora; la impresora no confirmó su estado.",
    "sent_near_end": "Turno enviado a la impresora. Queda poco papel: avise al personal.",
    "paper_out": f"La impresora no tiene papel. {_KEEP_TURN}",
    "paper_out_during": f"La impresora se quedó sin papel; el tiquete puede estar incompleto. {_KEEP_TURN}",
    "offline": f"La impresora no está disponible. {_KEEP_TURN}",
    "offline_during": f"La impresora dejó de estar disponible; el tiquete puede no haberse impreso. {_KEEP_TURN}",
    "no_printer": f"Este punto no tiene impresora. {_KEEP_TURN}",
    "timeout": f"La impresora no respondió a tiempo. {_KEEP_TURN}",
    "timeout_during": f"La impresora no respondió a tiempo; el tiquete puede estar incompleto. {_KEEP_TURN}",
    "refused": f"No se pudo conectar con la impresora. {_KEEP_TURN}",
    "link_lost": f"Se perdió la conexión con la impresora. {_KEEP_TURN}",
    "link_lost_during": f"Se perdió la conexión con la impresora; el tiquete puede estar incompleto. {_KEEP_TURN}",
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


@dataclass
class PrintOutcome:
    """What happened to one print job, in codes for programs and Spanish for people."""

    ok: bool
    status: PrinterStatus
    error: str | None  # paper_out, offline, timeout, refused, link_lost, bad_spec, unknown_error
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
    """Send one rendered ticket to a printer and return what is known of the result; never raises for printer faults."""
    started = time.monotonic()
    deadline = started + timeout
    check_job_id(job_id)
    try:
        parsed = parse_spec(spec) if isinstance(spec, str) else spec
    except ValueError as exc:
        return _failure("bad_spec", PrinterStatus.UNKNOWN, "bad_spec", started, detail=str(exc))
    if parsed.kind == "none":
        return _failure("offline", PrinterStatus.UNKNOWN, "no_printer", started, detail="no printer configured")
    try:
        link = open_transport(parsed, timeout=timeout, virtual_dir=virtual_dir)
    except ValueError as exc:
        return _failure("bad_spec", PrinterStatus.UNKNOWN, "bad_spec", started, detail=str(exc))

    budget = _status_budget(timeout)
    sent = 0
    before = after = PrinterStatus.UNKNOWN
    try:
        link.open()
        try:
            if link.can_answer:
                before = link.status(min(budget, deadline - time.monotonic()))
            if before is PrinterStatus.PAPER_OUT:
                return _failure("paper_out", before, "paper_out", started, detail="printer reports paper out")
            if before is PrinterStatus.OFFLINE:
                return _failure("offline", before, "offline", started, detail="printer reports offline")
            link.begin_job(job_id, png)
            # Keep back time for the check after the job, when there will be one.
            reserve = budget if before is not PrinterStatus.UNKNOWN else 0.0
            sent = link.write(data, timeout=max(0.05, deadline - time.monotonic() - reserve))
            # A printer that did not answer before the job will not answer after
            # it; one that did can confirm it is still fine, and its answer
            # proves the bytes reached it (they were queued before the query).
            if before is not PrinterStatus.UNKNOWN:
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

    if after is PrinterStatus.PAPER_OUT:
        return _failure("paper_out", after, "paper_out_during", started, sent, "paper ran out during the job")
    if after is PrinterStatus.OFFLINE:
        return _failure("offline", after, "offline_during", started, sent, "printer went offline during the job")
    if after is PrinterStatus.NEAR_END:
        message, warning = MESSAGES["sent_near_end"], "near_end"
    elif after is PrinterStatus.OK:
        message, warning = MESSAGES["sent"], None
    else:
        message, warning = MESSAGES["sent_unconfirmed"], None
    return PrintOutcome(
        ok=True,
        status=after,
        error=None,
        message=message,
        warning=warning,
        bytes_sent=sent,
        elapsed_ms=(time.monotonic() - started) * 1000,
        detail=None if after is not PrinterStatus.UNKNOWN else "the printer gave no status; delivery not confirmed",
    )


def check_status(spec: str | PrinterSpec, timeout: float = 1.0) -> PrinterStatus:
    """Return a printer's status within about `timeout` seconds; raise ValueError for a malformed spec."""
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    if parsed.kind == "none":
        return PrinterStatus.UNKNOWN
    deadline = time.monotonic() + timeout
    try:
        link = open_transport(parsed, timeout=timeout)
    except ValueError:
        return PrinterStatus.UNKNOWN
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
