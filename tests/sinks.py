"""Real servers on loopback for delivery tests: an SMTP server (aiosmtpd), an SMS webhook that honours
`Idempotency-Key` like a provider would, and a server that accepts connections and never answers."""

import json
import socket
import threading
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MailSink:
    """`messages` holds every email.message.Message the server accepted."""

    def __init__(self):
        self.messages = []
        self.received = threading.Condition()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        with self.received:
            self.messages.append(message_from_bytes(envelope.content))
            self.received.notify_all()
        return "250 OK queued"

    def wait_for(self, count: int, timeout: float = 30) -> list:
        with self.received:
            self.received.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
        return self.messages

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


class WebhookSink:
    """An SMS gateway: `delivered` holds each message once per Idempotency-Key (what the phone gets),
    `requests` every request as it came. `hold_when(predicate)` keeps matching requests unanswered until
    `release()`, to stop a worker mid-send."""

    def __init__(self, status: int = 200):
        self.status = status
        self.requests: list[dict] = []
        self.delivered: list[dict] = []
        self.changed = threading.Condition()
        self.hold = None
        self.released = threading.Event()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                request = {
                    "key": self.headers.get("Idempotency-Key"),
                    "auth": self.headers.get("Authorization"),
                    **body,
                }
                with sink.changed:
                    sink.requests.append(request)
                    if not any(seen["key"] == request["key"] for seen in sink.delivered) or not request["key"]:
                        sink.delivered.append(request)
                    sink.changed.notify_all()
                if sink.hold and sink.hold(request):
                    sink.released.wait(timeout=60)
                try:
                    self.send_response(sink.status)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"accepted": true}')
                except OSError:
                    pass  # the worker that asked is gone

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/sms"

    def wait(self, predicate, timeout: float = 60) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self), timeout=timeout)

    def release(self) -> None:
        self.released.set()

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.release()
        self.server.shutdown()
        self.server.server_close()


class Stalled:
    """Accepts TCP connections and never answers, like a hung SMTP server or SMS gateway."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/sms"
        self.connections = []
        self.stopping = False

    def _accept(self):
        while not self.stopping:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)

    def __enter__(self):
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.stopping = True
        for connection in self.connections:
            connection.close()
        self.listener.close()
