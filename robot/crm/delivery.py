"""The webhook delivery worker: durable, at-least-once, in order per lead, concurrent otherwise.

Every state lives in ``webhook_delivery`` rows, so a restarted worker carries on where the
last one stopped. A worker leases the deliveries it sends (a dead worker's leases run out and
another worker takes them over). A delivery is only due when no earlier delivery of the same
lead to the same endpoint is still pending, which keeps each lead's events in order while
different leads and endpoints are sent concurrently. Failures are retried with exponential
backoff and jitter for ``retry_for_s`` (24 h by default), then the delivery is ``dead``
until someone asks for a redelivery.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import and_, bindparam, exists, func, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from models.db import is_postgres
from models.transactions import write_transaction
from models.types import utc_now
from models.webhook import DeliveryStatus, WebhookAttempt
from robot import metrics
from robot.config import WebhookSettings, get_settings
from robot.crm.attempts import AttemptResult, ClaimedDelivery, backoff_s, schedule_redelivery
from robot.crm.outbox import DELIVERY, ENDPOINT, OUTBOX, sweep_unreported
from robot.crm.signing import signature_headers
from robot.crm.urls import check_webhook_url
from robot.errors import CallrobotError, ValidationError
from robot.http_limits import AnswerError, AnswerTimeoutError, read_answer

logger = logging.getLogger(__name__)

__all__ = ["AttemptResult", "ClaimedDelivery", "DeliveryWorker", "schedule_redelivery"]

ATTEMPT = WebhookAttempt.__table__  # type: ignore[attr-defined]
#: A lease outlives the request timeout by this much before another worker may take over.
LEASE_MARGIN_S = 30.0
#: How often finished calls and campaigns without events are looked for.
SWEEP_INTERVAL_S = 2.0
USER_AGENT = "callrobot-webhooks/1"
#: A CRM's answer body is read up to this much (so the connection can be reused), then cut.
ANSWER_BODY_BYTES = 64 * 1024


class DeliveryWorker:
    """Sends due deliveries until stopped. Several workers may share one database."""

    def __init__(
        self,
        engine: Engine,
        settings: WebhookSettings | None = None,
        *,
        allow_private: bool | None = None,
        owner: str | None = None,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], datetime] = utc_now,
        rng: random.Random | None = None,
        sweep: bool = True,
    ) -> None:
        app_settings = get_settings()
        self.engine = engine
        self.settings = settings or app_settings.webhooks
        self.allow_private = (
            app_settings.webhooks_allow_private if allow_private is None else allow_private
        )
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.clock = clock
        self.rng = rng or random.Random()
        self._client = client
        self._inflight: set[asyncio.Task[None]] = set()
        self._results: list[AttemptResult] = []
        self._wake = asyncio.Event()
        self.sent = 0
        self.delivered = 0
        self._sweep_from_call_id = 0
        #: Whether this worker also queues events for calls that finished without any.
        self.sweeps = sweep
        self._swept_at = float("-inf")

    # -- database ---------------------------------------------------------------------------

    def claim(self, limit: int) -> list[ClaimedDelivery]:
        """Lease up to ``limit`` due deliveries (each the oldest pending of its lead)."""
        if limit <= 0:
            return []
        now = self.clock()
        earlier = DELIVERY.alias("earlier")
        blocked = exists().where(
            earlier.c.endpoint_id == DELIVERY.c.endpoint_id,
            earlier.c.ordering_key == DELIVERY.c.ordering_key,
            earlier.c.status == DeliveryStatus.PENDING.value,
            earlier.c.id < DELIVERY.c.id,
        )
        due = (
            select(DELIVERY.c.id)
            .where(
                DELIVERY.c.status == DeliveryStatus.PENDING.value,
                DELIVERY.c.next_attempt_at <= now,
                or_(DELIVERY.c.lease_until.is_(None), DELIVERY.c.lease_until < now),
                ~blocked,
            )
            # Served by ix_delivery_due however many delivered rows pile up; per-lead order is
            # kept by ``blocked``, not by this order.
            .order_by(DELIVERY.c.next_attempt_at, DELIVERY.c.id)
            .limit(limit)
        )
        lease = {
            "lease_owner": self.owner,
            "lease_until": now + timedelta(seconds=self.settings.timeout_s + LEASE_MARGIN_S),
        }
        if is_postgres(self.engine):
            picked = due.with_for_update(skip_locked=True).cte("picked")
            stmt = update(DELIVERY).where(DELIVERY.c.id == picked.c.id)
        else:
            stmt = update(DELIVERY).where(DELIVERY.c.id.in_(due.scalar_subquery()))
        with write_transaction(self.engine) as conn:
            ids = conn.execute(stmt.values(**lease).returning(DELIVERY.c.id)).scalars().all()
            if not ids:
                return []
            rows = conn.execute(
                select(
                    DELIVERY.c.id,
                    DELIVERY.c.attempts,
                    DELIVERY.c.retry_started_at,
                    DELIVERY.c.endpoint_id,
                    OUTBOX.c.event_id,
                    OUTBOX.c.type,
                    OUTBOX.c.body,
                    OUTBOX.c.created_at,
                    ENDPOINT.c.url,
                    ENDPOINT.c.secret,
                    ENDPOINT.c.standard_webhooks,
                )
                .join(OUTBOX, OUTBOX.c.id == DELIVERY.c.event_pk)
                .join(ENDPOINT, ENDPOINT.c.id == DELIVERY.c.endpoint_id)
                .where(DELIVERY.c.id.in_(list(ids)))
                .order_by(DELIVERY.c.id)
            ).all()
        return [
            ClaimedDelivery(
                id=r.id,
                event_id=r.event_id,
                event_type=r.type,
                endpoint_id=r.endpoint_id,
                body=r.body,
                url=r.url,
                secret=r.secret,
                attempts=r.attempts,
                retry_started_at=r.retry_started_at,
                queued_at=r.created_at,
                standard_webhooks=bool(r.standard_webhooks),
            )
            for r in rows
        ]

    def store_results(self, results: list[AttemptResult]) -> None:
        """Write a batch of attempt results in one transaction and release their leases."""
        if not results:
            return
        retry_for = timedelta(seconds=self.settings.retry_for_s)
        updates: list[dict[str, Any]] = []
        for r in results:
            attempts = r.delivery.attempts + 1
            status = DeliveryStatus.DELIVERED
            next_at = r.at
            if not r.ok:
                delay = backoff_s(
                    attempts, self.settings.backoff_base_s, self.settings.backoff_max_s, self.rng
                )
                next_at = r.at + timedelta(seconds=delay)
                expired = r.at - r.delivery.retry_started_at >= retry_for
                status = DeliveryStatus.DEAD if expired else DeliveryStatus.PENDING
                log = logger.warning if status is DeliveryStatus.DEAD else logger.info
                log(
                    "delivery %d of %s to endpoint %d failed (attempt %d, %s)%s",
                    r.delivery.id,
                    r.delivery.event_id,
                    r.delivery.endpoint_id,
                    attempts,
                    r.error or f"HTTP {r.status_code}",
                    ": dead" if status is DeliveryStatus.DEAD else f"; retry in {delay:.1f} s",
                )
            queued_at = r.delivery.queued_at
            latency_s = (r.at - queued_at).total_seconds() if r.ok and queued_at else None
            result = "failed" if status is DeliveryStatus.PENDING else status.value
            metrics.webhook_attempt(result, latency_s)
            updates.append(
                {
                    "b_id": r.delivery.id,
                    "b_owner": self.owner,
                    "b_status": status.value,
                    "b_attempts": attempts,
                    "b_next": next_at,
                    "b_code": r.status_code,
                    "b_error": (r.error or None) and r.error[:500],
                    "b_delivered": r.at if r.ok else None,
                }
            )
        stmt = (
            update(DELIVERY)
            .where(
                and_(
                    DELIVERY.c.id == bindparam("b_id"),
                    DELIVERY.c.lease_owner == bindparam("b_owner"),
                )
            )
            .values(
                status=bindparam("b_status"),
                attempts=bindparam("b_attempts"),
                next_attempt_at=bindparam("b_next"),
                last_status_code=bindparam("b_code"),
                last_error=bindparam("b_error"),
                delivered_at=bindparam("b_delivered"),
                lease_owner=None,
                lease_until=None,
            )
        )
        attempts_rows = [
            {
                "delivery_id": r.delivery.id,
                "at": r.at,
                "status_code": r.status_code,
                "error": (r.error or None) and r.error[:500],
                "duration_ms": r.duration_ms,
            }
            for r in results
        ]
        with write_transaction(self.engine) as conn:
            conn.execute(stmt, updates)
            # An endpoint deleted meanwhile took its deliveries along: log only what remains.
            ids = [row["delivery_id"] for row in attempts_rows]
            alive = set(
                conn.execute(select(DELIVERY.c.id).where(DELIVERY.c.id.in_(ids))).scalars().all()
            )
            kept = [row for row in attempts_rows if row["delivery_id"] in alive]
            if kept:
                conn.execute(insert(ATTEMPT), kept)
        self.delivered += sum(1 for r in results if r.ok)

    def pending_count(self) -> int:
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(DELIVERY)
                    .where(DELIVERY.c.status == DeliveryStatus.PENDING.value)
                ).scalar_one()
            )

    def sweep(self) -> int:
        """Queue events of finished calls and campaigns nobody reported (see sweep_unreported)."""
        self._swept_at = time.monotonic()
        try:
            queued, self._sweep_from_call_id = sweep_unreported(
                self.engine, self._sweep_from_call_id
            )
        except (CallrobotError, SQLAlchemyError) as e:  # the database is away: next sweep
            logger.warning("looking for unreported calls failed: %s", type(e).__name__)
            return 0
        return queued

    # -- sending ----------------------------------------------------------------------------

    async def send(self, client: httpx.AsyncClient, delivery: ClaimedDelivery) -> AttemptResult:
        """POST one signed event; never raises for a failed attempt."""
        body = delivery.body.encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signature_headers(
                delivery.secret, delivery.event_id, body, standard=delivery.standard_webhooks
            ),
        }
        started = time.perf_counter()
        status_code: int | None = None
        error: str | None = None
        try:
            if not self.allow_private:
                await asyncio.to_thread(check_webhook_url, delivery.url, allow_private=False)
            # The CRM's whole answer gets one deadline; its body is not needed past a little.
            answer = await read_answer(
                client,
                "POST",
                delivery.url,
                content=body,
                headers=headers,
                timeout_s=self.settings.timeout_s,
                max_bytes=ANSWER_BODY_BYTES,
                truncate=True,
            )
            status_code = answer.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except ValidationError as e:
            error = f"refused: {e}"
        except AnswerTimeoutError:
            error = f"timed out after {self.settings.timeout_s:g} s"
        except AnswerError as e:
            cause = e.__cause__ or e
            error = f"{cause.__class__.__name__}: {cause}"
        except Exception as e:  # one broken attempt must never lose the delivery's result
            logger.exception("delivery %d: unexpected error while sending", delivery.id)
            error = f"{e.__class__.__name__}: {e}"
        self.sent += 1
        return AttemptResult(
            delivery, self.clock(), status_code, error, (time.perf_counter() - started) * 1000
        )

    async def _send_and_collect(self, client: httpx.AsyncClient, delivery: ClaimedDelivery) -> None:
        try:
            result = await self.send(client, delivery)
            # Append only now: the list may have been swapped by a flush while sending.
            self._results.append(result)
        finally:
            self._wake.set()

    async def _flush(self) -> None:
        results, self._results = self._results, []
        try:
            await asyncio.to_thread(self.store_results, results)
        except CallrobotError as e:  # the database is away: keep the results, try again
            logger.warning(
                "storing %d delivery result(s) failed: %s", len(results), type(e).__name__
            )
            self._results = results + self._results
            await asyncio.sleep(self.settings.poll_interval_s)

    async def _claim(self, free: int) -> list[ClaimedDelivery]:
        try:
            return await asyncio.to_thread(self.claim, free)
        except CallrobotError as e:
            logger.warning("claiming deliveries failed: %s", type(e).__name__)
            return []

    async def run(self, stop: asyncio.Event | None = None, *, until_idle: bool = False) -> None:
        """Deliver until ``stop`` is set (or, with ``until_idle``, until nothing is pending)."""
        client = self._client or httpx.AsyncClient(
            limits=httpx.Limits(
                max_connections=self.settings.max_in_flight,
                max_keepalive_connections=self.settings.max_in_flight,
            ),
            follow_redirects=False,
        )
        try:
            # Results are stored and new work claimed in batches: once a quarter of the slots
            # are free (or nothing is in flight), not after every single response.
            batch = max(1, self.settings.max_in_flight // 4)
            while stop is None or not stop.is_set():
                if self.sweeps and time.monotonic() - self._swept_at >= SWEEP_INTERVAL_S:
                    await asyncio.to_thread(self.sweep)
                free = self.settings.max_in_flight - len(self._inflight)
                if free < batch and self._inflight:
                    await self._wait(self.settings.poll_interval_s)
                    continue
                if self._results:
                    await self._flush()
                claimed = await self._claim(free)
                for delivery in claimed:
                    task = asyncio.create_task(self._send_and_collect(client, delivery))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                if claimed or self._inflight or self._results:
                    if not self._results:
                        await self._wait(self.settings.poll_interval_s)
                    continue
                if until_idle and await asyncio.to_thread(self.pending_count) == 0:
                    return
                await self._wait(self.settings.poll_interval_s, stop)
        finally:
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)
            await self._flush()
            if self._client is None:
                await client.aclose()

    async def _wait(self, timeout_s: float, stop: asyncio.Event | None = None) -> None:
        waiters = [asyncio.ensure_future(self._wake.wait())]
        if stop is not None:
            waiters.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        # Cleared only after waking: a completion signalled before the wait is never lost.
        self._wake.clear()
