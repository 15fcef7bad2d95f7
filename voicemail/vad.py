"""Voice activity detection: is there speech in this stretch of callee audio?

Two engines sit behind one :class:`VoiceActivityDetector` protocol:

``webrtc`` (``webrtcvad-wheels``)
    The WebRTC GMM detector on 8 kHz, 10/20/30 ms frames. Very cheap (microseconds per frame)
    and has no model to load, so it suits endpointing on many concurrent calls with clean
    audio. It reacts to *energy in the voice band*, so it flags most music-on-hold, tones and
    loud noise as speech; its probability is only 0 or 1.

``silero`` (Silero VAD v6 ONNX model, run with onnxruntime, no torch)
    A small neural network that scores 32 ms windows at 16 kHz with a real probability. It
    stays low on music, tones and stationary noise, which is what voicemail detection and
    barge-in need: a beep or a hold melody must not count as words. Costs ~0.3 ms per window
    on one core. The model ships inside ``faster-whisper`` (``assets/silero_vad_v6.onnx``).
    This model takes 16 kHz only (input ``[windows, 64 context + 512]``, LSTM state ``h``/``c``
    ``[1, 1, 128]``), so 8 kHz telephony audio is resampled to 16 kHz at its edge.

Both accept chunks of any size and rate: they buffer internally, resample at their edge and
return one :class:`VadFrame` per analysed frame, timed on the stream's own timeline (ms since
the first chunk, or since the first chunk's ``timestamp_ms`` when it carries one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol, runtime_checkable

import numpy as np

from robot.audio import AudioChunk, StreamResampler
from robot.errors import EngineError, MissingExtraError, ValidationError

logger = logging.getLogger(__name__)

VAD_KINDS = ("silero", "webrtc")


@dataclass(frozen=True, slots=True)
class VadFrame:
    """The verdict for one analysed frame of audio."""

    start_ms: float
    end_ms: float
    speech_prob: float
    is_speech: bool

    @property
    def duration_ms(self) -> float:
        return self.end_ms - self.start_ms


@runtime_checkable
class VoiceActivityDetector(Protocol):
    name: str

    def process(self, chunk: AudioChunk) -> list[VadFrame]:
        """Feed audio of any size and rate; return the frames completed so far."""
        ...

    def reset(self) -> None:
        """Forget all state: the next chunk starts a new stream at time 0."""
        ...


class _EdgeBuffer:
    """Resamples incoming chunks to the engine rate and hands out fixed-size frames."""

    def __init__(self, engine_rate_hz: int, frame_samples: int) -> None:
        self.engine_rate_hz = engine_rate_hz
        self.frame_samples = frame_samples
        self.reset()

    def reset(self) -> None:
        self._resampler: StreamResampler | None = None
        self._input_rate_hz: int | None = None
        self._pending = np.zeros(0, dtype=np.int16)
        self.frames_out = 0
        self.origin_ms: float | None = None

    def push(self, chunk: AudioChunk) -> list[np.ndarray]:
        if chunk.rate <= 0:
            raise ValidationError(f"audio chunk has an invalid sample rate: {chunk.rate} Hz")
        if self.origin_ms is None:
            self.origin_ms = chunk.timestamp_ms or 0.0
        converted = b""
        if self._input_rate_hz != chunk.rate:
            if self._resampler is not None:
                converted = self._resampler.process(b"", last=True)
            self._resampler = StreamResampler(chunk.rate, self.engine_rate_hz)
            self._input_rate_hz = chunk.rate
        assert self._resampler is not None
        converted += self._resampler.process(chunk.pcm)
        if converted:
            fresh = np.frombuffer(converted, dtype="<i2")
            self._pending = np.concatenate([self._pending, fresh])
        count = len(self._pending) // self.frame_samples
        frames = [
            self._pending[i * self.frame_samples : (i + 1) * self.frame_samples]
            for i in range(count)
        ]
        self._pending = self._pending[count * self.frame_samples :]
        return frames

    def next_span_ms(self) -> tuple[float, float]:
        frame_ms = 1000.0 * self.frame_samples / self.engine_rate_hz
        start = (self.origin_ms or 0.0) + self.frames_out * frame_ms
        self.frames_out += 1
        return start, start + frame_ms


class WebRtcVad:
    """WebRTC VAD on 8 kHz frames; ``mode`` 0 (lenient) .. 3 (strict about what is speech)."""

    name = "webrtc"
    rate_hz = 8000

    def __init__(self, *, mode: int = 2, frame_ms: int = 20) -> None:
        if frame_ms not in (10, 20, 30):
            raise ValidationError(f"webrtc VAD frame_ms must be 10, 20 or 30, got {frame_ms}")
        if mode not in (0, 1, 2, 3):
            raise ValidationError(f"webrtc VAD mode must be 0..3, got {mode}")
        try:
            import webrtcvad
        except ImportError as e:
            raise MissingExtraError("the webrtc VAD", "speech", "webrtcvad-wheels") from e
        self.mode = mode
        self.frame_ms = frame_ms
        self._vad = webrtcvad.Vad(mode)
        self._buffer = _EdgeBuffer(self.rate_hz, self.rate_hz * frame_ms // 1000)

    def process(self, chunk: AudioChunk) -> list[VadFrame]:
        out = []
        for frame in self._buffer.push(chunk):
            try:
                speech = bool(self._vad.is_speech(frame.tobytes(), self.rate_hz))
            except Exception as e:  # webrtcvad raises a bare Error on bad frames
                raise EngineError(f"webrtc VAD failed on a {self.frame_ms} ms frame: {e}") from e
            start, end = self._buffer.next_span_ms()
            out.append(VadFrame(start, end, 1.0 if speech else 0.0, speech))
        return out

    def reset(self) -> None:
        self._buffer.reset()


@lru_cache(maxsize=1)
def _silero_session() -> Any:
    try:
        import onnxruntime
    except ImportError as e:
        raise MissingExtraError("the silero VAD", "speech", "onnxruntime") from e
    model_path = silero_model_path()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(
            model_path, sess_options=options, providers=["CPUExecutionProvider"]
        )
        # One warm-up window: onnxruntime's very first run can differ in the last digits.
        state = np.zeros((1, 1, 128), dtype=np.float32)
        session.run(None, {"input": np.zeros((1, 576), np.float32), "h": state, "c": state})
    except Exception as e:
        raise EngineError(f"cannot load the silero VAD model {model_path}: {e}") from e
    return session


def silero_model_path() -> str:
    """Path of the Silero VAD ONNX model shipped inside the faster-whisper package."""
    import importlib.resources

    try:
        path = importlib.resources.files("faster_whisper") / "assets" / "silero_vad_v6.onnx"
    except ModuleNotFoundError as e:
        raise MissingExtraError("the silero VAD model", "speech", "faster-whisper") from e
    if not path.is_file():
        raise EngineError(f"the silero VAD model is missing from faster-whisper: {path}")
    return str(path)


class SileroVad:
    """Silero VAD v6 (ONNX): 512-sample windows at 16 kHz with 64 samples of context."""

    name = "silero"
    rate_hz = 16000
    window_samples = 512
    context_samples = 64

    def __init__(self, *, threshold: float = 0.5) -> None:
        if not 0.0 < threshold < 1.0:
            raise ValidationError(f"silero VAD threshold must be in (0, 1), got {threshold}")
        self.threshold = threshold
        self._session = _silero_session()
        self._buffer = _EdgeBuffer(self.rate_hz, self.window_samples)
        self.reset()

    def reset(self) -> None:
        self._buffer.reset()
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(self.context_samples, dtype=np.float32)

    def process(self, chunk: AudioChunk) -> list[VadFrame]:
        out = []
        for window in self._buffer.push(chunk):
            samples = window.astype(np.float32) / 32768.0
            model_input = np.concatenate([self._context, samples])[np.newaxis, :]
            try:
                probs, self._h, self._c = self._session.run(
                    None, {"input": model_input, "h": self._h, "c": self._c}
                )
            except Exception as e:
                raise EngineError(f"silero VAD inference failed: {e}") from e
            self._context = samples[-self.context_samples :]
            prob = float(np.asarray(probs).reshape(-1)[0])
            start, end = self._buffer.next_span_ms()
            out.append(VadFrame(start, end, prob, prob >= self.threshold))
        return out


def create_vad(kind: str = "silero", *, threshold: float | None = None) -> VoiceActivityDetector:
    """Build a VAD engine by name: ``silero`` (default) or ``webrtc``.

    ``threshold`` is the speech probability a frame needs to count as speech (silero,
    default 0.5). For ``webrtc``, whose probability is 0 or 1, it picks the aggressiveness
    mode instead: below 0.25 -> 0, below 0.5 -> 1, below 0.75 -> 2, else 3 (default 2).
    """
    kind = kind.strip().lower()
    if kind == "silero":
        return SileroVad(threshold=0.5 if threshold is None else threshold)
    if kind == "webrtc":
        mode = 2 if threshold is None else min(3, max(0, int(threshold * 4)))
        return WebRtcVad(mode=mode)
    raise ValidationError(f"unknown VAD engine {kind!r}: choose one of {', '.join(VAD_KINDS)}")
