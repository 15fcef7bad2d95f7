"""Storing how an attempt ended: the call row, the lead's next state and the CRM events.

One transaction writes all three, fenced by the lead's lease: a worker whose lease ran out
(it was frozen, or cut off from the database, and another worker took the lead over) has
every write of that transaction refused, so its late result can neither overwrite the
attempt's recorded end nor queue events for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.engine import Engine

from models.call import Disposition
from models.lead import LeadStatus
from models.transactions import write_transaction
from robot.dialler.claims import CALL, LEAD, LeaseLostError, add_dnc_number
from robot.dialler.jobs import CallResult, DialJob
from robot.dialler.retry import LeadDecision, RetryPolicy, decide_next
from robot.windows import CallingWindow, zone_info


def call_end_values(result: CallResult, now: datetime) -> dict[str, Any]:
    """The columns of a call row that say how the call ended."""
    return {
        "ended_at": now,
        "outcome": str(result.outcome),
        "disposition": result.disposition,
        "qualified": (
            result.qualified
            if result.qualified is not None
            else result.disposition == Disposition.QUALIFIED
        ),
        "q850": result.q850,
        "answered_at": result.answered_at,
        "voicemail_verdict": result.voicemail_verdict,
        "voicemail_reason": result.voicemail_reason,
        "voicemail_decision_ms": result.voicemail_decision_ms,
        "slots": result.slots,
        "transcript": result.transcript,
        "signalling": result.signalling,
        "recording_path": result.recording_path,
        "duration_ms": result.duration_ms,
        "error": result.error[:1000] if result.error else None,
    }


def next_state(
    job: DialJob, result: CallResult, policy: RetryPolicy, window: CallingWindow, now: datetime
) -> LeadDecision:
    """The lead's next state after this attempt, retries moved into the calling window."""
    decision = decide_next(
        policy,
        attempts_made=job.attempt,
        outcome=str(result.outcome),
        disposition=result.disposition,
        callback_at=result.callback_at,
        now=now,
    )
    if decision.status is LeadStatus.PENDING and decision.next_attempt_at is not None:
        zones = [zone_info(z) for z in job.time_zones]
        aligned = window.next_opening_in_all(decision.next_attempt_at, zones)
        if aligned is None:
            decision = LeadDecision(LeadStatus.EXHAUSTED, None, "calling window never opens")
        elif aligned != decision.next_attempt_at:
            reason = f"{decision.reason}; moved to the next window opening"
            decision = LeadDecision(LeadStatus.PENDING, aligned, reason)
    return decision


def finish_attempt(
    engine: Engine,
    job: DialJob,
    result: CallResult,
    policy: RetryPolicy,
    window: CallingWindow,
    owner: str,
    now: datetime,
) -> LeadDecision:
    """Store the attempt and the lead's next state in one transaction; release the lease.

    Raises :class:`LeaseLostError` (and writes nothing) when ``owner`` no longer holds the
    lead's lease or the attempt was already closed by the worker that took the lead over.
    """
    decision = next_state(job, result, policy, window, now)
    with write_transaction(engine) as conn:
        # The lease first: a refused lead update rolls back everything below.
        held = conn.execute(
            update(LEAD)
            .where(LEAD.c.id == job.lead_id, LEAD.c.lease_owner == owner)
            .values(
                status=decision.status.value,
                next_attempt_at=decision.next_attempt_at,
                last_outcome=str(result.outcome),
                last_disposition=result.disposition,
                callback_at=result.callback_at,
                status_reason=decision.reason,
                lease_owner=None,
                lease_until=None,
                updated_at=now,
            )
        )
        if held.rowcount != 1:
            raise LeaseLostError(
                f"lead {job.lead_id}: lease lost during call {job.call_id}; its result is dropped"
            )
        ended = conn.execute(
            update(CALL)
            .where(CALL.c.id == job.call_id, CALL.c.ended_at.is_(None))
            .values(**call_end_values(result, now))
        )
        if ended.rowcount != 1:
            raise LeaseLostError(f"call {job.call_id} was already closed; its result is dropped")
        if result.disposition == Disposition.DO_NOT_CALL:
            add_dnc_number(conn, job.tenant_id, job.number, f"call {job.call_id}", now)
        # The CRM hears about the call in the same transaction that stores its end.
        from robot.crm.outbox import record_call_events

        record_call_events(conn, job.call_id, now=now)
    return decision
