"""Sounds of the simulated network: persona voices, tones and background noise (8 kHz PCM).

Persona speech is synthesized once per (voice, text) and kept in a process-wide LRU cache of
futures, so two calls asking for the same line at once share one synthesis. Synthesis runs in
its own executor (``sim-persona`` in :mod:`robot.executors`, not the robot's speech pool),
never on the loop.

Piper persona voices are the packaged Piper voice pitch-shifted by resampling: synthesized
with ``length_scale = pitch / speed`` and then played ``pitch`` times faster, which raises the
pitch by ``pitch`` and leaves the tempo at ``speed``. Whisper tiny.en transcribes pitches
0.88-1.45 about as well as the unshifted voice (checked on the bundled personas' lines).
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from functools import lru_cache
from typing import Any

import numpy as np

from robot.audio import (
    FRAME_MS,
    SAMPLE_WIDTH_BYTES,
    TELEPHONY_RATE_HZ,
    AudioChunk,
    read_wav,
    silence,
)
from robot.carriers.personas import Noise, PersonaVoice
from robot.executors import executors

log = logging.getLogger(__name__)

FRAME_SAMPLES = TELEPHONY_RATE_HZ * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * SAMPLE_WIDTH_BYTES
SILENCE_FRAME = b"\x00" * FRAME_BYTES
#: Speech level the noise SNR is measured against (dBFS, RMS).
NOMINAL_SPEECH_DBFS = -20.0
#: Special Information Tone, "vacant code" (ITU-T E.180 / ANSI T1.401): (Hz, ms).
SIT_SEGMENTS = ((913.8, 274), (1370.6, 274), (1776.7, 380))
SIT_LEVEL_DBFS = -16.0
NOISE_BED_S = 6.0
#: Persona lines kept synthesized (process-wide).
SPEECH_CACHE_ENTRIES = 512
ESPEAK_BASE_WPM = 160
#: Pause between the files of one recorded line (ms).
RECORDING_GAP_MS = 150

_cache_lock = threading.Lock()
_speech_cache: OrderedDict[tuple[PersonaVoice, str], Future[AudioChunk]] = OrderedDict()


def persona_executor() -> ThreadPoolExecutor:
    """The simulated callees' own synthesis threads (``executors().get("sim-persona")``).

    Kept apart from the robot's speech pool: on a real network the callee's voice costs the
    robot nothing, so the simulation must not queue the robot's prompts behind it.
    """
    return executors().get("sim-persona")


def persona_speech(voice: PersonaVoice, text: str) -> Future[AudioChunk]:
    """8 kHz speech of ``text`` in ``voice``: a cached future, synthesizing on first request."""
    key = (voice, text)
    with _cache_lock:
        future = _speech_cache.get(key)
        failed = future is not None and future.done() and future.exception() is not None
        if future is not None and not failed:
            _speech_cache.move_to_end(key)
            return future
        future = persona_executor().submit(synthesize_persona_speech, voice, text)
        _speech_cache[key] = future
        while len(_speech_cache) > SPEECH_CACHE_ENTRIES:
            _speech_cache.popitem(last=False)
        return future


def synthesize_persona_speech(voice: PersonaVoice, text: str) -> AudioChunk:
    """Synthesize ``text`` in ``voice`` (blocking; 8 kHz)."""
    if voice.engine == "recording":
        gap = silence(RECORDING_GAP_MS).pcm
        pieces = [read_wav(path, TELEPHONY_RATE_HZ).pcm for path in voice.recording_files(text)]
        chunk = AudioChunk(gap.join(pieces), TELEPHONY_RATE_HZ)
    elif voice.engine == "espeak":
        audio = _espeak(voice.variant or "en-us", round(ESPEAK_BASE_WPM * voice.speed))
        chunk = audio.synthesize(text)
    else:
        piper = _piper(round(voice.pitch / voice.speed, 4))
        chunk = piper.synthesize(text)
        if voice.pitch != 1.0:
            shifted_rate = round(TELEPHONY_RATE_HZ * voice.pitch)
            chunk = AudioChunk(chunk.pcm, shifted_rate).resampled(TELEPHONY_RATE_HZ)
    if voice.gain != 1.0:
        samples = chunk.to_array().astype(np.float32) * voice.gain
        chunk = AudioChunk(np.clip(samples, -32768, 32767).astype("<i2").tobytes(), chunk.rate)
    log.debug("persona voice %s: %.0f ms for %r", voice.engine, chunk.duration_ms, text)
    return chunk


@lru_cache(maxsize=8)
def _piper(length_scale: float) -> Any:
    from robot.speech.piper import PiperSynthesizer

    return PiperSynthesizer(length_scale=length_scale)


@lru_cache(maxsize=8)
def _espeak(variant: str, words_per_minute: int) -> Any:
    from robot.speech.espeak import EspeakSynthesizer

    return EspeakSynthesizer("en", voice=variant, words_per_minute=words_per_minute)


@lru_cache(maxsize=1)
def _listener() -> Any:
    from robot.speech.whisper import WhisperRecognizer

    return WhisperRecognizer()


def transcribe_robot_prompt(pcm: bytes) -> Future[str]:
    """What a listening persona understood of a robot prompt (8 kHz PCM; English Whisper
    tiny.en, in the persona threads: the callee's ears cost the robot nothing)."""

    def run() -> str:
        text: str = _listener().transcribe(AudioChunk(pcm, TELEPHONY_RATE_HZ)).text
        return text

    return persona_executor().submit(run)


def frame_rms(pcm: bytes) -> float:
    """RMS of 16-bit PCM (0..32768)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    return float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0


def tone(freq_hz: float, duration_ms: float, level_dbfs: float) -> bytes:
    """A sine tone as 8 kHz PCM, with 5 ms ramps so it starts and stops without clicks."""
    n = int(TELEPHONY_RATE_HZ * duration_ms / 1000)
    t = np.arange(n) / TELEPHONY_RATE_HZ
    amplitude = 32767.0 * math.sqrt(2.0) * 10 ** (level_dbfs / 20.0)
    wave = np.sin(2 * np.pi * freq_hz * t) * min(amplitude, 32767.0)
    ramp = min(n // 2, TELEPHONY_RATE_HZ * 5 // 1000)
    if ramp:
        envelope = np.linspace(0.0, 1.0, ramp)
        wave[:ramp] *= envelope
        wave[-ramp:] *= envelope[::-1]
    return wave.astype("<i2").tobytes()


def sit_tones() -> bytes:
    """The three rising SIT segments played before a 'not in service' announcement."""
    return b"".join(tone(freq, ms, SIT_LEVEL_DBFS) for freq, ms in SIT_SEGMENTS)


def noise_bed(noise: Noise, seed: int) -> np.ndarray:
    """A loopable stretch of white or pink noise (int32 samples) at the persona's SNR."""
    rng = np.random.default_rng(seed)
    n = int(NOISE_BED_S * TELEPHONY_RATE_HZ)
    white = rng.standard_normal(n)
    if noise.color == "pink":  # shape the spectrum to 1/f power
        spectrum = np.fft.rfft(white)
        freqs = np.fft.rfftfreq(n, 1.0 / TELEPHONY_RATE_HZ)
        freqs[0] = freqs[1]
        samples = np.fft.irfft(spectrum / np.sqrt(freqs), n)
    else:
        samples = white
    target_rms = 32768.0 * 10 ** ((NOMINAL_SPEECH_DBFS - noise.snr_db) / 20.0)
    samples = samples / (np.sqrt(np.mean(samples**2)) or 1.0) * target_rms
    return np.clip(samples, -32768, 32767).astype(np.int32)


def speech_pcm(future: Future[AudioChunk]) -> bytes:
    """The PCM of a finished synthesis; empty (and logged) when synthesis failed."""
    try:
        return future.result().pcm
    except Exception as e:
        log.warning("persona speech synthesis failed: %s", e)
        return b""
