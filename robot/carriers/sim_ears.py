"""Callees that know what the robot said without transcribing it.

A simulated callee that answers a read-back or a repeated question must first understand the
prompt; by default it transcribes the prompt's audio with Whisper, in threads of the robot's
own process (``sim_audio.transcribe_robot_prompt``). That is right for a demo, but a capacity
measurement would then charge the callees' ears to the robot. :class:`PromptIndex` gives the
callees the text instead: it notes every sentence the robot's voice synthesizes, and finds
those sentences, byte for byte, in the 8 kHz audio a callee heard (the simulated network
passes the robot's frames on unchanged). A prompt it cannot place (none seen here) is still
transcribed, and counted, so a measurement says how often that happened.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Any

import numpy as np

from robot.audio import FRAME_MS, TELEPHONY_RATE_HZ, AudioChunk
from robot.carriers.sim_audio import transcribe_robot_prompt

#: Length of audio that identifies a sentence, from its first sound (ms).
FINGERPRINT_MS = 300
#: A sample louder than this (of 32768) is the first sound of a sentence.
ONSET_LEVEL = 300


class PromptIndex:
    """Sentences the robot synthesized, found again in what a callee heard."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: fingerprint (the first FINGERPRINT_MS of sound) -> sentence text
        self._sentences: dict[bytes, str] = {}
        self._texts: set[str] = set()
        self.by_text = 0
        self.transcribed = 0

    def register(self, text: str, chunk: AudioChunk) -> None:
        """Note a synthesized sentence, as the simulated network will pass it on."""
        pcm = b"".join(f.pcm for f in chunk.resampled(TELEPHONY_RATE_HZ).frames(FRAME_MS))
        fingerprint = _fingerprint(pcm)
        if fingerprint:
            with self._lock:
                self._sentences[fingerprint] = text
                self._texts.add(text)

    def knows(self, text: str) -> bool:
        with self._lock:
            return text in self._texts

    def find(self, pcm: bytes) -> str | None:
        """The registered sentences found in ``pcm``, in the order heard, or None."""
        with self._lock:
            sentences = list(self._sentences.items())
        found = []
        for fingerprint, text in sentences:
            at = pcm.find(fingerprint)
            if at >= 0 and at % 2 == 0:
                found.append((at, text))
        if not found:
            return None
        return " ".join(text for _, text in sorted(found))

    def listen(self, pcm: bytes) -> Future[str]:
        """What a callee understood of a prompt (a ``PersonaConversation`` listener)."""
        text = self.find(pcm)
        if text is None:
            with self._lock:
                self.transcribed += 1
            return transcribe_robot_prompt(pcm)
        with self._lock:
            self.by_text += 1
        done: Future[str] = Future()
        done.set_result(text)
        return done

    def voice(self, tts: Any) -> IndexedVoice:
        """``tts`` with every sentence it gives out noted here."""
        return IndexedVoice(tts, self)

    def attach(self, engine: Any) -> PromptIndex:
        """Note what every call of ``engine`` (a ``robot.engine.CallEngine``) says, from now
        on: its sessions get their voice through :meth:`voice`. Returns this index."""
        build = engine.session_engines

        def session_engines(*args: Any, **kwargs: Any) -> Any:
            engines = build(*args, **kwargs)
            engines.tts = self.voice(engines.tts)
            return engines

        engine.session_engines = session_engines
        return self


class IndexedVoice:
    """A synthesizer that notes what it says in a :class:`PromptIndex` (same interface)."""

    def __init__(self, inner: Any, index: PromptIndex) -> None:
        self._inner = inner
        self._index = index

    def synthesize(self, text: str) -> AudioChunk:
        chunk: AudioChunk = self._inner.synthesize(text)
        self._index.register(text, chunk)
        return chunk

    def cached(self, text: str) -> AudioChunk | None:
        peek = getattr(self._inner, "cached", None)
        chunk: AudioChunk | None = peek(text) if peek is not None else None
        if chunk is not None and not self._index.knows(text):
            self._index.register(text, chunk)
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _fingerprint(pcm: bytes) -> bytes:
    samples = np.frombuffer(pcm, dtype="<i2")
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > ONSET_LEVEL)
    if loud.size == 0:
        return b""
    start = int(loud[0])
    length = TELEPHONY_RATE_HZ * FINGERPRINT_MS // 1000
    return samples[start : start + length].tobytes()
