"""Standard Webhooks signatures: real deliveries to a real receiver, verified with the
``standardwebhooks`` package the way a CRM would, next to ``Callrobot-Signature``."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from models.transactions import session_scope, write_transaction
from models.webhook import WebhookEndpoint
from robot.config import Settings
from robot.crm.delivery import DeliveryWorker
from robot.crm.outbox import enqueue_event
from robot.crm.signing import new_secret, standard_key, verify_signature
from robot.crm.sink import EventSink, SinkRequestHandler, SinkServer
from robot.dialler.campaigns import get_or_create_tenant
from robot.errors import ValidationError

from fixtures.api_harness import ApiHarness, open_api
from fixtures.database import FreshDatabase, open_fresh_database
from fixtures.webhook_receiver import FAST


class RecordingReceiver:
    """A real receiver that keeps each request's headers and exact body, then answers
    through :class:`EventSink` (which checks ``Callrobot-Signature``)."""

    def __init__(self, secret: str) -> None:
        self.sink = EventSink(secret)
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()

    def handler(self) -> type[SinkRequestHandler]:
        receiver = self

        class Handler(SinkRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    receiver.requests.append((headers, body))
                status, message = receiver.sink.accept(body, headers)
                self.respond(status, message)

        return Handler


@pytest.fixture
def db(tmp_path: Path) -> Iterator[FreshDatabase]:
    yield from open_fresh_database("sqlite", tmp_path)


def serve(receiver: RecordingReceiver) -> tuple[SinkServer, threading.Thread]:
    server = SinkServer(("127.0.0.1", 0), receiver.sink, receiver.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


async def test_opted_in_endpoints_get_standard_webhooks_headers_others_do_not(
    db: FreshDatabase,
) -> None:
    secret = new_secret()
    standard, plain = RecordingReceiver(secret), RecordingReceiver(secret)
    servers = [serve(standard), serve(plain)]
    try:
        tenant_id = get_or_create_tenant(db.engine, "acme")
        with session_scope(db.engine) as session:
            for (server, _thread), opted_in in zip(servers, (True, False), strict=True):
                session.add(
                    WebhookEndpoint(
                        tenant_id=tenant_id,
                        url=server.url,
                        secret=secret,
                        standard_webhooks=opted_in,
                    )
                )
        for n in range(3):
            with write_transaction(db.engine) as conn:
                enqueue_event(
                    conn,
                    tenant_id=tenant_id,
                    event_type="call.completed",
                    data={"n": n, "text": "é"},
                    ordering_key="lead:1",
                )
        await asyncio.wait_for(
            DeliveryWorker(db.engine, FAST, allow_private=True).run(until_idle=True), 30
        )
    finally:
        for server, thread in servers:
            server.shutdown()
            server.server_close()
            thread.join()

    verifier = Webhook(secret)
    assert len(standard.requests) == len(plain.requests) == 3
    for headers, body in standard.requests:
        event = json.loads(body)
        # What a receiver using the Standard Webhooks library does: verify, then parse.
        assert verifier.verify(body, headers) == event
        assert headers["webhook-id"] == headers["callrobot-event-id"] == event["id"]
        timestamp = verify_signature(secret, body, headers["callrobot-signature"])
        assert headers["webhook-timestamp"] == str(timestamp)
        # One changed byte, another secret, or a changed id: refused.
        with pytest.raises(WebhookVerificationError):
            verifier.verify(body.replace(b'"n"', b'"m"'), headers)
        with pytest.raises(WebhookVerificationError):
            Webhook(new_secret()).verify(body, headers)
        with pytest.raises(WebhookVerificationError):
            verifier.verify(body, {**headers, "webhook-id": "evt_other"})
    for headers, _body in plain.requests:
        assert not any(name.startswith("webhook-") for name in headers)
        assert "callrobot-signature" in headers
    assert len(standard.sink.seen) == len(plain.sink.seen) == 3


def test_standard_secrets_must_be_whsec_base64() -> None:
    assert len(standard_key(new_secret())) == 32
    for bad in ("whsec_test_secret_0123456789", "whsec_" + "A" * 10, "whsec_!!!!"):
        with pytest.raises(ValidationError, match="secret"):
            standard_key(bad)


@pytest.fixture
def api(db: FreshDatabase, isolated_settings: Settings) -> Iterator[ApiHarness]:
    yield from open_api(db.engine, isolated_settings)


def test_api_opt_in_checks_the_secret_and_shows_the_field(api: ApiHarness) -> None:
    url = "http://127.0.0.1:9/hooks"
    made = api.request("POST", "/v1/webhooks", json={"url": url, "standard_webhooks": True})
    assert made.status_code == 201, made.text
    assert made.json()["standard_webhooks"] is True
    assert len(standard_key(made.json()["secret"])) == 32  # generated secrets suit both schemes

    refused = api.request(
        "POST",
        "/v1/webhooks",
        json={"url": url, "standard_webhooks": True, "secret": "not-base64-but-long-enough!"},
    )
    assert refused.status_code == 422
    assert "secret" in refused.json()["detail"]

    legacy = api.request(
        "POST", "/v1/webhooks", json={"url": url, "secret": "plain_secret_not_base64!"}
    ).json()
    assert legacy["standard_webhooks"] is False
    turned_on = api.request(
        "PATCH", f"/v1/webhooks/{legacy['id']}", json={"standard_webhooks": True}
    )
    assert turned_on.status_code == 422
    assert "standard_webhooks" in turned_on.json()["detail"]
    again = api.request(
        "PATCH", f"/v1/webhooks/{made.json()['id']}", json={"standard_webhooks": False}
    )
    assert again.json()["standard_webhooks"] is False
