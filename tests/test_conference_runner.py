"""The runner's ``conference`` action: the call joins the named room and goes on after it."""

from __future__ import annotations

import asyncio

import numpy as np

from robot.audio import AudioChunk
from robot.control.actions import parse_actions
from robot.control.conference import MemberOptions
from robot.control.conference_rooms import ConferenceRooms
from robot.control.runner import ActionRunner
from tests.fakes import FakeCall, FakeTts


async def test_conference_action_joins_the_room_and_continues_when_it_ends() -> None:
    rooms = ConferenceRooms(None, clocked=False)
    tts = FakeTts()
    caller = FakeCall(tts, call_id="caller")
    actions = parse_actions(
        [{"conference": {"name": "support", "beep": False}}, {"say": {"text": "bye"}}]
    )
    runner = ActionRunner(caller, tts, conferences=rooms, tenant_id=7)
    task = asyncio.create_task(runner.run(actions))
    async with asyncio.timeout(10):
        while not rooms.list(7) or not rooms.list(7)[0].conference.members:
            await asyncio.sleep(0)
    room = rooms.named(7, "support")
    assert rooms.list(8) == []  # another tenant's room of that name would be another room
    agent = FakeCall(tts, call_id="agent")
    room.conference.add(agent, MemberOptions(beep=False))

    t = np.arange(160 * 12) / 8000
    tone = AudioChunk.from_array(0.3 * np.sin(2 * np.pi * 600 * t), 8000)
    for frame in tone.frames():
        await caller.send([frame])
        await agent.send([AudioChunk(bytes(320))])
        await room.conference.tick()
    heard = np.concatenate([c.to_array() for c in agent.played[2:]])
    spectrum = np.abs(np.fft.rfft(heard.astype(np.float64)))
    assert abs(np.argmax(spectrum) * 8000 / len(heard) - 600) < 10

    await room.conference.end("done")
    result = await task
    assert result.conferences == ["conference_ended"]
    assert tts.text_of(caller.played[-1]) == "bye"
    assert result.ended_by == "end_of_list"
