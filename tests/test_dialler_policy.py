"""Retry policy decisions, the calls-per-second bucket and the fair share of slots (logic)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.lead import LeadStatus
from robot.dialler.pacing import CampaignLoad, TokenBucket, share_slots
from robot.dialler.retry import LeadDecision, RetryPolicy, decide_next
from robot.errors import ValidationError

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def decide(
    policy: RetryPolicy,
    attempts: int,
    outcome: str,
    disposition: str | None = None,
    callback_at: datetime | None = None,
) -> LeadDecision:
    return decide_next(
        policy,
        attempts_made=attempts,
        outcome=outcome,
        disposition=disposition,
        callback_at=callback_at,
        now=NOW,
    )


@pytest.mark.parametrize(
    ("outcome", "delay_s"),
    [
        ("busy", 600),
        ("no_answer", 3600),
        ("unavailable", 7200),
        ("machine", 14400),
        ("network_error", 300),
        ("human", 3600),
    ],
)
def test_retryable_outcomes_wait_their_delay(outcome: str, delay_s: int) -> None:
    decision = decide(RetryPolicy(), 1, outcome)
    assert decision.status is LeadStatus.PENDING
    assert decision.next_attempt_at == NOW + timedelta(seconds=delay_s)


def test_max_attempts_ends_the_lead() -> None:
    policy = RetryPolicy(max_attempts=2)
    assert decide(policy, 1, "busy").status is LeadStatus.PENDING
    final = decide(policy, 2, "busy")
    assert final.status is LeadStatus.EXHAUSTED and final.next_attempt_at is None


@pytest.mark.parametrize(
    ("outcome", "disposition", "status"),
    [
        ("human", "qualified", LeadStatus.DONE),
        ("human", "not_interested", LeadStatus.DONE),
        ("human", "do_not_call", LeadStatus.DNC),
        ("invalid_number", None, LeadStatus.INVALID),
    ],
)
def test_final_results_end_the_lead(
    outcome: str, disposition: str | None, status: LeadStatus
) -> None:
    assert decide(RetryPolicy(), 1, outcome, disposition).status is status


def test_callback_is_scheduled_exactly_and_may_exceed_max_attempts() -> None:
    at = NOW + timedelta(hours=5, minutes=17, seconds=3)
    policy = RetryPolicy(max_attempts=2, extra_callback_attempts=1)
    decision = decide(policy, 2, "human", "callback", at)
    assert decision.status is LeadStatus.PENDING and decision.next_attempt_at == at
    assert decide(policy, 3, "human", "callback", at).status is LeadStatus.EXHAUSTED


def test_policy_json_overrides_and_errors_name_the_field() -> None:
    policy = RetryPolicy.from_dict(
        {
            "max_attempts": 5,
            "delays_s": {"busy": 30},
            "final_outcomes": ["invalid_number", "rejected"],
        }
    )
    assert policy.max_attempts == 5 and policy.delays_s["busy"] == 30
    assert policy.delays_s["no_answer"] == 3600
    assert decide(policy, 1, "rejected").status is LeadStatus.DONE
    assert RetryPolicy.from_dict(policy.to_dict()) == policy
    with pytest.raises(ValidationError, match=r"retry_policy.delays_s.bored: not a call outcome"):
        RetryPolicy.from_dict({"delays_s": {"bored": 1}})
    with pytest.raises(ValidationError, match=r"retry_policy.max_attempts"):
        RetryPolicy.from_dict({"max_attempts": -1})
    with pytest.raises(ValidationError, match=r"final_dispositions: unknown \['happy'\]"):
        RetryPolicy.from_dict({"final_dispositions": ["happy"]})


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_token_bucket_caps_calls_per_second() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_s=2.0, burst=2.0, clock=clock)
    assert bucket.try_take() == 0.0
    assert bucket.try_take() == 0.0
    assert bucket.try_take() == pytest.approx(0.5)  # third call in the same instant must wait
    clock.now_s += 0.5
    assert bucket.try_take() == 0.0
    assert bucket.try_take() == pytest.approx(0.5)
    clock.now_s += 10  # a long pause refills only up to the burst
    taken = sum(bucket.try_take() == 0.0 for _ in range(5))
    assert taken == 2


def test_fair_share_follows_priority_and_caps() -> None:
    loads = [
        CampaignLoad(1, priority=3, active=0, max_concurrent=10),
        CampaignLoad(2, priority=1, active=0, max_concurrent=10),
    ]
    assert share_slots(4, loads) == {1: 3, 2: 1}
    assert share_slots(8, loads) == {1: 6, 2: 2}
    capped = [
        CampaignLoad(1, priority=3, active=0, max_concurrent=2),
        CampaignLoad(2, priority=1, active=0, max_concurrent=10),
    ]
    assert share_slots(8, capped) == {1: 2, 2: 6}
    busy = [
        CampaignLoad(1, priority=1, active=3, max_concurrent=10),
        CampaignLoad(2, priority=1, active=0, max_concurrent=10),
    ]
    assert share_slots(3, busy) == {2: 3}
    assert share_slots(0, loads) == {}
