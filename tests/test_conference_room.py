"""Conference rooms with calls that play tones: who hears whom, mute, kick, moderator flags,
speaking events, recording and the two-party relay. The clock is driven frame by frame
(:meth:`Conference.tick`), so nothing here depends on the machine's speed."""

from __future__ import annotations

import wave
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from robot.audio import AudioChunk
from robot.carriers.base import CallState
from robot.control.conference import Conference, ConferenceEndedError, MemberOptions
from robot.control.mixer import FRAME_SAMPLES
from tests.fakes import FakeCall, FakeTts

RATE = 8000
TONES_HZ = (400, 700, 1000, 1300)
QUIET = MemberOptions(beep=False)


class Party:
    """A call that sends a continuous tone, one 20 ms frame per step, and keeps what it hears."""

    def __init__(self, index: int, hz: float | None, level: float = 0.2) -> None:
        self.call = FakeCall(FakeTts(), call_id=f"party-{index}")
        self.hz = hz
        self.level = level
        self.sent = 0

    def frame(self) -> AudioChunk:
        t = (np.arange(FRAME_SAMPLES) + self.sent * FRAME_SAMPLES) / RATE
        self.sent += 1
        if self.hz is None:
            return AudioChunk(bytes(2 * FRAME_SAMPLES))
        return AudioChunk.from_array(self.level * np.sin(2 * np.pi * self.hz * t), RATE)

    def heard(self, start: int = 0) -> np.ndarray:
        return np.concatenate([c.to_array() for c in self.call.played[start:]])


class Events(list[tuple[str, dict[str, Any]]]):
    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        self.append((str(kind), data))

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self]


def level_db(samples: np.ndarray, hz: float) -> float:
    """Level of ``hz`` in ``samples`` in dB of a full-scale sine (every tone here falls on an
    FFT bin of the windows measured, so nothing leaks)."""
    spectrum = 2 * np.abs(np.fft.rfft(samples.astype(np.float64))) / len(samples) / 32768
    return float(20 * np.log10(spectrum[round(hz * len(samples) / RATE)] + 1e-12))


async def step(room: Conference, parties: list[Party], frames: int = 1) -> None:
    for _ in range(frames):
        for party in parties:
            if party.call.state is not CallState.ENDED:
                await party.call.send([party.frame()])
        await room.tick()


def room_of(count: int, events: Events, **kwargs: Any) -> tuple[Conference, list[Party]]:
    room = Conference(1, "room", on_event=events, clocked=False, **kwargs)
    parties = [Party(i, TONES_HZ[i]) for i in range(count)]
    for party in parties:
        room.add(party.call, QUIET)
    return room, parties


@pytest.mark.parametrize("count", [3, 4])
async def test_each_party_hears_the_others_and_not_itself(count: int) -> None:
    events = Events()
    room, parties = room_of(count, events)
    await step(room, parties, 60)
    for party in parties:
        heard = party.heard(start=10)[: 50 * FRAME_SAMPLES]  # 1 s after the buffers filled
        others = [level_db(heard, p.hz) for p in parties if p is not party]
        assert max(others) - min(others) < 3.0
        assert level_db(heard, party.hz) < min(others) - 35.0
    assert events.kinds()[: count + 1].count("participant.joined") == count
    assert "conference.started" in events.kinds()
    await room.end()


async def test_a_muted_party_leaves_the_mix_within_two_frames() -> None:
    events = Events()
    room, parties = room_of(3, events)
    await step(room, parties, 20)
    mark = [len(p.call.played) for p in parties]
    room.set_muted(1, True)  # party 0 (400 Hz)
    await step(room, parties, 12)
    for party, start in zip(parties[1:], mark[1:], strict=True):
        after = party.heard(start + 2)[: 10 * FRAME_SAMPLES]
        other = parties[2].hz if party is parties[1] else parties[1].hz
        assert level_db(after, 400) < level_db(after, other) - 35.0
    muted_hears = parties[0].heard(mark[0] + 2)[: 10 * FRAME_SAMPLES]
    assert level_db(muted_hears, 700) > -30.0 and level_db(muted_hears, 1000) > -30.0
    assert ("participant.muted", 1) in [(k, d.get("participant_id")) for k, d in events]
    room.set_muted(1, False)
    await step(room, parties, 12)
    back = parties[1].heard(len(parties[1].call.played) - 10)
    assert level_db(back, 400) > -30.0
    assert "participant.unmuted" in events.kinds()
    await room.end()


async def test_kick_hangs_up_that_call_and_reports_it_left() -> None:
    events = Events()
    room, parties = room_of(3, events)
    await step(room, parties, 10)
    await room.kick(3)
    assert parties[2].call.state is CallState.ENDED
    left = [d for k, d in events if k == "participant.left"]
    assert left == [left[0]] and left[0]["participant_id"] == 3
    assert left[0]["reason"] == "kicked" and left[0]["call_id"] == "party-2"
    mark = len(parties[0].call.played)
    await step(room, parties[:2], 12)
    heard = parties[0].heard(mark + 2)
    assert level_db(heard, 1000) < level_db(heard, 700) - 35.0
    assert not room.ended.is_set() and sorted(room.members) == [1, 2]
    await room.end()


async def test_a_party_that_hangs_up_leaves_and_the_last_one_ends_the_room() -> None:
    events = Events()
    room, parties = room_of(2, events)
    await step(room, parties, 5)
    parties[0].call.hang_up()
    await step(room, parties[1:], 2)
    assert [d["reason"] for k, d in events if k == "participant.left"] == ["hangup"]
    parties[1].call.hang_up()
    await step(room, [], 2)
    await room.ended.wait()
    assert events.kinds()[-1] == "conference.ended" and room.end_reason == "empty"
    with pytest.raises(ConferenceEndedError):
        room.add(Party(9, 400).call, QUIET)


async def test_waiting_room_starts_with_the_moderator_and_ends_when_it_leaves() -> None:
    events = Events()
    room = Conference(1, "room", on_event=events, clocked=False)
    guest, dialled, moderator = Party(0, 400), Party(1, 700), Party(2, 1300)
    room.add(guest.call, MemberOptions(start_on_enter=False, beep=False))
    room.add(dialled.call, MemberOptions(start_on_enter=False, beep=False, hang_up_on_end=True))
    await step(room, [guest, dialled], 5)
    assert not room.started and guest.call.played == []  # waiting: nothing mixed
    room.add(moderator.call, MemberOptions(end_on_exit=True))
    assert events.kinds().count("conference.started") == 1
    await step(room, [guest, dialled, moderator], 15)
    beep = guest.heard(0)[: 10 * FRAME_SAMPLES]  # the entry beep (1 kHz) over the others
    assert level_db(beep, 1000) > -20.0
    await room.kick(3)
    await room.ended.wait()
    assert room.end_reason == "end_on_exit"
    reasons = {d["participant_id"]: d["reason"] for k, d in events if k == "participant.left"}
    assert reasons == {3: "kicked", 1: "conference_ended", 2: "conference_ended"}
    assert dialled.call.state is CallState.ENDED  # the room's own leg is hung up
    assert guest.call.state is CallState.ANSWERED  # a joined call goes on with its owner


async def test_speaking_events_follow_a_party_that_talks_and_stops() -> None:
    events = Events()
    room, parties = room_of(3, events)
    parties[1].hz = parties[2].hz = None  # silent
    await step(room, parties, 10)
    parties[0].hz = None
    await step(room, parties, 40)
    speaking = [(k, d["participant_id"]) for k, d in events if "speaking" in k]
    assert speaking == [
        ("participant.speaking_started", 1),
        ("participant.speaking_stopped", 1),
    ]
    await room.end()


async def test_in_band_keys_do_not_reach_the_others() -> None:
    events = Events()
    room, parties = room_of(3, events)
    parties[0].hz = None
    await step(room, parties, 5)
    t = np.arange(FRAME_SAMPLES * 5) / RATE
    key = 0.2 * np.sin(2 * np.pi * 852 * t) + 0.2 * np.sin(2 * np.pi * 1477 * t)
    mark = len(parties[1].call.played)
    for frame in AudioChunk.from_array(key, RATE).frames():
        await parties[0].call.send([frame])
        for party in parties[1:]:
            await party.call.send([party.frame()])
        await room.tick()
    await step(room, parties, 5)
    heard = parties[1].heard(mark)
    assert level_db(heard, 852) < -60.0 and level_db(heard, 1477) < -60.0
    await room.end()


async def test_recording_holds_the_whole_mix(tmp_path: Path) -> None:
    events = Events()
    room, parties = room_of(3, events, record_to=tmp_path / "mix.wav")
    await step(room, parties, 50)
    await room.end()
    with wave.open(str(tmp_path / "mix.wav")) as wav:
        assert (wav.getframerate(), wav.getnchannels()) == (8000, 1)
        assert wav.getnframes() == 50 * FRAME_SAMPLES
        mix = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    levels = [level_db(mix[-40 * FRAME_SAMPLES :], hz) for hz in TONES_HZ[:3]]
    assert max(levels) - min(levels) < 3.0 and min(levels) > -30.0
    completed = [d for k, d in events if k == "recording.completed"]
    assert completed == [{"conference_id": 1, "name": "room", "duration_ms": 1000}]
    assert events.kinds()[-1] == "conference.ended"


def _sip_like(index: int) -> Party:
    party = Party(index, TONES_HZ[index])
    party.call.rtp = SimpleNamespace(relay_to=None, queued_ms=0.0)  # type: ignore[attr-defined]
    return party


async def test_two_sip_parties_use_the_relay_and_a_third_moves_them_to_the_mixer() -> None:
    events = Events()
    room = Conference(1, "room", on_event=events, clocked=False)
    a, b, c = _sip_like(0), _sip_like(1), _sip_like(2)
    room.add(a.call, QUIET)
    room.add(b.call, QUIET)
    assert room.relayed and a.call.rtp.relay_to is b.call.rtp  # type: ignore[attr-defined]
    await step(room, [a, b], 5)
    assert a.call.played == []  # the relay carries the audio, not the mixer
    room.add(c.call, MemberOptions())  # with a beep: everyone is on the mixer at once
    assert not room.relayed and a.call.rtp.relay_to is None  # type: ignore[attr-defined]
    await step(room, [a, b, c], 12)
    assert len(a.call.played) == 12
    await room.kick(3)
    assert room.relayed and b.call.rtp.relay_to is a.call.rtp  # type: ignore[attr-defined]
    room.set_muted(1, True)
    assert not room.relayed  # a mute needs the mixer
    await room.end()
