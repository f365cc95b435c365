"""Fake ESC/POS printers on real links: a TCP server and the far end of a socat pty pair.

Both keep every byte they receive and answer DLE EOT status queries the way a
printer does; both can be made silent, out of paper, near the end of the
roll, offline, or drop the link after N bytes. Tests wait on their events,
never on the clock.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
import uuid
from collections.abc import Callable

import serial

PAPER_OK = 0x12
PAPER_NEAR_END = 0x1E
PAPER_OUT = 0x72
PRINTER_ONLINE = 0x16
PRINTER_OFFLINE = 0x1E  # bit 3 set

# Like a real printer's small input buffer; it also keeps a ticket with image
# data from fitting in the socket buffers, so a drop after N bytes happens
# while the client is still writing.
_RCVBUF = 2048


class StatusResponder:
    """Finds DLE EOT n in a byte stream, even split across reads, and returns the printer's answers."""

    def __init__(self, printer: FakePrinterState):
        self.printer = printer
        self._tail = b""
        self.queries: list[int] = []

    def feed(self, chunk: bytes) -> bytes:
        """Return the answers owed for the queries that end in chunk."""
        data = self._tail + chunk
        answers = bytearray()
        for i in range(len(data) - 2):
            # Only queries whose last byte is new: the tail was scanned before.
            if data[i] == 0x10 and data[i + 1] == 0x04 and i + 2 >= len(self._tail):
                n = data[i + 2]
                self.queries.append(n)
                answer = self.printer.answer(n)
                if answer is not None:
                    answers.append(answer)
        self._tail = data[-2:]
        return bytes(answers)


class FakePrinterState:
    """The condition a fake printer is in: paper, online, silent, and when to drop the link."""

    def __init__(
        self,
        *,
        paper: int = PAPER_OK,
        online: bool = True,
        silent: bool = False,
        drop_after: int | None = None,
        cover_open: bool = False,
        cutter_error: bool = False,
    ):
        self.paper = paper
        self.online = online
        self.silent = silent
        self.drop_after = drop_after
        self.cover_open = cover_open
        self.cutter_error = cutter_error

    def configure(self, **changes) -> None:
        """Change the printer's condition (paper, online, silent, drop_after)."""
        for name, value in changes.items():
            if not hasattr(self, name):
                raise AttributeError(name)
            setattr(self, name, value)

    def answer(self, n: int) -> int | None:
        """Return the answer byte to DLE EOT n, or None if the printer stays silent."""
        if self.silent:
            return None
        stopped = not self.online or self.cover_open or self.cutter_error
        if n == 1:
            return PRINTER_OFFLINE if stopped else PRINTER_ONLINE
        if n == 2:  # offline cause: cover open (bit 2), an error occurred (bit 6)
            return 0x12 | (0x04 if self.cover_open else 0) | (0x40 if self.cutter_error else 0)
        if n == 3:  # error cause: autocutter error (bit 3)
            return 0x12 | (0x08 if self.cutter_error else 0)
        if n == 4:
            return self.paper
        return None


class Connection:
    """The bytes one TCP client sent, and how the connection ended."""

    def __init__(self, state: FakePrinterState):
        self.data = bytearray()
        self.responder = StatusResponder(state)
        self.dropped = False
        self.finished = False


class TcpFakePrinter(FakePrinterState):
    """A raw-TCP printer on 127.0.0.1 (port 0) that records each connection's bytes."""

    def __init__(self, *, refuse: bool = False, stall: bool = False, **state):
        super().__init__(**state)
        self.connections: list[Connection] = []
        self._changed = threading.Condition()
        self._refusing: socket.socket | None = None
        self._stalling: socket.socket | None = None
        self._server: socketserver.ThreadingTCPServer | None = None
        self._thread: threading.Thread | None = None
        #: Connections are refused (nothing listens on the port).
        self.refuse = refuse
        #: Connections are accepted by the kernel but no byte is ever read,
        #: like a printer whose buffer is full and never empties.
        self.stall = stall

    # -- life cycle --

    def start(self) -> TcpFakePrinter:
        """Start listening in a background thread."""
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                """Serve one client connection."""
                fake._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

            def server_bind(self) -> None:
                """Bind with a printer-sized receive buffer."""
                # Set before listen() so accepted sockets inherit it.
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
                super().server_bind()

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        # A bound socket that never listens: connecting to its port is refused,
        # and holding it keeps the port from being reused meanwhile.
        self._refusing = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._refusing.bind(("127.0.0.1", 0))
        self._stalling = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._stalling.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        self._stalling.bind(("127.0.0.1", 0))
        self._stalling.listen(1)
        return self

    def stop(self) -> None:
        """Stop the server and release its ports."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for sock in (self._refusing, self._stalling):
            if sock is not None:
                sock.close()

    @property
    def port(self) -> int:
        """Return the port clients should connect to (a refusing or stalling one in those modes)."""
        sock = self._refusing if self.refuse else self._stalling if self.stall else self._server.socket
        return sock.getsockname()[1]

    @property
    def spec(self) -> str:
        """Return the printer spec that reaches this fake."""
        return f"tcp:127.0.0.1:{self.port}"

    # -- serving --

    def _serve(self, sock: socket.socket) -> None:
        """Collect one connection's bytes, answering status queries, until it closes or drops."""
        conn = Connection(self)
        with self._changed:
            self.connections.append(conn)
            self._changed.notify_all()
        try:
            while True:
                limit = 4096
                if self.drop_after is not None:
                    limit = min(limit, self.drop_after - len(conn.data))
                    if limit <= 0:
                        conn.dropped = True
                        # Close with a reset, as a printer that loses power or
                        # reboots mid-job leaves the client's writes failing.
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        sock.close()
                        break
                chunk = sock.recv(limit)
                if not chunk:
                    break
                with self._changed:
                    conn.data += chunk
                    self._changed.notify_all()
                reply = conn.responder.feed(chunk)
                if reply:
                    sock.sendall(reply)
        except OSError:
            pass
        finally:
            with self._changed:
                conn.finished = True
                self._changed.notify_all()

    # -- waiting --

    def wait_for_connections(self, count: int = 1, timeout: float = 5.0) -> list[Connection]:
        """Return the first `count` connections once all of them have ended; fail after timeout."""

        def ready() -> bool:
            return len(self.connections) >= count and all(c.finished for c in self.connections[:count])

        with self._changed:
            if not self._changed.wait_for(ready, timeout):
                raise AssertionError(
                    f"expected {count} finished connection(s) within {timeout} s, got "
                    f"{sum(c.finished for c in self.connections)} of {len(self.connections)}"
                )
            return list(self.connections[:count])

    def settle(self, connections: int = 1, timeout: float = 5.0) -> bytes:
        """Return every byte received once `connections` connections have ended."""
        return b"".join(bytes(c.data) for c in self.wait_for_connections(connections, timeout))

    @property
    def queries(self) -> list[int]:
        """Return the DLE EOT queries received, in order, over all connections."""
        return [n for c in self.connections for n in c.responder.queries]


class SerialFakePrinter(FakePrinterState):
    """The printer end of a pty pair: reads with pyserial, records bytes, answers status queries."""

    def __init__(
        self, printer_path: str, host_path: str, *, on_drop: Callable[[], None] | None = None, **state
    ):
        super().__init__(**state)
        self.printer_path = printer_path
        self.host_path = host_path
        self.on_drop = on_drop
        self.received = bytearray()
        self.dropped = threading.Event()
        self._changed = threading.Condition()
        self._responder = StatusResponder(self)
        self._stop = threading.Event()
        self._port: serial.Serial | None = None
        self._thread: threading.Thread | None = None

    @property
    def spec(self) -> str:
        """Return the printer spec that reaches this fake."""
        return f"serial:{self.host_path}"

    @property
    def queries(self) -> list[int]:
        """Return the DLE EOT queries received, in order."""
        return list(self._responder.queries)

    def start(self) -> SerialFakePrinter:
        """Open the printer end and start reading in a background thread."""
        # The read timeout only bounds how long stop() waits for the thread.
        self._port = serial.Serial(self.printer_path, timeout=0.05)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop reading and close the printer end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._port is not None:
            self._port.close()

    def _run(self) -> None:
        """Collect bytes and answer queries until stopped or the link drops."""
        try:
            while not self._stop.is_set():
                limit = 4096
                if self.drop_after is not None:
                    limit = min(limit, self.drop_after - len(self.received))
                    if limit <= 0:
                        if self.on_drop is not None:
                            self.on_drop()
                        self.dropped.set()
                        return
                # One byte blocks until data arrives; then take what is waiting,
                # so answers are not held back by the read timeout.
                chunk = self._port.read(1)
                if not chunk:
                    continue
                chunk += self._port.read(min(self._port.in_waiting, limit - 1))
                with self._changed:
                    self.received += chunk
                    self._changed.notify_all()
                reply = self._responder.feed(chunk)
                if reply:
                    self._port.write(reply)
        except (serial.SerialException, OSError):
            self.dropped.set()

    def settle(self, connections: int = 1, timeout: float = 5.0) -> bytes:
        """Return every byte received from links already closed, using a marker sent after them."""
        # A pty has no end-of-job; bytes travel in order, so once a marker
        # written now arrives, everything written before it has arrived too.
        marker = f"<<settle {uuid.uuid4().hex}>>".encode()
        with serial.Serial(self.host_path, timeout=0, write_timeout=timeout) as host:
            host.write(marker)
        with self._changed:
            if not self._changed.wait_for(lambda: marker in self.received, timeout):
                raise AssertionError(f"serial fake did not receive the settle marker within {timeout} s")
            before, _, after = bytes(self.received).partition(marker)
            self.received[:] = before + after
            return before
