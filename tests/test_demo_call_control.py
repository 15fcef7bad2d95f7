"""``callrobot demo --call-control``: both scenes run on the simulated network with real
speech, and the receiver gets every leg's events, signed and in ``seq`` order."""

from __future__ import annotations

from collections import defaultdict

import pytest

from robot.cli.demo_control import event_line, run_call_control_demo
from robot.config import Settings

pytestmark = pytest.mark.slow


async def test_masked_call_and_callback_events_arrive_in_order(
    isolated_settings: Settings,
) -> None:
    events = await run_call_control_demo()
    seqs: dict[str, list[int]] = defaultdict(list)
    for event in events:
        seqs[event["data"]["call_id"]].append(event["data"]["seq"])
    assert all(s == list(range(1, len(s) + 1)) for s in seqs.values()), seqs
    masked = [e for e in events if "callback_id" not in e["data"]]
    callback = [e for e in events if "callback_id" in e["data"]]
    # The masked call: the rider's leg and the driver's, bridged; the rider hung up.
    bridged = {e["data"]["call_id"] for e in masked if e["type"] == "call.bridged"}
    assert len(bridged) == 2
    (dial,) = [e["data"] for e in masked if e["type"] == "dial.completed"]
    assert [t["outcome"] for t in dial["targets"]] == ["bridged"]
    # The callback: the customer pressed 1 after the whisper, then both legs were bridged.
    by_leg = {(e["data"].get("leg"), e["type"]) for e in callback}
    assert ("b", "dtmf.received") in by_leg and ("a", "dial.completed") in by_leg
    assert {("a", "call.bridged"), ("b", "call.bridged")} <= by_leg
    lines = [event_line(e) for e in events]
    assert any("callback" in line and "dtmf.received" in line for line in lines)
