"""Webhook delivery to a real HTTP receiver on 127.0.0.1 that fails, times out and recovers."""

from __future__ import annotations

import asyncio
import json
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from models.transactions import write_transaction
from models.types import utc_now
from models.webhook import WebhookAttempt, WebhookDelivery
from robot.crm.delivery import LEASE_MARGIN_S, DeliveryWorker
from robot.crm.outbox import enqueue_event

from fixtures.database import BACKENDS, FreshDatabase, open_fresh_database
from fixtures.webhook_receiver import (
    FAST,
    STALL_TIMEOUT_S,
    FlakyReceiver,
    add_endpoint,
    serve_receiver,
)


@pytest.fixture
def receiver() -> Iterator[tuple[FlakyReceiver, str]]:
    flaky = FlakyReceiver()
    with serve_receiver(flaky) as url:
        yield flaky, url


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FreshDatabase]:
    yield from open_fresh_database(request.param, tmp_path)


def queue_lead_events(engine: Engine, tenant_id: int, leads: int, per_lead: int) -> list[str]:
    """Events for several leads, interleaved as a dialler would produce them."""
    ids = []
    for n in range(per_lead):
        for lead in range(1, leads + 1):
            with write_transaction(engine) as conn:
                ids.append(
                    enqueue_event(
                        conn,
                        tenant_id=tenant_id,
                        event_type="call.completed",
                        data={"lead": lead, "n": n},
                        ordering_key=f"lead:{lead}",
                    )
                )
    return ids


def bucket(event_id: str) -> int:
    return zlib.crc32(event_id.encode()) % 10


def flaky_plan(event_id: str, attempt: int) -> str:
    """Some events fail once, some time out once, some fail twice; the rest go through."""
    b = bucket(event_id)
    if b in (0, 1) and attempt == 1:
        return "fail"
    if b == 2 and attempt == 1:
        return "slow"
    if b == 3 and attempt <= 2:
        return "fail"
    return "ok"


def assert_in_order_per_lead(flaky: FlakyReceiver, queued: list[str]) -> None:
    position = {event_id: i for i, event_id in enumerate(queued)}
    by_lead: dict[int, list[str]] = defaultdict(list)
    for event_id in flaky.accepted:
        by_lead[flaky.events[event_id]["data"]["lead"]].append(event_id)
    for lead, ids in by_lead.items():
        assert ids == sorted(ids, key=position.__getitem__), f"lead {lead} out of order"


async def test_every_event_arrives_once_in_order_despite_failures_and_timeouts(
    db: FreshDatabase, receiver: tuple[FlakyReceiver, str]
) -> None:
    flaky, url = receiver
    flaky.plan = flaky_plan
    tenant_id, _ = add_endpoint(db.engine, url)
    queued = queue_lead_events(db.engine, tenant_id, leads=12, per_lead=4)
    stalls = FAST.model_copy(update={"timeout_s": STALL_TIMEOUT_S})
    worker = DeliveryWorker(db.engine, stalls, allow_private=True)
    await asyncio.wait_for(worker.run(until_idle=True), 120)
    assert sorted(flaky.accepted) == sorted(queued)
    assert len(flaky.accepted) == len(set(flaky.accepted))
    assert flaky.sink.rejected == 0  # every signature verified
    assert_in_order_per_lead(flaky, queued)
    failing = [e for e in queued if bucket(e) in (0, 1, 2, 3)]
    assert failing, "the plan must make some deliveries fail"
    for event_id in failing:
        assert flaky.tries[event_id] >= 2
    with db.engine.connect() as conn:
        statuses = conn.execute(select(WebhookDelivery.status)).scalars().all()  # type: ignore[call-overload]
        attempts = conn.execute(select(func.count()).select_from(WebhookAttempt)).scalar_one()
        errors = conn.execute(select(WebhookAttempt.error)).scalars().all()  # type: ignore[call-overload]
    assert set(statuses) == {"delivered"}
    # Every attempt is logged; a busy machine may time out before the receiver sees one.
    assert attempts >= flaky.requests
    assert set(errors) <= {None, "HTTP 500", "timed out after 0.3 s"}


async def test_a_dead_earlier_event_no_longer_holds_back_the_lead(
    db: FreshDatabase, receiver: tuple[FlakyReceiver, str]
) -> None:
    flaky, url = receiver
    tenant_id, _ = add_endpoint(db.engine, url)
    queued = queue_lead_events(db.engine, tenant_id, leads=1, per_lead=3)
    flaky.plan = lambda event_id, _try: "fail" if event_id == queued[0] else "ok"
    settings = FAST.model_copy(update={"retry_for_s": 0.15})
    await asyncio.wait_for(
        DeliveryWorker(db.engine, settings, allow_private=True).run(until_idle=True), 60
    )
    assert flaky.accepted == queued[1:]
    assert flaky.tries[queued[0]] >= 1
    with db.engine.connect() as conn:
        rows = conn.execute(
            select(WebhookDelivery.status, WebhookDelivery.last_error).order_by(WebhookDelivery.id)  # type: ignore[call-overload,arg-type]
        ).all()
    assert [r.status for r in rows] == ["dead", "delivered", "delivered"]
    assert rows[0].last_error == "HTTP 500"


async def test_deliveries_of_a_worker_that_died_are_taken_over_after_its_lease(
    db: FreshDatabase, receiver: tuple[FlakyReceiver, str]
) -> None:
    flaky, url = receiver
    tenant_id, _ = add_endpoint(db.engine, url)
    queued = queue_lead_events(db.engine, tenant_id, leads=3, per_lead=2)
    dead_worker = DeliveryWorker(db.engine, FAST, allow_private=True, owner="dead")
    taken = dead_worker.claim(10)
    assert len(taken) == 3  # only the first event of each lead is due
    survivor = DeliveryWorker(db.engine, FAST, allow_private=True, owner="survivor")
    assert survivor.claim(10) == []  # leased by the dead worker
    later = survivor_clock(FAST.timeout_s + LEASE_MARGIN_S + 1)
    restarted = DeliveryWorker(db.engine, FAST, allow_private=True, owner="new", clock=later)
    await asyncio.wait_for(restarted.run(until_idle=True), 60)
    assert sorted(flaky.accepted) == sorted(queued)
    assert_in_order_per_lead(flaky, queued)
    # The dead worker's late results cannot overwrite what the new worker stored.
    from robot.crm.delivery import AttemptResult

    dead_worker.store_results([AttemptResult(d, utc_now(), 500, "HTTP 500", 1.0) for d in taken])
    with db.engine.connect() as conn:
        statuses = conn.execute(select(WebhookDelivery.status)).scalars().all()  # type: ignore[call-overload]
    assert set(statuses) == {"delivered"}


def survivor_clock(ahead_s: float) -> Callable[[], Any]:
    return lambda: utc_now() + timedelta(seconds=ahead_s)


async def test_stopped_worker_resumes_where_it_left_off(
    db: FreshDatabase, receiver: tuple[FlakyReceiver, str]
) -> None:
    flaky, url = receiver
    tenant_id, _ = add_endpoint(db.engine, url)
    queued = queue_lead_events(db.engine, tenant_id, leads=5, per_lead=6)
    stop = asyncio.Event()
    first = DeliveryWorker(
        db.engine, FAST.model_copy(update={"max_in_flight": 2}), allow_private=True
    )
    task = asyncio.create_task(first.run(stop))
    while first.delivered < 5:
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(task, 30)
    assert 5 <= len(flaky.accepted) < len(queued)
    second = DeliveryWorker(db.engine, FAST, allow_private=True)
    await asyncio.wait_for(second.run(until_idle=True), 60)
    assert sorted(flaky.accepted) == sorted(queued)
    assert len(set(flaky.accepted)) == len(queued)
    assert_in_order_per_lead(flaky, queued)


async def test_endpoints_get_only_their_event_types_and_disabled_ones_nothing(
    db: FreshDatabase, receiver: tuple[FlakyReceiver, str]
) -> None:
    flaky, url = receiver
    tenant_id, _ = add_endpoint(db.engine, url, event_types=["lead.qualified"])
    add_endpoint(db.engine, url, enabled=False)
    with write_transaction(db.engine) as conn:
        for event_type in ("call.completed", "lead.qualified", "recording.ready"):
            enqueue_event(
                conn,
                tenant_id=tenant_id,
                event_type=event_type,
                data={"lead": 1},
                ordering_key="lead:1",
            )
    await asyncio.wait_for(
        DeliveryWorker(db.engine, FAST, allow_private=True).run(until_idle=True), 30
    )
    assert [flaky.events[e]["type"] for e in flaky.accepted] == ["lead.qualified"]


async def test_loopback_urls_are_refused_at_delivery_unless_allowed(
    db: FreshDatabase, receiver: tuple[FlakyReceiver, str]
) -> None:
    flaky, url = receiver
    tenant_id, _ = add_endpoint(db.engine, url)
    queue_lead_events(db.engine, tenant_id, leads=1, per_lead=1)
    worker = DeliveryWorker(
        db.engine, FAST.model_copy(update={"retry_for_s": 0.05}), allow_private=False
    )
    await asyncio.wait_for(worker.run(until_idle=True), 30)
    assert flaky.requests == 0
    with db.engine.connect() as conn:
        row = conn.execute(select(WebhookDelivery.status, WebhookDelivery.last_error)).one()  # type: ignore[call-overload]
    assert row.status == "dead"
    assert row.last_error.startswith("refused: url: 127.0.0.1 resolves to 127.0.0.1")


async def test_body_and_headers_are_what_the_outbox_stored(
    db: FreshDatabase, receiver: tuple[FlakyReceiver, str]
) -> None:
    flaky, url = receiver
    tenant_id, _ = add_endpoint(db.engine, url)
    [event_id] = queue_lead_events(db.engine, tenant_id, leads=1, per_lead=1)
    await asyncio.wait_for(
        DeliveryWorker(db.engine, FAST, allow_private=True).run(until_idle=True), 30
    )
    event = flaky.events[event_id]
    assert set(event) == {"id", "type", "created_at", "data"}
    assert event["type"] == "call.completed"
    assert event["data"] == {"lead": 1, "n": 0}
    assert json.loads(json.dumps(event))["created_at"].endswith("+00:00")


async def test_results_for_deliveries_of_a_deleted_endpoint_are_dropped_quietly(
    db: FreshDatabase, receiver: tuple[FlakyReceiver, str]
) -> None:
    from sqlalchemy import delete

    from models.webhook import WebhookEndpoint
    from robot.crm.delivery import AttemptResult

    _, url = receiver
    tenant_id, endpoint_id = add_endpoint(db.engine, url)
    queue_lead_events(db.engine, tenant_id, leads=2, per_lead=1)
    worker = DeliveryWorker(db.engine, FAST, allow_private=True)
    taken = worker.claim(10)
    assert len(taken) == 2
    with write_transaction(db.engine) as conn:  # what DELETE /v1/webhooks/{id} does
        conn.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))  # type: ignore[arg-type]
        conn.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))  # type: ignore[arg-type]
    worker.store_results([AttemptResult(d, utc_now(), 200, None, 1.0) for d in taken])
    with db.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(WebhookAttempt)).scalar_one() == 0
