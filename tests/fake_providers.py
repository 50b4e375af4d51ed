"""A local SendGrid v3 stand-in on 127.0.0.1 for the crash tests and the delivery benchmark.

It answers `POST /v3/mail/send` like SendGrid (202, empty body, an `X-Message-Id`; 401 without
the bearer key; 400 for a body that is not JSON), after `latency` seconds, from a thread per
request. `down = True` makes it answer 503 (an outage). It records the `custom_args.outbox_ref`
of every accepted request: SendGrid itself has no idempotency key, so a second request with one
ref is a second email to the customer, and `duplicates` counts them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeSendGrid:
    def __init__(self, *, api_key: str, latency: float = 0.05):
        self.api_key, self.latency = api_key, latency
        self.down = False
        self.refs: list[str] = []
        self.refused = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeSendGrid:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def delivered(self) -> set[str]:
        with self._lock:
            return set(self.refs)

    def duplicates(self) -> int:
        """Requests beyond the first for one outbox ref (each a second email at SendGrid)."""
        with self._lock:
            return sum(n - 1 for n in Counter(self.refs).values())

    def accepted(self) -> int:
        with self._lock:
            return len(self.refs)

    def _record(self, ref: str) -> None:
        with self._lock:
            self.refs.append(ref)

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet: the test output stays readable
                pass

            def _answer(self, status: int, body: dict | None = None, headers=()) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                if data:
                    self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                time.sleep(fake.latency)
                if self.path != "/v3/mail/send":
                    return self._answer(404, {"errors": [{"message": "not found"}]})
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    return self._answer(401, {"errors": [{"message": "unauthorized"}]})
                if fake.down:
                    with fake._lock:
                        fake.refused += 1
                    return self._answer(503, {"errors": [{"message": "service unavailable"}]})
                try:
                    ref = json.loads(raw)["custom_args"]["outbox_ref"]
                except (ValueError, KeyError, TypeError):
                    return self._answer(400, {"errors": [{"message": "bad request body"}]})
                fake._record(ref)
                self._answer(202, headers=[("X-Message-Id", uuid.uuid4().hex[:22])])

        return Handler
