"""Test support for webhooks: a real receiver on 127.0.0.1 whose answers follow a plan.

The plan decides, per event id and try, whether the receiver accepts (``ok``), answers 500
(``fail``) or answers only after the sender's timeout (``slow``). Accepted events go through
the real :class:`~robot.crm.sink.EventSink` (signature check, dedupe by id).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from models.transactions import session_scope
from models.webhook import WebhookEndpoint
from robot.config import WebhookSettings
from robot.crm.sink import EventSink, SinkRequestHandler
from robot.dialler.campaigns import get_or_create_tenant

SECRET = "whsec_test_secret_0123456789"
FAST = WebhookSettings(
    timeout_s=0.3,
    retry_for_s=3600,
    backoff_base_s=0.02,
    backoff_max_s=0.1,
    max_in_flight=16,
    poll_interval_s=0.02,
)


@dataclass
class FlakyReceiver:
    """A real receiver whose answer to each try of each event follows ``plan``."""

    plan: Callable[[str, int], str] = lambda _event_id, _try: "ok"
    slow_s: float = 0.8
    tries: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    #: Event ids in the order the receiver first accepted them.
    accepted: list[str] = field(default_factory=list)
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.sink = EventSink(SECRET, on_event=self._on_event)

    def _on_event(self, event: dict[str, Any]) -> None:
        self.accepted.append(event["id"])
        self.events[event["id"]] = event

    def handler(self) -> type[SinkRequestHandler]:
        receiver = self

        class Handler(SinkRequestHandler):
            def do_POST(self) -> None:
                event_id = self.headers.get("Callrobot-Event-Id", "")
                with receiver.lock:
                    receiver.requests += 1
                    receiver.tries[event_id] += 1
                    action = receiver.plan(event_id, receiver.tries[event_id])
                if action == "fail":
                    self.rfile.read(int(self.headers.get("Content-Length") or 0))
                    self.respond(500, "failing on purpose")
                    return
                if action == "slow":
                    time.sleep(receiver.slow_s)  # longer than the sender's timeout
                super().do_POST()

        return Handler


def add_endpoint(engine: Engine, url: str, tenant: str = "acme", **extra: Any) -> tuple[int, int]:
    tenant_id = get_or_create_tenant(engine, tenant)
    with session_scope(engine) as session:
        endpoint = WebhookEndpoint(tenant_id=tenant_id, url=url, secret=SECRET, **extra)
        session.add(endpoint)
        session.flush()
        assert endpoint.id is not None
        return tenant_id, endpoint.id
