"""Static prompt cache: a script's fixed sentences are synthesized once, then replayed.

Two levels: an in-memory LRU of :class:`AudioChunk` and a disk folder of WAV files
(``cache_dir/tts``) that survives restarts. The key is the SHA-256 of (engine name,
engine version, voice, output rate, text), so a new engine version or voice never replays
stale audio. Concurrent requests for the same prompt synthesize it only once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import threading
import wave
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from robot.audio import SAMPLE_WIDTH_BYTES, AudioChunk
from robot.speech.base import Synthesizer, speech_executor

log = logging.getLogger(__name__)


@dataclass(slots=True)
class PromptCacheStats:
    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0


def prompt_key(synthesizer: Synthesizer, text: str) -> str:
    """SHA-256 hex key of what determines a prompt's audio."""
    identity = [
        synthesizer.name,
        str(getattr(synthesizer, "version", "")),
        str(getattr(synthesizer, "voice_name", "")),
        synthesizer.sample_rate,
        text,
    ]
    return hashlib.sha256(json.dumps(identity, ensure_ascii=False).encode()).hexdigest()


class PromptCache:
    """Memory LRU (``max_entries``) over an optional disk folder of WAV files."""

    def __init__(self, directory: Path | None, *, max_entries: int = 256) -> None:
        self.directory = directory
        self.max_entries = max_entries
        self.stats = PromptCacheStats()
        self._memory: OrderedDict[str, AudioChunk] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / key[:2] / f"{key}.wav"

    def _remember(self, key: str, audio: AudioChunk) -> None:
        with self._lock:
            self._memory[key] = audio
            self._memory.move_to_end(key)
            while len(self._memory) > self.max_entries:
                self._memory.popitem(last=False)

    def _from_memory(self, key: str) -> AudioChunk | None:
        with self._lock:
            audio = self._memory.get(key)
            if audio is not None:
                self._memory.move_to_end(key)
                self.stats.memory_hits += 1
            return audio

    def _from_disk(self, key: str) -> AudioChunk | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            with wave.open(str(path), "rb") as wav:
                if wav.getsampwidth() != SAMPLE_WIDTH_BYTES or wav.getnchannels() != 1:
                    raise wave.Error("not 16-bit mono")
                audio = AudioChunk(wav.readframes(wav.getnframes()), wav.getframerate())
        except (wave.Error, EOFError, OSError) as e:
            log.warning("prompt cache file %s is unreadable (%s); synthesizing again", path, e)
            return None
        with self._lock:
            self.stats.disk_hits += 1
        return audio

    def _to_disk(self, key: str, audio: AudioChunk) -> None:
        path = self._path(key)
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.partial")
            with wave.open(str(partial), "wb") as wav:
                wav.setnchannels(1)
                wav.setsampwidth(SAMPLE_WIDTH_BYTES)
                wav.setframerate(audio.rate)
                wav.writeframes(audio.pcm)
            partial.replace(path)
        except OSError as e:
            log.warning("cannot write prompt cache file %s: %s", path, e)

    def peek(self, synthesizer: Synthesizer, text: str) -> AudioChunk | None:
        """The prompt's audio if it is in memory now; never synthesizes or reads disk."""
        return self._from_memory(prompt_key(synthesizer, text))

    def get(self, synthesizer: Synthesizer, text: str) -> AudioChunk:
        """The prompt's audio: from memory, else disk, else synthesized now (blocking)."""
        key = prompt_key(synthesizer, text)
        audio = self._from_memory(key)
        if audio is not None:
            return audio
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # a second caller for the same prompt waits for the first
            audio = self._from_memory(key)
            if audio is not None:
                return audio
            audio = self._from_disk(key)
            if audio is None:
                with self._lock:
                    self.stats.misses += 1
                log.debug("prompt cache miss, synthesizing %r", text)
                audio = synthesizer.synthesize(text)
                self._to_disk(key, audio)
            self._remember(key, audio)
        with self._lock:
            self._key_locks.pop(key, None)
        return audio

    async def get_async(self, synthesizer: Synthesizer, text: str) -> AudioChunk:
        key = prompt_key(synthesizer, text)
        audio = self._from_memory(key)
        if audio is not None:
            return audio
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(speech_executor(), self.get, synthesizer, text)

    def warm(self, synthesizer: Synthesizer, texts: Iterable[str]) -> int:
        """Synthesize (or load) every text now; returns how many prompts are ready."""
        count = 0
        for text in dict.fromkeys(texts):
            self.get(synthesizer, text)
            count += 1
        return count
