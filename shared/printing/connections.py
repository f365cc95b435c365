"""Printer links: where ticket bytes go (serial, TCP, USB, file, virtual) and what the printer says back.

Each link knows how to open, write, ask the printer's status and close; none
knows what a ticket looks like. Status is read with our own short, bounded
queries because python-escpos reports "ok" when a printer does not answer.
"""

from __future__ import annotations

import errno
import os
import re
import select
import socket
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import parse_qs

DEFAULT_TCP_PORT = 9100
DEFAULT_BAUDRATE = 9600

ACCEPTED_FORMS = (
    "serial:/dev/ttyUSB0 (optional ?baudrate=19200), tcp:HOST[:9100], "
    "usb:VID:PID (hex, e.g. usb:0x04b8:0x0202), file:/dev/usb/lp0, virtual:, none"
)

# Real-time status queries (DLE EOT n). The printer answers them as soon as
# they arrive, even while it is still printing earlier data.
QUERY_PRINTER = b"\x10\x04\x01"
QUERY_OFFLINE_CAUSE = b"\x10\x04\x02"
QUERY_ERROR_CAUSE = b"\x10\x04\x03"
QUERY_PAPER = b"\x10\x04\x04"

# Every DLE EOT answer has bit 1 and bit 4 set and bits 0 and 7 clear; that
# tells an answer apart from stray bytes on the line.
_ANSWER_MASK = 0x93
_ANSWER_FIXED = 0x12
_PRINTER_OFFLINE = 0x08  # DLE EOT 1, bit 3
_COVER_OPEN = 0x04  # DLE EOT 2, bit 2
_PAPER_END_STOP = 0x20  # DLE EOT 2, bit 5
_ERROR_OCCURRED = 0x40  # DLE EOT 2, bit 6
_CUTTER_ERROR = 0x08  # DLE EOT 3, bit 3
_PAPER_NEAR_END = 0x0C  # DLE EOT 4, bits 2-3
_PAPER_OUT = 0x60  # DLE EOT 4, bits 5-6

_CHUNK = 4096
_TCP_SNDBUF = 4096


class PrinterStatus(StrEnum):
    """What the printer last said about itself; `unknown` when it could not or did not say."""

    OK = "ok"
    NEAR_END = "near_end"
    PAPER_OUT = "paper_out"
    COVER_OPEN = "cover_open"
    CUTTER_ERROR = "cutter_error"
    ERROR = "error"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


class LinkError(Exception):
    """A printer link failed; `code` is one of refused, timeout, link_lost, offline, unknown_error."""

    def __init__(self, code: str, detail: str, bytes_sent: int = 0):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.bytes_sent = bytes_sent


# --- Specs -----------------------------------------------------------------------


@dataclass(frozen=True)
class PrinterSpec:
    """A parsed printer address such as `tcp:10.0.0.5:9100` or `serial:/dev/ttyUSB0`."""

    kind: str  # serial, tcp, usb, file, virtual, none
    path: str | None = None  # serial device, file path or virtual directory
    host: str | None = None
    port: int | None = None
    baudrate: int | None = None
    vendor_id: int | None = None
    product_id: int | None = None

    def __str__(self) -> str:
        """Return the spec in the same form `parse_spec` accepts."""
        if self.kind == "serial":
            return f"serial:{self.path}?baudrate={self.baudrate}"
        if self.kind == "tcp":
            host = f"[{self.host}]" if self.host and ":" in self.host else self.host
            return f"tcp:{host}:{self.port}"
        if self.kind == "usb":
            return f"usb:0x{self.vendor_id:04x}:0x{self.product_id:04x}"
        if self.kind == "file":
            return f"file:{self.path}"
        if self.kind == "virtual":
            return f"virtual:{self.path or ''}"
        return "none"


# "host", "host:port", "[v6]" or "[v6]:port".
_TCP_ADDRESS = re.compile(
    r"\[(?P<v6>[0-9A-Fa-f:.]+)\](?::(?P<p6>[^:]*))?"
    r"|(?P<host>[^:\[\]]+)(?::(?P<port>[^:]*))?"
)


def _bad_spec(spec: str, why: str) -> ValueError:
    """Return the error raised for an unusable printer spec."""
    return ValueError(f"Invalid printer spec {spec!r}: {why}. Accepted forms: {ACCEPTED_FORMS}")


def _parse_hex_id(spec: str, text: str, what: str) -> int:
    """Return a USB vendor or product id written in hex, with or without 0x."""
    digits = text[2:] if text.lower().startswith("0x") else text
    if not re.fullmatch(r"[0-9a-fA-F]{1,4}", digits):
        raise _bad_spec(spec, f"{what} must be a hex number up to 0xffff")
    return int(digits, 16)


def parse_spec(spec: str) -> PrinterSpec:  # noqa: C901
    """Return the PrinterSpec for a printer address string, or raise ValueError naming the accepted forms."""
    if not isinstance(spec, str) or not spec.strip():
        raise _bad_spec(str(spec), "empty")
    spec = spec.strip()
    if spec.lower() == "none":
        return PrinterSpec(kind="none")
    kind, sep, rest = spec.partition(":")
    kind = kind.lower()
    if not sep:
        raise _bad_spec(spec, "missing ':' after the kind")

    if kind == "serial":
        path, _, query = rest.partition("?")
        if not path:
            raise _bad_spec(spec, "serial needs a device path")
        baudrate = DEFAULT_BAUDRATE
        if query:
            params = parse_qs(query, keep_blank_values=True, strict_parsing=False)
            unknown = set(params) - {"baudrate"}
            if unknown:
                raise _bad_spec(spec, f"unknown serial option(s) {', '.join(sorted(unknown))}")
            value = params.get("baudrate", [""])[-1]
            if not (value.isascii() and value.isdigit()) or int(value) <= 0:
                raise _bad_spec(spec, "baudrate must be a positive whole number")
            baudrate = int(value)
        return PrinterSpec(kind="serial", path=path, baudrate=baudrate)

    if kind == "tcp":
        match = _TCP_ADDRESS.fullmatch(rest)
        if not match:
            raise _bad_spec(spec, "tcp needs a host and an optional port")
        host = match.group("v6") or match.group("host")
        port_text = match.group("p6") if match.group("v6") else match.group("port")
        port = DEFAULT_TCP_PORT
        if port_text is not None:
            if not (port_text.isascii() and port_text.isdigit()) or not 1 <= int(port_text) <= 65535:
                raise _bad_spec(spec, "tcp port must be a number from 1 to 65535")
            port = int(port_text)
        return PrinterSpec(kind="tcp", host=host, port=port)

    if kind == "usb":
        parts = rest.split(":")
        if len(parts) != 2 or not all(parts):
            raise _bad_spec(spec, "usb needs VID:PID")
        return PrinterSpec(
            kind="usb",
            vendor_id=_parse_hex_id(spec, parts[0], "vendor id"),
            product_id=_parse_hex_id(spec, parts[1], "product id"),
        )

    if kind == "file":
        if not rest:
            raise _bad_spec(spec, "file needs a path")
        return PrinterSpec(kind="file", path=rest)

    if kind == "virtual":
        return PrinterSpec(kind="virtual", path=rest or None)

    raise _bad_spec(spec, f"unknown kind {kind!r}")


# --- Status decoding --------------------------------------------------------------


def is_status_answer(byte: int) -> bool:
    """Return whether a byte has the fixed bits of a DLE EOT answer."""
    return byte & _ANSWER_MASK == _ANSWER_FIXED


#: The statuses in which a printer cannot print (a job is not sent).
STOPPED = frozenset({"paper_out", "cover_open", "cutter_error", "error", "offline"})


def decode_status(
    printer_byte: int | None,
    paper_byte: int | None,
    cause_byte: int | None = None,
    error_byte: int | None = None,
) -> PrinterStatus:
    """Return the status from the answers to DLE EOT 1, 4, 2 and 3 (None where unanswered).

    DLE EOT 2 (offline cause) and 3 (error cause) name why an offline printer
    stopped: cover open, paper end, a cutter error or another error; an
    offline printer without a known cause is `offline`.
    """
    # Decided by bits, not whole bytes: models differ in the bits they leave unset.
    if paper_byte is not None and paper_byte & _PAPER_OUT:
        return PrinterStatus.PAPER_OUT
    if printer_byte is not None and printer_byte & _PRINTER_OFFLINE:
        if cause_byte is not None and cause_byte & _COVER_OPEN:
            return PrinterStatus.COVER_OPEN
        if cause_byte is not None and cause_byte & _PAPER_END_STOP:
            return PrinterStatus.PAPER_OUT
        if cause_byte is not None and cause_byte & _ERROR_OCCURRED:
            if error_byte is not None and error_byte & _CUTTER_ERROR:
                return PrinterStatus.CUTTER_ERROR
            return PrinterStatus.ERROR
        return PrinterStatus.OFFLINE
    if printer_byte is None or paper_byte is None:
        return PrinterStatus.UNKNOWN
    if paper_byte & _PAPER_NEAR_END:
        return PrinterStatus.NEAR_END
    return PrinterStatus.OK


def ask_status(ask) -> PrinterStatus:
    """Return a printer's status, asking DLE EOT queries with ``ask(query) -> byte | None``.

    The offline and error causes are asked only of a printer that says it is offline.
    """
    printer_byte = ask(QUERY_PRINTER)
    if printer_byte is None:
        # A printer that ignores the first query will ignore the others:
        # do not spend the rest of the budget finding that out.
        return PrinterStatus.UNKNOWN
    cause_byte = error_byte = None
    if printer_byte & _PRINTER_OFFLINE:
        cause_byte = ask(QUERY_OFFLINE_CAUSE)
        if cause_byte is not None and cause_byte & _ERROR_OCCURRED:
            error_byte = ask(QUERY_ERROR_CAUSE)
    paper_byte = ask(QUERY_PAPER)
    return decode_status(printer_byte, paper_byte, cause_byte, error_byte)


# --- Transports ------------------------------------------------------------------


class Transport:
    """A link to one printer: open, write bytes, ask status, close."""

    kind = "base"
    #: Whether the printer can answer status queries over this link at all.
    can_answer = False

    def __init__(self, timeout: float = 5.0):
        self.timeout = timeout

    def open(self) -> None:
        """Open the link; raise LinkError when the printer cannot be reached."""

    def begin_job(self, job_id: str, png: bytes | None = None) -> None:
        """Name the job about to be written (only the virtual printer keeps the name and preview)."""

    def write(self, data: bytes, *, timeout: float | None = None) -> int:
        """Send data; return how many bytes the link accepted; raise LinkError on failure."""
        raise NotImplementedError

    def status(self, timeout: float = 1.0) -> PrinterStatus:
        """Return the printer's status, `unknown` when it does not answer within timeout."""
        return PrinterStatus.UNKNOWN

    def close(self) -> None:
        """Close the link; safe to call twice."""

    def __enter__(self) -> Transport:
        """Open the link for a with-block."""
        self.open()
        return self

    def __exit__(self, *exc_info) -> None:
        """Close the link at the end of a with-block."""
        self.close()


class _QueryingTransport(Transport):
    """A two-way link on which status is asked with DLE EOT and read with a deadline."""

    can_answer = True

    def _drain(self) -> None:
        """Discard bytes already waiting, so an old answer is not read as a new one."""
        raise NotImplementedError

    def _send_query(self, query: bytes, deadline: float) -> None:
        """Send a status query before the deadline."""
        raise NotImplementedError

    def _read_byte(self, deadline: float) -> int | None:
        """Return the next byte from the printer, or None if none came before the deadline."""
        raise NotImplementedError

    def _ask(self, query: bytes, deadline: float) -> int | None:
        """Return the printer's answer to one DLE EOT query, or None if it did not answer in time."""
        self._send_query(query, deadline)
        while True:
            byte = self._read_byte(deadline)
            if byte is None or is_status_answer(byte):
                return byte

    def status(self, timeout: float = 1.0) -> PrinterStatus:
        """Return the printer's status, `unknown` when it does not answer within timeout."""
        deadline = time.monotonic() + max(0.0, timeout)
        self._drain()
        return ask_status(lambda query: self._ask(query, deadline))


class TcpTransport(_QueryingTransport):
    """A network printer on a raw TCP port (usually 9100)."""

    kind = "tcp"

    def __init__(self, host: str, port: int = DEFAULT_TCP_PORT, timeout: float = 5.0):
        super().__init__(timeout)
        self.host = host
        self.port = port
        self._sock: socket.socket | None = None

    def open(self) -> None:
        """Connect to the printer; raise LinkError when it refuses, does not answer or cannot be found."""
        where = f"{self.host}:{self.port}"
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except ConnectionRefusedError as exc:
            raise LinkError("refused", f"connection refused by {where}") from exc
        except TimeoutError as exc:
            raise LinkError("timeout", f"no answer from {where} within {self.timeout:.1f} s") from exc
        except socket.gaierror as exc:
            raise LinkError("offline", f"cannot resolve {self.host}: {exc}") from exc
        except OSError as exc:
            raise LinkError("offline", f"cannot reach {where}: {exc}") from exc
        # Small status queries must leave at once, not wait for more data.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A small send buffer keeps "accepted by the link" close to "taken by
        # the printer": a printer that stops or drops mid-job fails the write.
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _TCP_SNDBUF)

    def _socket(self) -> socket.socket:
        """Return the open socket or raise LinkError if the link is closed."""
        if self._sock is None:
            raise LinkError("link_lost", "the link is not open")
        return self._sock

    def _send(self, data: bytes, deadline: float) -> int:
        """Send all data by the deadline; return the byte count; raise LinkError with the count sent."""
        sock = self._socket()
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LinkError(
                    "timeout", f"printer stopped taking data after {sent} of {len(data)} bytes", sent
                )
            sock.settimeout(remaining)
            try:
                sent += sock.send(view[sent : sent + 65536])
            except TimeoutError as exc:
                raise LinkError(
                    "timeout", f"printer stopped taking data after {sent} of {len(data)} bytes", sent
                ) from exc
            except OSError as exc:
                raise LinkError(
                    "link_lost", f"link dropped after {sent} of {len(data)} bytes: {exc}", sent
                ) from exc
        return sent

    def write(self, data: bytes, *, timeout: float | None = None) -> int:
        """Send data; return how many bytes the link accepted; raise LinkError on failure."""
        return self._send(data, time.monotonic() + (self.timeout if timeout is None else timeout))

    def _drain(self) -> None:
        """Discard bytes already waiting, so an old answer is not read as a new one."""
        sock = self._socket()
        sock.setblocking(False)
        try:
            while True:
                chunk = sock.recv(_CHUNK)
                if not chunk:
                    raise LinkError("link_lost", "the printer closed the connection")
        except (BlockingIOError, InterruptedError):
            pass
        except LinkError:
            raise
        except OSError as exc:
            raise LinkError("link_lost", f"link dropped: {exc}") from exc

    def _send_query(self, query: bytes, deadline: float) -> None:
        """Send a status query before the deadline."""
        # A query that cannot be sent in time is an unanswered query, not a failed job.
        self._send(query, max(deadline, time.monotonic() + 0.05))

    def _read_byte(self, deadline: float) -> int | None:
        """Return the next byte from the printer, or None if none came before the deadline."""
        sock = self._socket()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(1)
        except TimeoutError:
            return None
        except OSError as exc:
            raise LinkError("link_lost", f"link dropped: {exc}") from exc
        if not chunk:
            raise LinkError("link_lost", "the printer closed the connection")
        return chunk[0]

    def close(self) -> None:
        """Close the link; safe to call twice."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


def _serial_errors() -> tuple[type[BaseException], ...]:
    """Return the exceptions a serial port raises when the device goes away."""
    import serial

    # A vanished device shows up as EIO from read/write (SerialException or
    # OSError) or from tcflush/tcsetattr (termios.error, not an OSError).
    try:
        import termios
    except ImportError:  # Windows: pyserial raises SerialException there
        return (serial.SerialException, OSError)
    return (serial.SerialException, OSError, termios.error)


class SerialTransport(_QueryingTransport):
    """A printer on an RS-232 or USB-serial port, through pyserial."""

    kind = "serial"

    def __init__(self, path: str, baudrate: int = DEFAULT_BAUDRATE, timeout: float = 5.0):
        super().__init__(timeout)
        self.path = path
        self.baudrate = baudrate
        self._port = None

    def open(self) -> None:
        """Open the serial port; raise LinkError when the device is missing or busy."""
        import serial

        try:
            self._port = serial.Serial(
                port=self.path, baudrate=self.baudrate, timeout=0, write_timeout=self.timeout
            )
        except (*_serial_errors(), ValueError) as exc:
            raise LinkError("offline", f"cannot open serial port {self.path}: {exc}") from exc

    def _serial(self):
        """Return the open port or raise LinkError if the link is closed."""
        if self._port is None:
            raise LinkError("link_lost", "the link is not open")
        return self._port

    def _send(self, data: bytes, deadline: float) -> int:
        """Send all data by the deadline; return the byte count; raise LinkError with the count sent."""
        import serial

        port = self._serial()
        sent = 0
        # Chunks, so that a stalled printer still lets us report how much went out.
        while sent < len(data):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LinkError(
                    "timeout", f"printer stopped taking data after {sent} of {len(data)} bytes", sent
                )
            try:
                port.write_timeout = remaining
                sent += port.write(data[sent : sent + _CHUNK]) or 0
            except serial.SerialTimeoutException as exc:
                raise LinkError(
                    "timeout", f"printer stopped taking data after {sent} of {len(data)} bytes", sent
                ) from exc
            except _serial_errors() as exc:
                raise LinkError(
                    "link_lost", f"link dropped after {sent} of {len(data)} bytes: {exc}", sent
                ) from exc
        return sent

    def write(self, data: bytes, *, timeout: float | None = None) -> int:
        """Send data; return how many bytes the link accepted; raise LinkError on failure."""
        return self._send(data, time.monotonic() + (self.timeout if timeout is None else timeout))

    def _drain(self) -> None:
        """Discard bytes already waiting, so an old answer is not read as a new one."""
        try:
            self._serial().reset_input_buffer()
        except _serial_errors() as exc:
            raise LinkError("link_lost", f"link dropped: {exc}") from exc

    def _send_query(self, query: bytes, deadline: float) -> None:
        """Send a status query before the deadline."""
        self._send(query, max(deadline, time.monotonic() + 0.05))

    def _read_byte(self, deadline: float) -> int | None:
        """Return the next byte from the printer, or None if none came before the deadline."""
        port = self._serial()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        try:
            port.timeout = remaining
            chunk = port.read(1)
        except _serial_errors() as exc:
            raise LinkError("link_lost", f"link dropped: {exc}") from exc
        return chunk[0] if chunk else None

    def close(self) -> None:
        """Close the link; safe to call twice."""
        if self._port is not None:
            try:
                self._port.close()
            except _serial_errors():
                pass
            finally:
                self._port = None


class UsbTransport(Transport):
    """A printer on USB (vendor class), through python-escpos and pyusb."""

    kind = "usb"
    # Many USB printers do not expose their answers on the IN endpoint; status
    # is tried, and anything but a clean answer is `unknown`.
    can_answer = True

    def __init__(self, vendor_id: int, product_id: int, timeout: float = 5.0):
        super().__init__(timeout)
        self.vendor_id = vendor_id
        self.product_id = product_id
        self._printer = None

    def open(self) -> None:
        """Find and claim the USB printer; raise LinkError when it is absent or USB support is missing."""
        from escpos.printer import Usb  # pyusb is optional: only USB kiosks need it

        if not Usb.is_usable():
            raise LinkError("offline", "USB printing needs pyusb (pip install 'python-escpos[usb]')")
        printer = Usb(self.vendor_id, self.product_id, timeout=int(self.timeout * 1000))
        try:
            printer.open(raise_not_found=True)
        except Exception as exc:  # escpos wraps every USB failure differently
            raise LinkError(
                "offline", f"USB printer {self.vendor_id:04x}:{self.product_id:04x} not found: {exc}"
            ) from exc
        self._printer = printer

    def write(self, data: bytes, *, timeout: float | None = None) -> int:
        """Send data; return how many bytes the link accepted; raise LinkError on failure."""
        import usb.core

        if self._printer is None:
            raise LinkError("link_lost", "the link is not open")
        ms = max(1, int((self.timeout if timeout is None else timeout) * 1000))
        sent = 0
        try:
            while sent < len(data):
                sent += self._printer.device.write(self._printer.out_ep, data[sent : sent + _CHUNK], ms)
        except usb.core.USBTimeoutError as exc:
            raise LinkError(
                "timeout", f"printer stopped taking data after {sent} of {len(data)} bytes", sent
            ) from exc
        except usb.core.USBError as exc:
            raise LinkError(
                "link_lost", f"link dropped after {sent} of {len(data)} bytes: {exc}", sent
            ) from exc
        return sent

    def status(self, timeout: float = 1.0) -> PrinterStatus:
        """Return the printer's status, `unknown` when it does not answer within timeout."""
        if self._printer is None:
            return PrinterStatus.UNKNOWN
        ms = max(1, int(timeout * 250))
        device = self._printer.device

        def ask(query: bytes) -> int | None:
            device.write(self._printer.out_ep, query, ms)
            data = bytes(device.read(self._printer.in_ep, 16, ms))
            return data[-1] if data and is_status_answer(data[-1]) else None

        try:
            return ask_status(ask)
        except Exception:  # any USB hiccup while asking means "did not answer"
            return PrinterStatus.UNKNOWN

    def close(self) -> None:
        """Close the link; safe to call twice."""
        if self._printer is not None:
            try:
                self._printer.close()
            finally:
                self._printer = None


class FileTransport(Transport):
    """A printer device file (e.g. /dev/usb/lp0) or a plain file; one-way, so status is unknown."""

    kind = "file"

    def __init__(self, path: str, timeout: float = 5.0):
        super().__init__(timeout)
        self.path = path
        self._fd: int | None = None

    def open(self) -> None:
        """Open the file for writing; raise LinkError when it cannot be opened."""
        try:
            # Non-blocking, so a printer that stops taking data cannot hang the kiosk.
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK, 0o644)
        except OSError as exc:
            raise LinkError("offline", f"cannot open {self.path}: {exc}") from exc

    def write(self, data: bytes, *, timeout: float | None = None) -> int:
        """Send data; return how many bytes the link accepted; raise LinkError on failure."""
        if self._fd is None:
            raise LinkError("link_lost", "the link is not open")
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        sent = 0
        while sent < len(data):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LinkError(
                    "timeout", f"printer stopped taking data after {sent} of {len(data)} bytes", sent
                )
            try:
                sent += os.write(self._fd, data[sent : sent + 65536])
            except BlockingIOError:
                select.select([], [self._fd], [], remaining)
            except OSError as exc:
                code = "offline" if exc.errno in (errno.ENODEV, errno.ENXIO) else "link_lost"
                raise LinkError(code, f"write to {self.path} failed after {sent} bytes: {exc}", sent) from exc
        return sent

    def close(self) -> None:
        """Close the link; safe to call twice."""
        if self._fd is not None:
            try:
                os.close(self._fd)
            finally:
                self._fd = None


_SAFE_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_job_id(job_id: str) -> str:
    """Return job_id if it is safe as a file name, else raise ValueError."""
    if not isinstance(job_id, str) or not _SAFE_JOB_ID.fullmatch(job_id):
        raise ValueError(
            f"Invalid job id {job_id!r}: use letters, digits, '.', '_' or '-' "
            "(up to 128, not starting with '.')"
        )
    return job_id


class VirtualPrinter(Transport):
    """A printer that keeps each job as `<job_id>.bin` and `<job_id>.png` in a directory."""

    kind = "virtual"
    can_answer = True

    def __init__(self, directory: str, timeout: float = 5.0):
        super().__init__(timeout)
        self.directory = directory
        self._job_id: str | None = None
        self._png: bytes | None = None

    def open(self) -> None:
        """Create the directory if needed; raise LinkError when it cannot be created."""
        try:
            os.makedirs(self.directory, exist_ok=True)
        except OSError as exc:
            raise LinkError("offline", f"cannot create {self.directory}: {exc}") from exc

    def begin_job(self, job_id: str, png: bytes | None = None) -> None:
        """Name the job about to be written and keep its PNG preview."""
        self._job_id = check_job_id(job_id)
        self._png = png

    def _store(self, name: str, data: bytes) -> None:
        """Write one file so that readers never see it half written."""
        final = os.path.join(self.directory, name)
        partial = f"{final}.partial"
        with open(partial, "wb") as out:
            out.write(data)
        os.replace(partial, final)

    def write(self, data: bytes, *, timeout: float | None = None) -> int:
        """Store the job's bytes (and preview, if given) and return the byte count."""
        job_id = self._job_id or uuid.uuid4().hex
        try:
            if self._png is not None:
                self._store(f"{job_id}.png", self._png)
            self._store(f"{job_id}.bin", data)
        except OSError as exc:
            raise LinkError("link_lost", f"cannot store job {job_id} in {self.directory}: {exc}") from exc
        self._job_id = None
        self._png = None
        return len(data)

    def status(self, timeout: float = 1.0) -> PrinterStatus:
        """Return ok: a virtual printer never runs out of paper."""
        return PrinterStatus.OK


def open_transport(spec: PrinterSpec, *, timeout: float = 5.0, virtual_dir: str | None = None) -> Transport:
    """Return an unopened transport for a spec; raise ValueError for `none` or a folderless virtual one."""
    if spec.kind == "tcp":
        return TcpTransport(spec.host, spec.port, timeout=timeout)
    if spec.kind == "serial":
        return SerialTransport(spec.path, spec.baudrate, timeout=timeout)
    if spec.kind == "usb":
        return UsbTransport(spec.vendor_id, spec.product_id, timeout=timeout)
    if spec.kind == "file":
        return FileTransport(spec.path, timeout=timeout)
    if spec.kind == "virtual":
        directory = virtual_dir or spec.path
        if not directory:
            raise ValueError("A virtual printer needs a directory (virtual:DIR or virtual_dir=...)")
        return VirtualPrinter(directory, timeout=timeout)
    raise ValueError(f"No printer configured (spec {spec})")
