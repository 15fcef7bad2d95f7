"""What the several-hosts test checks once the campaign is over: the database, the callees'
log and the CRM's record must tell one consistent story."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.engine import Engine

from robot.crm.delivery import ATTEMPT
from robot.crm.outbox import DELIVERY, OUTBOX
from robot.dialler.claims import CALL, LEAD, LOST_WORKER_ERROR

from .callees import CalleeCall
from .crm import Crm

FINAL = {"done", "exhausted", "invalid", "dnc"}


def rows(engine: Engine, query: Any) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def open_calls_by_worker(engine: Engine) -> Counter[str]:
    open_calls = rows(engine, select(CALL.c.worker).where(CALL.c.ended_at.is_(None)))
    return Counter(r.worker for r in open_calls)


def open_calls_of(engine: Engine, owner_prefix: str) -> set[int]:
    query = select(CALL.c.id).where(
        CALL.c.ended_at.is_(None), CALL.c.worker.startswith(owner_prefix)
    )
    return {r.id for r in rows(engine, query)}


def ended_calls(engine: Engine) -> int:
    return len(rows(engine, select(CALL.c.id).where(CALL.c.ended_at.is_not(None))))


def undelivered(engine: Engine) -> int:
    query = select(DELIVERY.c.id).where(DELIVERY.c.status != "delivered")
    return len(rows(engine, query))


def fresh_leads_left(engine: Engine, campaign_id: int) -> int:
    query = select(LEAD.c.id).where(
        LEAD.c.campaign_id == campaign_id, LEAD.c.status == "pending", LEAD.c.attempts == 0
    )
    return len(rows(engine, query))


def unleased_pending(engine: Engine, campaign_id: int, now: datetime) -> int:
    """Leads waiting for an attempt that no worker holds right now."""
    query = select(LEAD.c.id).where(
        LEAD.c.campaign_id == campaign_id,
        LEAD.c.status == "pending",
        (LEAD.c.lease_until.is_(None)) | (LEAD.c.lease_until < now),
    )
    return len(rows(engine, query))


def check_leads(engine: Engine, campaign_id: int) -> Counter[str]:
    """Every lead is final or waits for a scheduled retry with no lease; none is stuck."""
    leads = rows(engine, select(LEAD).where(LEAD.c.campaign_id == campaign_id))
    stuck = [
        (r.id, r.status, r.lease_owner, r.next_attempt_at)
        for r in leads
        if r.status not in FINAL
        and not (r.status == "pending" and r.lease_owner is None and r.next_attempt_at)
    ]
    assert not stuck, f"leads stuck: {stuck[:10]}"
    return Counter(r.status for r in leads)


def check_calls(
    engine: Engine, callees: list[CalleeCall], killed_owners: list[str]
) -> dict[str, Any]:
    """One INVITE per attempt at most, every INVITE an attempt, no two calls to a lead at once."""
    calls = {r.id: r for r in rows(engine, select(CALL))}
    still_open = [c.id for c in calls.values() if c.ended_at is None or c.outcome is None]
    assert not still_open, f"calls without an outcome: {still_open[:10]}"
    missing_header = [c.sip_call_id for c in callees if c.attempt_id is None]
    assert not missing_header, f"INVITEs without X-Attempt-Id: {missing_header[:5]}"
    per_attempt = Counter(c.attempt_id for c in callees)
    twice = {a: n for a, n in per_attempt.items() if n > 1}
    assert not twice, f"attempts with more than one INVITE: {twice}"
    unknown = set(per_attempt) - set(calls)
    assert not unknown, f"INVITEs for attempts nobody recorded: {sorted(unknown)[:10]}"
    # A recorded attempt without an INVITE: only a killed worker's, between recording the
    # attempt and sending its INVITE; it is closed as lost.
    silent = [calls[i] for i in set(calls) - set(per_attempt)]
    unexplained = [
        c.id
        for c in silent
        if c.error != LOST_WORKER_ERROR or not c.worker.startswith(tuple(killed_owners))
    ]
    assert not unexplained, f"attempts recorded but never sent: {unexplained[:10]}"
    by_number: dict[str, list[CalleeCall]] = defaultdict(list)
    for call in callees:
        by_number[call.number].append(call)
    overlaps = []
    for number, seen in by_number.items():
        seen.sort(key=lambda c: c.invited_ms)
        for before, after in itertools.pairwise(seen):
            if after.invited_ms < before.until_ms:
                overlaps.append((number, before.attempt_id, after.attempt_id))
    assert not overlaps, f"two calls to one lead at once: {overlaps[:5]}"
    lead_of_attempt = {c.id: c.lead_id for c in calls.values()}
    numbers_per_lead = defaultdict(set)
    for call in callees:
        numbers_per_lead[lead_of_attempt[call.attempt_id]].add(call.number)
    assert all(len(n) == 1 for n in numbers_per_lead.values()), "an attempt rang another lead"
    return {
        "attempts": len(calls),
        "invites": len(callees),
        "attempts_never_sent": len(silent),
        "unlogged_callee_ends": sum(1 for c in callees if c.ended_ms is None),
        "outcomes": dict(Counter(c.outcome for c in calls.values())),
    }


def check_events(engine: Engine, crm: Crm) -> dict[str, Any]:
    """Every committed event reached the CRM, signed, once after de-duplication; the CRM got
    nothing else (no event of a rolled-back write); each call reported exactly once."""
    outbox = {r.event_id: r for r in rows(engine, select(OUTBOX))}
    deliveries = rows(engine, select(DELIVERY.c.status, DELIVERY.c.event_pk))
    undelivered = Counter(d.status for d in deliveries if d.status != "delivered")
    assert not undelivered, f"deliveries not delivered: {dict(undelivered)}"
    assert len(deliveries) == len(outbox), "an event without its delivery"
    assert crm.sink.rejected == 0, f"{crm.sink.rejected} request(s) with a bad signature"
    received = {e["id"]: e for e in crm.events}
    assert len(received) == len(crm.events), "the CRM passed on an event id twice"
    assert set(received) == set(outbox), (
        f"only in the CRM: {sorted(set(received) - set(outbox))[:5]}; "
        f"never delivered: {sorted(set(outbox) - set(received))[:5]}"
    )
    for event_id, event in received.items():
        assert event == json.loads(outbox[event_id].body), f"{event_id} differs from its outbox row"
    calls = {r.id: r for r in rows(engine, select(CALL))}
    completed = Counter(e["data"]["call_id"] for e in crm.events if e["type"] == "call.completed")
    assert set(completed) == set(calls), "a call without call.completed, or one for no call"
    assert set(completed.values()) == {1}, "a call reported twice"
    for event in crm.events:
        if event["type"] == "call.completed":
            row = calls[event["data"]["call_id"]]
            assert event["data"]["outcome"] == row.outcome, f"event {event['id']} is stale"
    return {
        "events": len(outbox),
        "requests": sum(crm.requests.values()),
        "duplicates_dropped": crm.sink.duplicates,
    }


def failed_attempts_between(engine: Engine, start: datetime, end: datetime) -> int:
    query = select(ATTEMPT.c.id).where(
        ATTEMPT.c.at >= start, ATTEMPT.c.at <= end, ATTEMPT.c.error.is_not(None)
    )
    return len(rows(engine, query))


def calls_of(engine: Engine, call_ids: set[int]) -> list[Any]:
    return rows(engine, select(CALL).where(CALL.c.id.in_(sorted(call_ids))))


def taken_over(engine: Engine, call_ids: set[int], owner_prefix: str) -> list[int]:
    """Which of a frozen worker's calls had their lead dialled by another worker before the
    call was closed (a later retry of a call it did finish does not count)."""
    mine = calls_of(engine, call_ids)
    others = rows(
        engine,
        select(CALL.c.lead_id, CALL.c.started_at, CALL.c.worker).where(
            CALL.c.lead_id.in_([c.lead_id for c in mine])
        ),
    )
    taken = []
    for call in mine:
        if any(
            o.lead_id == call.lead_id
            and not o.worker.startswith(owner_prefix)
            and (call.ended_at is None or o.started_at <= call.ended_at)
            for o in others
        ):
            taken.append(call.id)
    return taken


def check_recordings(engine: Engine, client: httpx.Client, folder: Path) -> dict[str, Any]:
    """The workers' call recordings are stored relative to the shared folder, and the API
    process (which wrote none of them) serves each with the bytes the worker wrote."""
    recorded = rows(
        engine,
        select(CALL.c.id, CALL.c.recording_path, CALL.c.worker)
        .where(CALL.c.recording_path.is_not(None))
        .order_by(CALL.c.id),
    )
    assert recorded, "no answered call was recorded"
    absolute = [r.id for r in recorded if Path(r.recording_path).is_absolute()]
    assert not absolute, f"recordings stored with a host's absolute path: {absolute[:5]}"
    # One per worker process is enough to show every host's files are served.
    sample = {r.worker: r for r in recorded if r.worker}.values()
    for row in sample:
        written = hashlib.sha256((folder / row.recording_path).read_bytes()).hexdigest()
        served = client.get(f"/v1/calls/{row.id}/recording")
        assert served.status_code == 200, served.text
        assert hashlib.sha256(served.content).hexdigest() == written, f"call {row.id} differs"
    return {"recorded_calls": len(recorded), "downloaded": len(sample)}
