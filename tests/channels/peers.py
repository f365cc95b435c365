"""Real peers for the notification stories: an SMTP server and an HTTP receiver on loopback."""

import http.server
import queue
import threading

from tests.conftest import free_port


class MailServer:
    """aiosmtpd on 127.0.0.1: every message it receives lands in ``inbox`` (a queue)."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.inbox: queue.Queue = queue.Queue()
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                from email import message_from_bytes, policy

                outer.inbox.put((envelope.rcpt_tos, message_from_bytes(envelope.content,
                                                                        policy=policy.default)))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    def next(self, timeout: float = 10.0):
        """Return the next message received (recipients, message), waiting for it."""
        return self.inbox.get(timeout=timeout)


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records each POST; it can refuse the first ones."""

    def __init__(self, fail_first: int = 0):
        self.received: queue.Queue = queue.Queue()
        self.fail_left = fail_first
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.fail_left > 0:
                    outer.fail_left -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                outer.received.put((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
