"""Recording legs: the track writer's timeline, the ``record`` action, the folder's bounds.

The writer is driven by a clock the test sets (no waiting); the ``record`` action runs on
:class:`fakes.FakeCall` legs whose frames the test sends, so its ends (silence counted in
frames, the finish key, a hang-up) never depend on timing.
"""

from __future__ import annotations

import asyncio
import json
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from models.call import Call
from models.recording import Recording
from models.transactions import session_scope
from models.webhook import OutboxEvent
from robot.audio import AudioChunk
from robot.config import Settings, override_settings
from robot.control.actions import parse_actions
from robot.control.events import CallEvents
from robot.control.runner import ActionRunner, Leg
from robot.control.track_writer import TrackWriter
from robot.dialler.campaigns import get_or_create_tenant
from robot.errors import NotFoundError
from robot.recording_files import resolve_stored, stored_path
from tests.fakes import FakeCall, FakeTts, until

from fixtures.database import open_fresh_database

FRAME = 160


def tone_frame(hz: float = 500.0, level: float = 8000.0) -> AudioChunk:
    t = np.arange(FRAME) / 8000
    return AudioChunk((level * np.sin(2 * np.pi * hz * t)).astype("<i2").tobytes())


SILENT = AudioChunk(bytes(2 * FRAME))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def read(path: Path) -> np.ndarray:
    data, rate = sf.read(str(path), dtype="int16", always_2d=True)
    assert rate == 8000
    return np.asarray(data)


def test_two_tracks_stay_aligned_when_one_is_silent(tmp_path: Path) -> None:
    clock = Clock()
    writer = TrackWriter(tmp_path / "two.wav", 2, 2, clock=clock)
    for _ in range(100):  # 2 s of the caller; the other side sends nothing for 1.5 s
        clock.now += 0.02
        writer.push(0, tone_frame(level=1000))
        if clock.now > 1.5:
            writer.push(1, tone_frame(level=2000))
    writer.close()
    data = read(tmp_path / "two.wav")
    assert data.shape == (16000, 2)  # 2 s on both channels
    assert np.abs(data[:, 0]).max() > 900
    first_loud = int(np.argmax(np.abs(data[:, 1]) > 100))
    # The right channel's first frame lands where it arrived (1.5 s), not at the start.
    assert abs(first_loud - 1.5 * 8000) <= 2 * FRAME


def test_one_channel_mixes_both_tracks(tmp_path: Path) -> None:
    clock = Clock()
    writer = TrackWriter(tmp_path / "mix.wav", 2, 1, clock=clock)
    for _ in range(10):
        clock.now += 0.02
        writer.push(0, tone_frame(level=1000))
        writer.push(1, tone_frame(level=2000))
    writer.close()
    with wave.open(str(tmp_path / "mix.wav")) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (1, 8000)
    data = read(tmp_path / "mix.wav")[:, 0]
    assert len(data) == 10 * FRAME
    assert 2900 < np.abs(data).max() <= 3001  # the same tone at 1000 + 2000


def test_stored_paths_never_leave_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    (root / "control").mkdir(parents=True)
    inside = root / "control" / "a.wav"
    inside.write_bytes(b"RIFF")
    assert stored_path(root, inside) == "control/a.wav"
    assert resolve_stored(root, "control/a.wav") == inside.resolve()
    secret = tmp_path / "secret.wav"
    secret.write_bytes(b"x")
    (root / "link.wav").symlink_to(secret)
    for bad in ("../secret.wav", str(secret), "link.wav", "", "control/../../secret.wav"):
        with pytest.raises(NotFoundError):
            resolve_stored(root, bad)
    with pytest.raises(ValueError):
        stored_path(root, secret)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    for db in open_fresh_database("sqlite", tmp_path):
        yield db.engine


async def run_record(
    engine: Engine,
    actions: list[dict],
    feed: list[AudioChunk],
    *,
    key: str | None = None,
    starts: bool = True,
) -> tuple[object, FakeCall, CallEvents]:
    """Run ``actions``; once the recording listens (``starts``) send ``feed``, then ``key``."""
    tenant_id = get_or_create_tenant(engine, "acme")
    call = FakeCall(FakeTts(), call_id="in-1")
    events = CallEvents(engine, tenant_id, "call:in-1")
    leg = Leg(call, events.leg("call_in1", direction="inbound"))
    runner = ActionRunner(call, FakeTts(), leg=leg)
    task = asyncio.create_task(runner.run(parse_actions(actions)))
    if starts:
        await until(lambda: leg.listener is not None, "the recording to start")
    await call.send(feed)
    if key is not None:
        call.press(key)
    async with asyncio.timeout(20):
        result = await task
    await events.close()
    return result, call, events


def rows(engine: Engine) -> tuple[list[Recording], list[tuple[str, dict]]]:
    with Session(engine) as session:
        recordings = list(session.exec(select(Recording)).all())
        outbox = session.exec(select(OutboxEvent).order_by(OutboxEvent.id)).all()  # type: ignore[arg-type]
        return recordings, [(e.type, json.loads(e.body)["data"]) for e in outbox]


async def test_record_takes_the_message_until_silence(engine: Engine) -> None:
    feed = [tone_frame()] * 50 + [SILENT] * 60  # 1 s of voice, then 1.2 s of silence
    action = {"record": {"silence_timeout_s": 1.0, "beep": True}}
    result, call, _ = await run_record(engine, [action, {"say": {"text": "Thanks"}}], feed)
    (recorded,) = result.recordings  # type: ignore[attr-defined]
    assert recorded is not None and recorded.ended_by == "silence"
    assert len(call.played) == 2  # the beep, then the next action's prompt
    (row,), events = rows(engine)
    assert (row.source, row.channels, row.call_id) == ("record", 1, "call_in1")
    data = read(recorded.path)[:, 0]
    assert np.abs(data[: 50 * FRAME]).max() > 7000  # the caller's voice is in it
    completed = [d for kind, d in events if kind == "recording.completed"]
    assert completed == [
        {
            **completed[0],
            "recording_id": row.id,
            "ended_by": "silence",
            "source": "record",
            "sha256": row.sha256,
        }
    ]
    mine = sorted((d["seq"], kind) for kind, d in events if d["call_id"] == "call_in1")
    assert [seq for seq, _ in mine] == list(range(1, len(mine) + 1))
    assert [kind for _, kind in mine][-2:] == ["recording.completed", "call.completed"]


async def test_record_ends_on_the_finish_key_and_on_a_hang_up(engine: Engine) -> None:
    action = {"record": {"silence_timeout_s": 60, "finish_on_key": "#", "beep": False}}
    result, _, _ = await run_record(engine, [action], [tone_frame()] * 20, key="#")
    assert [r.ended_by for r in result.recordings] == ["finish_key"]  # type: ignore[attr-defined]

    tenant_id = get_or_create_tenant(engine, "acme")
    call = FakeCall(FakeTts(), call_id="in-2")
    events = CallEvents(engine, tenant_id, "call:in-2")
    leg = Leg(call, events.leg("call_in2"))
    runner = ActionRunner(call, FakeTts(), leg=leg)
    task = asyncio.create_task(runner.run(parse_actions([{"record": {"beep": False}}])))
    await until(lambda: leg.listener is not None, "the recording to start")
    await call.send([tone_frame()] * 5)
    call.hang_up()
    async with asyncio.timeout(20):
        outcome = await task
    await events.close()
    assert [r.ended_by if r else None for r in outcome.recordings] == ["hangup"]
    assert len(rows(engine)[0]) == 2


async def test_no_recording_past_the_tenants_quota(
    engine: Engine, tmp_path: Path, isolated_settings: Settings
) -> None:
    limited = isolated_settings.model_copy(
        update={"quotas": isolated_settings.quotas.model_copy(update={"max_stored_recordings": 1})}
    )
    override_settings(limited)
    tenant_id = get_or_create_tenant(engine, "acme")
    with session_scope(engine) as session:  # one call recording already stored
        session.add(Call(tenant_id=tenant_id, number="+12025550150", recording_path="c/1.wav"))
    actions = [{"record": {"beep": True}}]
    result, call, _ = await run_record(engine, actions, [tone_frame()] * 5, starts=False)
    assert result.recordings == [None]  # type: ignore[attr-defined]
    assert call.played == []  # no beep: nothing will be recorded
    assert rows(engine)[0] == []


async def test_the_conference_action_records_the_room_it_opens(tmp_path: Path) -> None:
    from robot.control.conference_rooms import ConferenceRooms

    rooms = ConferenceRooms(None, recording_dir=tmp_path / "rec", clocked=False)
    caller = FakeCall(FakeTts(), call_id="caller")
    actions = parse_actions([{"conference": {"name": "help", "beep": False, "record": True}}])
    task = asyncio.create_task(
        ActionRunner(caller, FakeTts(), conferences=rooms, tenant_id=7).run(actions)
    )
    await until(lambda: bool(rooms.list(7) and rooms.list(7)[0].conference.members), "joined")
    room = rooms.list(7)[0]
    assert room.record and room.conference.record_to is not None
    for _ in range(10):
        await caller.send([tone_frame()])
        await room.conference.tick()
    await room.conference.end("done")
    await task
    path = room.conference.record_to
    assert path.parent == tmp_path / "rec" / "control" / "7"
    assert len(read(path)) == 10 * FRAME
