"""A stand-in for the call session: plays canned robot audio into a call and records both
streams. Tests, benchmarks and QA use it to exercise a carrier without the dialogue engine.

    driver = RobotDriver(await carrier.dial("+12025550101"), stop_on_speech=True)
    await driver.answered()
    await driver.say(prompt)          # queued, paced by the carrier, stopped on barge-in
    await call.hangup(); await driver.ended()
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from robot.audio import AudioChunk
from robot.carriers.base import Call, CallEvent, CallState, Signalling
from robot.carriers.sim_audio import frame_rms

#: Callee frames above this RMS count as speech for ``stop_on_speech``.
CALLEE_SPEECH_RMS = 300.0
GUARD_S = 30.0


async def wait_until(condition: Callable[[], bool], timeout_s: float = GUARD_S) -> None:
    """Poll ``condition()`` every 20 ms until it holds (TimeoutError after ``timeout_s``)."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.02)


def message_sequence(signalling: Signalling) -> list[int | str | None]:
    """Statuses and request methods in arrival order: ``[100, 180, 200, 'BYE']``."""
    return [m.status if m.method is None else m.method for m in signalling.messages]


class RobotDriver:
    """Reads a call's audio and events in the background and plays canned robot prompts.

    With ``stop_on_speech`` it stops playback at the first loud callee frame while a prompt
    plays, as a session does on barge-in; ``dropped_ms`` keeps what each stop dropped.
    """

    def __init__(self, call: Call, *, stop_on_speech: bool = False) -> None:
        self.call = call
        self.stop_on_speech = stop_on_speech
        self.frames: list[AudioChunk] = []
        self.events: list[CallEvent] = []
        self.dropped_ms: list[float] = []
        self.playing = False
        self._tasks = [
            asyncio.create_task(self._read_audio()),
            asyncio.create_task(self._read_events()),
        ]

    async def _read_audio(self) -> None:
        async for frame in self.call.audio():
            self.frames.append(frame)
            if self.stop_on_speech and self.playing and frame_rms(frame.pcm) > CALLEE_SPEECH_RMS:
                self.playing = False
                self.dropped_ms.append(self.call.stop_playback())

    async def _read_events(self) -> None:
        async for event in self.call.events():
            self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    async def answered(self, timeout_s: float = GUARD_S) -> None:
        """Wait for the answer (or the end of a call that was never answered)."""
        await wait_until(
            lambda: "answered" in self.kinds() or self.call.state == CallState.ENDED, timeout_s
        )

    async def say(self, prompt: AudioChunk) -> None:
        """Play one prompt and wait until it was sent (or dropped)."""
        self.playing = True
        await self.call.play(prompt)
        await self.call.playback_done()
        self.playing = False

    async def ended(self, timeout_s: float = GUARD_S) -> None:
        """Wait until both streams have ended."""
        async with asyncio.timeout(timeout_s):
            await asyncio.gather(*self._tasks)
