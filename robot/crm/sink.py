"""A small webhook receiver for integrators and demos (``callrobot crm-sink``).

It verifies ``Callrobot-Signature`` (refusing stale timestamps), answers duplicates of an
event id it has already accepted with 200 without passing them on (deliveries are
at-least-once), and hands every new event to a callback.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from robot.crm.signing import (
    DEFAULT_TOLERANCE_S,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    SignatureError,
    verify_signature,
)

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 5_000_000


@dataclass
class EventSink:
    """What the receiver does with a request, independent of HTTP."""

    secret: str
    on_event: Callable[[dict[str, Any]], None] = lambda _event: None
    tolerance_s: float = DEFAULT_TOLERANCE_S
    seen: set[str] = field(default_factory=set)
    duplicates: int = 0
    rejected: int = 0
    #: Requests whose body ended before its Content-Length (the sender died while sending).
    incomplete: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def accept(self, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """``(HTTP status, message)`` for one POSTed event."""
        try:
            verify_signature(
                self.secret,
                body,
                headers.get(SIGNATURE_HEADER.lower()),
                tolerance_s=self.tolerance_s,
            )
        except SignatureError as e:
            with self._lock:
                self.rejected += 1
            return 401, str(e)
        try:
            event = json.loads(body)
            event_id = str(event["id"])
        except (ValueError, KeyError, TypeError):
            return 400, "body: expected a JSON event with an id"
        header_id = headers.get(EVENT_ID_HEADER.lower())
        if header_id is not None and header_id != event_id:
            return 400, f"{EVENT_ID_HEADER} does not match the body's id"
        with self._lock:
            if event_id in self.seen:
                self.duplicates += 1
                return 200, "duplicate"
            self.seen.add(event_id)
        self.on_event(event)
        return 200, "ok"


class SinkRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: Answer at once instead of waiting for the sender's delayed ACK (keep-alive).
    disable_nagle_algorithm = True
    server: SinkServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.respond(413, "body too large")
            return
        body = self.rfile.read(length)
        if len(body) < length:
            # The sender went away mid-request (a process killed while sending): nothing was
            # delivered, and it is no forgery either; the sender retries the event.
            with self.server.sink._lock:
                self.server.sink.incomplete += 1
            self.close_connection = True
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, message = self.server.sink.accept(body, headers)
        self.respond(status, message)

    def respond(self, status: int, message: str) -> None:
        payload = json.dumps({"status": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class SinkServer(ThreadingHTTPServer):
    daemon_threads = True
    #: Senders open many connections at once; the default backlog of 5 resets them.
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        sink: EventSink,
        handler: type[BaseHTTPRequestHandler] = SinkRequestHandler,
    ) -> None:
        super().__init__(address, handler)
        self.sink = sink

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A sender that gave up (timed out) closes its socket: not worth a traceback.
        logger.debug("request from %s failed", client_address, exc_info=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/"
