"""Scripted fakes of a call's parts, for tests of turn-taking without models.

Callee audio carries its words in its samples: :func:`words` makes 20 ms frames whose every
sample is the word's code, :class:`FakeVad` calls a frame speech when any sample is non-zero,
and :class:`FakeRecognizer` reads the codes back as text. :class:`FakeCall` feeds the frames
the test gives it and keeps what the robot played; :class:`FakeTts` makes a distinct chunk per
sentence so the test can tell what the callee heard. Slowness is an :class:`threading.Event`
the test holds, never a sleep: nothing here depends on timing or CPU speed.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from robot.audio import AudioChunk
from robot.carriers.base import CallEvent, CallState, Signalling
from robot.speech.base import Transcript

RATE_HZ = 8000
FRAME_MS = 20
FRAME_SAMPLES = RATE_HZ * FRAME_MS // 1000

_codes: dict[str, int] = {}
_words_by_code: dict[int, str] = {}


def _code(word: str) -> int:
    if word not in _codes:
        code = len(_codes) + 1000
        _codes[word] = code
        _words_by_code[code] = word
    return _codes[word]


def words(text: str, word_ms: int = 300) -> list[AudioChunk]:
    """Frames of the callee saying ``text`` (each word ``word_ms`` long, no gaps)."""
    frames: list[AudioChunk] = []
    for word in text.split():
        pcm = struct.pack("<h", _code(word)) * FRAME_SAMPLES
        frames += [AudioChunk(pcm, RATE_HZ) for _ in range(word_ms // FRAME_MS)]
    return frames


def quiet(ms: int) -> list[AudioChunk]:
    return [AudioChunk(b"\x00\x00" * FRAME_SAMPLES, RATE_HZ) for _ in range(ms // FRAME_MS)]


def said(audio: AudioChunk) -> str:
    """The words in ``audio`` (frames made by :func:`words`), in order."""
    out: list[str] = []
    for (sample,) in struct.iter_unpack("<h", audio.pcm[: len(audio.pcm) // 2 * 2]):
        word = _words_by_code.get(sample)
        if word is not None and (not out or out[-1] != word):
            out.append(word)
    return " ".join(out)


@dataclass(frozen=True)
class VadFrame:
    start_ms: float
    end_ms: float
    is_speech: bool


class FakeVad:
    """Speech wherever a frame has a non-zero sample."""

    def __init__(self) -> None:
        self.position_ms = 0.0

    def process(self, chunk: AudioChunk) -> list[VadFrame]:
        start = self.position_ms
        self.position_ms += chunk.duration_ms
        return [VadFrame(start, self.position_ms, any(chunk.pcm))]


class FakeRecognizer:
    """Reads the words back (``<noise>`` words read as nothing); blocks while ``gate`` is
    clear (a busy engine)."""

    name = "fake"
    language = "en"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.heard: list[str] = []
        self.finished: list[str] = []
        self._lock = threading.Lock()

    def transcribe(self, audio: AudioChunk, *, hints: Sequence[str] = ()) -> Transcript:
        text = said(audio)
        with self._lock:
            self.heard.append(text)
        self.gate.wait()
        with self._lock:
            self.finished.append(text)
        text = " ".join(w for w in text.split() if not w.startswith("<"))
        return Transcript(text, 0.9 if text else 0.0, audio.duration_ms, engine=self.name)


class FakeTts:
    """A distinct 100 ms chunk per sentence; :meth:`text_of` tells which sentence it was."""

    def __init__(self) -> None:
        self._texts: dict[bytes, str] = {}
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def synthesize(self, text: str) -> AudioChunk:
        with self._lock:
            pcm = struct.pack("<h", next(self._counter)) * (RATE_HZ // 10)
            self._texts[pcm] = text
        return AudioChunk(pcm, RATE_HZ)

    def text_of(self, chunk: AudioChunk) -> str:
        return self._texts.get(chunk.pcm, "?")


class ToneTts:
    """Speech as a loud 440 Hz tone, 40 ms per character: a sim persona hears it as a prompt."""

    def __init__(self, ms_per_char: int = 40, max_ms: int = 3000) -> None:
        self.ms_per_char = ms_per_char
        self.max_ms = max_ms
        self.texts: list[str] = []

    def synthesize(self, text: str) -> AudioChunk:
        import numpy as np

        self.texts.append(text)
        samples = RATE_HZ * min(self.max_ms, self.ms_per_char * len(text)) // 1000
        tone = 8000 * np.sin(2 * np.pi * 440 * np.arange(samples) / RATE_HZ)
        return AudioChunk(tone.astype("<i2").tobytes(), RATE_HZ)


@dataclass
class FakeCall:
    """A call the test drives: it answers at once, sends the frames given to :meth:`send`,
    plays robot audio instantly unless ``playback`` is held (cleared)."""

    tts: FakeTts
    call_id: str = "fake-call"
    signalling: Signalling = field(default_factory=Signalling)
    played: list[AudioChunk] = field(default_factory=list)
    stopped: int = 0
    transfers: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.playback = asyncio.Event()
        self.playback.set()
        self._audio: asyncio.Queue[AudioChunk | None] = asyncio.Queue()
        self._events: asyncio.Queue[CallEvent | None] = asyncio.Queue()
        self._events.put_nowait(CallEvent("answered", 0.0))
        self.signalling.final_status, self.signalling.answer_ms = 200, 0.0  # a plain 200 OK
        self._state = CallState.ANSWERED

    @property
    def state(self) -> CallState:
        return self._state

    def heard(self) -> list[str]:
        """What the callee heard the robot say, sentence by sentence."""
        return [self.tts.text_of(chunk) for chunk in self.played]

    async def send(self, frames: list[AudioChunk], *, wait: bool = True) -> None:
        """Send callee frames and (``wait``) wait until the session has taken every one."""
        for frame in frames:
            self._audio.put_nowait(frame)
        if wait:
            await self._audio.join()

    def press(self, digit: str) -> None:
        self._events.put_nowait(CallEvent("dtmf", 0.0, digit=digit))

    def hang_up(self) -> None:
        self._events.put_nowait(CallEvent("hangup", 0.0, by="remote"))
        self._audio.put_nowait(None)

    async def audio(self) -> AsyncIterator[AudioChunk]:
        while (frame := await self._audio.get()) is not None:
            yield frame  # resumes when the listener asks for the next frame: this one is done
            self._audio.task_done()

    async def events(self) -> AsyncIterator[CallEvent]:
        while (event := await self._events.get()) is not None:
            yield event
            if event.kind in ("hangup", "failed"):
                return

    async def play(self, chunk: AudioChunk) -> None:
        self.played.append(chunk)

    def stop_playback(self) -> float:
        self.stopped += 1
        self.playback.set()
        return 0.0

    async def playback_done(self) -> None:
        await self.playback.wait()

    async def send_dtmf(self, digits: str) -> None:
        pass

    async def transfer(self, target: str, *, bridged: bool = False) -> None:
        self.transfers.append(target)

    async def hangup(self, reason: str | None = None) -> None:
        self._state = CallState.ENDED
        self._audio.put_nowait(None)
        self._events.put_nowait(None)


@dataclass
class FakeObserver:
    """Counts what a session reports (``robot.session_metrics.SessionObserver``)."""

    latencies: list[float] = field(default_factory=list)
    decode_waits: list[float] = field(default_factory=list)
    late: int = 0

    def on_turn_latency(self, ms: float) -> None:
        self.latencies.append(ms)

    def on_decode_wait(self, ms: float) -> None:
        self.decode_waits.append(ms)

    def on_late_decode(self) -> None:
        self.late += 1


async def until(condition: Callable[[], bool], what: str, limit_s: float = 30.0) -> None:
    """Let the loop run until ``condition`` holds (``limit_s`` only guards against a hang)."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + limit_s
    while not condition():
        if loop.time() > give_up:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.005)


@dataclass(frozen=True)
class FakeVerdict:
    verdict: str
    decision_ms: float = 100.0
    reason: str = "scripted"


class FakeDetector:
    """Answers ``verdict`` at the first frame; blocks while ``gate`` is clear (busy)."""

    def __init__(self, verdict: str = "human") -> None:
        self.verdict = verdict
        self.gate = threading.Event()
        self.gate.set()

    def feed(self, chunk: AudioChunk) -> FakeVerdict | None:
        self.gate.wait()
        return FakeVerdict(self.verdict)

    def finish(self) -> FakeVerdict:
        return FakeVerdict(self.verdict)
