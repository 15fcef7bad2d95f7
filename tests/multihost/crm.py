"""The CRM: a real HTTP receiver on 127.0.0.1 that verifies signatures and de-duplicates by
event id (:class:`robot.crm.sink.EventSink`), counts every request, and can be taken down and
brought back on the same port (its record of seen ids lives on, as a CRM's database would)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter
from typing import Any

from robot.crm.sink import EventSink, SinkRequestHandler, SinkServer


class Crm:
    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        #: Every event accepted, once per id, in the order first accepted.
        self.events: list[dict[str, Any]] = []
        #: POSTs per event id (duplicates included).
        self.requests: Counter[str] = Counter()
        self.sink = EventSink(secret, on_event=self.events.append)
        self._lock = threading.Lock()
        self._server: SinkServer | None = None
        self._thread: threading.Thread | None = None
        self._open: set[socket.socket] = set()
        self.answering = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def _handler(self) -> type[SinkRequestHandler]:
        crm = self

        class Handler(SinkRequestHandler):
            def setup(self) -> None:
                super().setup()
                with crm._lock:
                    crm._open.add(self.connection)

            def finish(self) -> None:
                with crm._lock:
                    crm._open.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                if not crm.answering:  # went down while this connection was open
                    self.close_connection = True
                    return
                with crm._lock:
                    crm.requests[self.headers.get("Callrobot-Event-Id", "")] += 1
                super().do_POST()

        return Handler

    def up(self) -> None:
        self.answering = True
        server = SinkServer(("127.0.0.1", self.port), self.sink, self._handler())
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stop answering: the port is closed (senders get connection refused) and open
        connections are cut."""
        self.answering = False
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            open_now = list(self._open)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
