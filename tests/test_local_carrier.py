"""The ``local://`` carrier (microphone and speaker).

This machine has no sound card, so the device is a stand-in that behaves like one: reads
and writes block for the real time of the audio, and the "person" at the microphone answers
each robot prompt after it ends. The robot side is the real one: Piper, Whisper, the VAD,
the dialogue manager and the call session.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from dialogues.loader import load_script_text
from robot.audio import AudioChunk
from robot.carriers.base import CallState
from robot.carriers.factory import create_carrier
from robot.carriers.local import LocalCarrier
from robot.config import Settings
from robot.engine import CallEngine
from robot.errors import CarrierError, ConfigError, MissingExtraError
from robot.speech.espeak import EspeakSynthesizer

SCRIPT = """\
script: local_check
start: hello
intents:
  affirm: [yes, yeah, sure, yes please, yes that would be great]
  deny: [no, nope, no thanks, not really]
states:
  hello:
    ask: Hello, this is a short test call. Would you like us to call you back tomorrow?
    on:
      affirm: yes_end
      deny: no_end
  yes_end:
    say: Great, we will call you tomorrow. Goodbye.
    disposition: callback
    end: true
  no_end:
    say: All right. Goodbye.
    disposition: not_interested
    end: true
"""


class ListeningDevice:
    """A sound card with a person at it who answers after each robot prompt ends."""

    def __init__(self, answer: AudioChunk, rate: int = 16000) -> None:
        self.rate = rate
        self._answer = answer.resampled(rate).pcm
        self._speaking = b""
        self._lock = threading.Lock()
        self._heard_speech_ms = 0.0
        self._quiet_ms = 0.0
        self.answered = 0
        self.played = bytearray()
        self.closed = False

    def read(self, frames: int) -> bytes:
        time.sleep(frames / self.rate)
        size = frames * 2
        with self._lock:
            out, self._speaking = self._speaking[:size], self._speaking[size:]
        return out.ljust(size, b"\x00")

    def write(self, pcm: bytes) -> None:
        time.sleep(len(pcm) / 2 / self.rate)
        self.played.extend(pcm)
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        loud = samples.size > 0 and float(np.sqrt(np.mean(samples**2))) > 100
        ms = 1000.0 * samples.size / self.rate
        with self._lock:
            if loud:
                self._heard_speech_ms += ms
                self._quiet_ms = 0.0
            else:
                self._quiet_ms += ms
            # A prompt ended: answer it once, as a person would after a short pause.
            if self._heard_speech_ms > 1500 and self._quiet_ms >= 700 and not self._speaking:
                if self.answered == 0:
                    self._speaking = self._answer
                    self.answered += 1
                self._heard_speech_ms = 0.0

    def close(self) -> None:
        self.closed = True


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> CallEngine:
    return CallEngine(settings=Settings(data_dir=tmp_path_factory.mktemp("engine")))


@pytest.mark.slow
async def test_a_person_at_the_sound_card_talks_to_the_robot(engine: CallEngine) -> None:
    answer = EspeakSynthesizer("en").synthesize("Yes please, that would be great.")
    device = ListeningDevice(answer)
    carrier = LocalCarrier(lambda: device)
    loaded = load_script_text(SCRIPT, filename="local_check.yaml")
    report = await asyncio.wait_for(engine.call(carrier, "local", loaded), timeout=120)
    await carrier.close()
    assert report.error is None, report.error
    assert (report.outcome, report.disposition) == ("human", "callback")
    callee = [t.text for t in report.transcript if t.who == "callee"]
    # Whisper writes the answer out; the short-answer grammar hears one of its yes-words.
    assert any(w in text.lower() for text in callee for w in ("yes", "yeah", "yep")), callee
    assert device.answered == 1
    played = np.frombuffer(bytes(device.played), dtype="<i2").astype(np.float64)
    frames = played[: played.size // 320 * 320].reshape(-1, 320)
    speech_s = float(np.sum(np.sqrt(np.mean(frames**2, axis=1)) > 100)) * 0.02
    assert speech_s > 3.0  # the question and the goodbye reached the speaker
    assert device.closed


async def test_playback_is_paced_dropped_on_barge_in_and_ends_with_the_call() -> None:
    device = ListeningDevice(AudioChunk(b"", 8000), rate=8000)
    carrier = LocalCarrier(lambda: device)
    call = await carrier.dial("local")
    events = call.events()
    assert [(await anext(events)).kind for _ in range(2)] == ["ringing", "answered"]
    assert call.signalling.final_status == 200
    with pytest.raises(CarrierError, match="one sound card"):
        await carrier.dial("local")
    tone = (np.sin(np.arange(8000 * 2) * 2 * np.pi * 440 / 8000) * 8000).astype("<i2")
    await call.play(AudioChunk(tone.tobytes(), 8000))
    await asyncio.sleep(0.3)
    dropped = call.stop_playback()
    assert 1000 < dropped < 2000  # paced in real time: most of the 2 s was still queued
    await call.playback_done()
    frames = [chunk async for chunk in _take(call.audio(), 5)]
    assert all(len(f.pcm) == 320 and f.rate == 8000 for f in frames)
    await call.hangup()
    assert call.state == CallState.ENDED and device.closed
    assert (await anext(events)).kind == "hangup"
    assert call.signalling.hangup_by == "local"


async def _take(stream: AsyncIterator[AudioChunk], n: int) -> AsyncIterator[AudioChunk]:
    async for item in stream:
        yield item
        n -= 1
        if n == 0:
            return


async def test_urls_and_a_missing_sound_library_give_clear_errors() -> None:
    assert isinstance(create_carrier("local://?rate=48000&input=1&output=2"), LocalCarrier)
    with pytest.raises(ConfigError, match="rate must be a number"):
        create_carrier("local://?rate=fast")
    with pytest.raises(ConfigError, match="unknown option 'volume'"):
        create_carrier("local://?volume=11")
    with pytest.raises(ConfigError, match="8000 to 192000"):
        create_carrier("local://?rate=100")
    try:
        import pyaudio  # noqa: F401
    except ImportError:
        with pytest.raises(MissingExtraError, match=r"callrobot\[local\]"):
            await create_carrier("local://").dial("local")
