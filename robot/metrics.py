"""Process metrics in Prometheus form (``GET /metrics`` of ``callrobot serve``).

One registry per process (:data:`REGISTRY`); every series carries a ``worker`` label (host and
process id, :func:`worker_name`) so several hosts and processes scraped into one Prometheus
stay apart. Parts of the engine record through the small functions below, so the metric
names and labels live only here. This module imports nothing of the project (a leaf).
"""

from __future__ import annotations

import os
import socket

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "REGISTRY", "render", "worker_name"]

REGISTRY = CollectorRegistry(auto_describe=True)

#: Turn latency (end of callee speech -> first robot audio), seconds.
TURN_BUCKETS_S = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
#: Decoding one utterance (waiting for a thread, then decoding), seconds.
DECODE_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)
#: An event queued in the outbox -> accepted by the CRM, seconds.
DELIVERY_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 3600.0)

CALLS = Counter(
    "callrobot_calls",
    "Calls ended, by outcome and disposition (disposition 'none' when the call set none).",
    ["worker", "outcome", "disposition"],
    registry=REGISTRY,
)
ACTIVE_CALLS = Gauge(
    "callrobot_active_calls", "Calls running in this process.", ["worker"], registry=REGISTRY
)
ADMISSION_HOLDS = Counter(
    "callrobot_admission_holds",
    "Due leads the dialler left queued because the call engine was full (each once per wait).",
    ["worker"],
    registry=REGISTRY,
)
TURN_LATENCY = Histogram(
    "callrobot_turn_latency_seconds",
    "End of callee speech -> first robot audio queued, per turn.",
    ["worker"],
    buckets=TURN_BUCKETS_S,
    registry=REGISTRY,
)
DECODE = Histogram(
    "callrobot_decode_seconds",
    "Per utterance: stage 'queue' is the wait for a decoding thread, 'run' the decoding.",
    ["worker", "stage"],
    buckets=DECODE_BUCKETS_S,
    registry=REGISTRY,
)
LATE_DECODES = Counter(
    "callrobot_late_decodes",
    "Utterances not decoded within their deadline (handled as not understood).",
    ["worker"],
    registry=REGISTRY,
)
VOICEMAIL_VERDICTS = Counter(
    "callrobot_voicemail_verdicts",
    "Answering-machine verdicts of answered calls (human, machine, unknown).",
    ["worker", "verdict"],
    registry=REGISTRY,
)
DIALLER_CLAIMS = Counter(
    "callrobot_dialler_claims", "Leads claimed by the dialler.", ["worker"], registry=REGISTRY
)
LEASE_LOSSES = Counter(
    "callrobot_dialler_lease_losses",
    "Leads whose lease another worker took over before or during their call.",
    ["worker"],
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "callrobot_webhook_attempts",
    "Webhook delivery attempts, by result (delivered, failed, dead).",
    ["worker", "result"],
    registry=REGISTRY,
)
WEBHOOK_LATENCY = Histogram(
    "callrobot_webhook_delivery_latency_seconds",
    "Event written to the outbox -> accepted by the endpoint (retries included).",
    ["worker"],
    buckets=DELIVERY_BUCKETS_S,
    registry=REGISTRY,
)
OUTBOX_DEPTH = Gauge(
    "callrobot_outbox_depth",
    "Webhook deliveries in the database by status (pending, dead), read at scrape time.",
    ["worker", "status"],
    registry=REGISTRY,
)

_worker = f"{socket.gethostname()}:{os.getpid()}"


def worker_name() -> str:
    """The ``worker`` label of this process (``host:pid``)."""
    return _worker


def call_started() -> None:
    ACTIVE_CALLS.labels(_worker).inc()


def call_ended(outcome: str, disposition: str | None, voicemail_verdict: str | None) -> None:
    ACTIVE_CALLS.labels(_worker).dec()
    CALLS.labels(_worker, outcome, disposition or "none").inc()
    if voicemail_verdict:
        VOICEMAIL_VERDICTS.labels(_worker, voicemail_verdict).inc()


def admission_held(leads: int) -> None:
    ADMISSION_HOLDS.labels(_worker).inc(leads)


def turn_latency(ms: float) -> None:
    TURN_LATENCY.labels(_worker).observe(ms / 1000)


def decoded(queue_ms: float, run_ms: float) -> None:
    DECODE.labels(_worker, "queue").observe(queue_ms / 1000)
    DECODE.labels(_worker, "run").observe(run_ms / 1000)


def late_decode() -> None:
    LATE_DECODES.labels(_worker).inc()


def leads_claimed(leads: int) -> None:
    DIALLER_CLAIMS.labels(_worker).inc(leads)


def lease_lost() -> None:
    LEASE_LOSSES.labels(_worker).inc()


def webhook_attempt(result: str, latency_s: float | None = None) -> None:
    """One attempt's ``result``; ``latency_s`` (queued -> delivered) for delivered ones."""
    WEBHOOK_ATTEMPTS.labels(_worker, result).inc()
    if latency_s is not None:
        WEBHOOK_LATENCY.labels(_worker).observe(max(latency_s, 0.0))


def outbox_depth(counts: dict[str, int]) -> None:
    for status, count in counts.items():
        OUTBOX_DEPTH.labels(_worker, status).set(count)


def render() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)
