"""Hostile HTTP servers on 127.0.0.1: they trickle, flood, or answer absurdly deep JSON."""

from __future__ import annotations

import contextlib
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: Seconds between trickled bytes; the server gives up after TRICKLE_BYTES of them.
TRICKLE_EVERY_S = 0.2
TRICKLE_BYTES = 600


class _Handler(socketserver.BaseRequestHandler):
    mode = "ok"

    def handle(self) -> None:
        self._read_request()
        with contextlib.suppress(OSError):  # the client gave up: what the attacks expect
            getattr(self, f"_{self.server.mode}")()  # type: ignore[attr-defined]

    def _read_request(self) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        while len(rest) < length:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            rest += chunk

    def _send(self, body: bytes, content_type: bytes = b"application/json") -> None:
        self.request.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: "
            + content_type
            + b"\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

    def _trickle_body(self) -> None:
        self.request.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
        )
        for _ in range(TRICKLE_BYTES):
            self.request.sendall(b" ")
            time.sleep(TRICKLE_EVERY_S)

    def _trickle_headers(self) -> None:
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * TRICKLE_BYTES:
            self.request.sendall(bytes([byte]))
            time.sleep(TRICKLE_EVERY_S)

    def _deep_json(self) -> None:
        self._send(b'{"intent": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")

    def _flood(self) -> None:
        self.request.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        piece = b"x" * 65536
        for _ in range(2000):  # 128 MB if nobody stops reading
            self.request.sendall(b"10000\r\n" + piece + b"\r\n")

    def _ok(self) -> None:
        self._send(b'{"intent": {"name": "affirm", "confidence": 0.9}, "entities": []}')


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def hostile_server(mode: str) -> Iterator[str]:
    """A server answering every request in ``mode``; yields its base URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.mode = mode  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
