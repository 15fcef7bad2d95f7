"""espeak-ng TTS (Debian package ``espeak-ng``): Russian and a light fallback for any language.

Each text is one ``espeak-ng --stdout`` run (a few ms of start-up); the WAV it prints is
parsed and resampled from espeak's 22.05 kHz to 8 kHz. Runs are independent processes, so
the synthesizer is safe to use from many threads.
"""

from __future__ import annotations

import io
import logging
import shutil
import subprocess
import wave
from collections.abc import Iterator

import numpy as np

from robot.audio import TELEPHONY_RATE_HZ, AudioChunk
from robot.errors import EngineError, MissingExtraError
from robot.speech.base import split_sentences

log = logging.getLogger(__name__)

ESPEAK_TIMEOUT_S = 30.0


def parse_wav_bytes(data: bytes, source: str) -> AudioChunk:
    """Parse a mono 16-bit WAV held in memory (``source`` names it in errors)."""
    # espeak-ng writes 0xFFFFFFFF as the sizes when its output is a pipe; fix them up.
    if len(data) >= 44 and data[:4] == b"RIFF":
        fixed = bytearray(data)
        fixed[4:8] = (len(data) - 8).to_bytes(4, "little")
        idx = data.find(b"data")
        if idx >= 0:
            fixed[idx + 4 : idx + 8] = (len(data) - idx - 8).to_bytes(4, "little")
        data = bytes(fixed)
    try:
        with wave.open(io.BytesIO(data)) as wav:
            if wav.getsampwidth() != 2:
                raise EngineError(f"{source}: expected 16-bit audio, got {wav.getsampwidth()} B")
            frames = wav.readframes(wav.getnframes())
            rate = wav.getframerate()
            channels = wav.getnchannels()
    except (wave.Error, EOFError) as e:
        raise EngineError(f"{source}: output is not a valid WAV: {e}") from e
    if channels > 1:
        samples = np.frombuffer(frames, dtype="<i2").reshape(-1, channels)
        frames = samples.mean(axis=1).astype("<i2").tobytes()
    return AudioChunk(frames, rate)


class EspeakSynthesizer:
    """espeak-ng voice for ``language`` (an espeak voice name: ``ru``, ``en-us``...)."""

    name = "espeak"
    sample_rate = TELEPHONY_RATE_HZ

    def __init__(
        self,
        language: str = "ru",
        *,
        voice: str | None = None,
        words_per_minute: int = 160,
        binary: str = "espeak-ng",
    ) -> None:
        path = shutil.which(binary)
        if path is None:
            raise MissingExtraError(
                "espeak-ng TTS", "speech", "the Debian package: apt-get install espeak-ng"
            )
        self.binary = path
        self.language = language
        self.voice_name = voice or language
        self.words_per_minute = words_per_minute
        self.version = self._version()
        self._check_voice()

    def _check_voice(self) -> None:
        try:
            listing = subprocess.run(
                [self.binary, "--voices"], capture_output=True, text=True, timeout=10
            ).stdout
        except (OSError, subprocess.SubprocessError) as e:
            raise EngineError(f"cannot list espeak-ng voices: {e}") from e
        known: set[str] = set()
        for line in listing.splitlines()[1:]:
            columns = line.split()
            if len(columns) >= 5:
                known.update(c.lower() for c in (columns[1], columns[3], columns[4]))
                known.add(columns[4].rsplit("/", 1)[-1].lower())
        base = self.voice_name.split("+", 1)[0].lower()
        if known and base not in known:
            raise EngineError(
                f"espeak-ng has no voice {self.voice_name!r} (see espeak-ng --voices)"
            )

    def _version(self) -> str:
        try:
            out = subprocess.run(
                [self.binary, "--version"], capture_output=True, text=True, timeout=10
            ).stdout
        except (OSError, subprocess.SubprocessError) as e:
            raise EngineError(f"cannot run {self.binary}: {e}") from e
        return out.strip().splitlines()[0] if out.strip() else "espeak-ng"

    def _run(self, text: str) -> AudioChunk:
        cmd = [
            self.binary,
            "--stdout",
            "-v",
            self.voice_name,
            "-s",
            str(self.words_per_minute),
            "-b",
            "1",
            "--",
            text,
        ]
        try:
            result = subprocess.run(cmd, capture_output=True, timeout=ESPEAK_TIMEOUT_S, check=False)
        except (OSError, subprocess.SubprocessError) as e:
            raise EngineError(f"espeak-ng failed to run: {e}") from e
        if result.returncode != 0 or not result.stdout:
            message = result.stderr.decode(errors="replace").strip()
            raise EngineError(
                f"espeak-ng (voice {self.voice_name!r}) exited {result.returncode}: {message}"
            )
        return parse_wav_bytes(result.stdout, f"espeak-ng voice {self.voice_name!r}")

    def synthesize(self, text: str) -> AudioChunk:
        if not text.strip():
            return AudioChunk(b"", TELEPHONY_RATE_HZ)
        log.debug("espeak: synthesizing %r", text)
        return self._run(text).resampled(TELEPHONY_RATE_HZ)

    def stream(self, text: str) -> Iterator[AudioChunk]:
        for sentence in split_sentences(text):
            yield self.synthesize(sentence)
