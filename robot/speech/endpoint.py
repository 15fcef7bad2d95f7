"""Utterance endpointing on top of a VAD: when did the callee start and stop talking?

The :class:`Endpointer` consumes the call's 20 ms audio frames together with the VAD frames
the VAD produced for them (``voicemail.vad``; any object with ``start_ms``, ``end_ms`` and
``is_speech`` will do) and emits :class:`EndpointEvent`\\ s:

``speech_started``
    Voiced audio has lasted ``min_speech_ms`` (while the robot speaks: the barge-in threshold,
    so an "uh-huh" of less than ~300 ms does not cut the robot off) or
    ``min_speech_listening_ms`` (while the robot is silent, so a short "no" still counts).
``maybe_ended``
    ``early_silence_ms`` of silence after speech: the session may start decoding the audio
    carried by the event before the endpoint is certain (early decoding).
``speech_resumed``
    Speech came back after ``maybe_ended``: discard the early result.
``speech_ended``
    ``trailing_silence_ms`` of silence (or ``max_utterance_ms`` of talk): the utterance, with
    ``pre_roll_ms`` of audio before the first voiced frame and up to ``tail_ms`` after the last.

Times are ms on the stream's timeline (from the first frame's ``timestamp_ms``, else 0), the
same timeline the VAD reports on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from robot.audio import SAMPLE_WIDTH_BYTES, AudioChunk
from robot.errors import ValidationError
from robot.speech.settings import EndpointSettings


class VadFrameLike(Protocol):
    @property
    def start_ms(self) -> float: ...
    @property
    def end_ms(self) -> float: ...
    @property
    def is_speech(self) -> bool: ...


class VadLike(Protocol):
    def process(self, chunk: AudioChunk) -> Sequence[VadFrameLike]: ...


class EndpointEventKind(StrEnum):
    SPEECH_STARTED = "speech_started"
    MAYBE_ENDED = "maybe_ended"
    SPEECH_RESUMED = "speech_resumed"
    SPEECH_ENDED = "speech_ended"


@dataclass(frozen=True, slots=True)
class EndpointEvent:
    kind: EndpointEventKind
    at_ms: float
    #: The utterance so far (``maybe_ended``) or whole (``speech_ended``), with pre-roll.
    audio: AudioChunk | None = None
    #: Start of the utterance audio (pre-roll included) on the stream timeline.
    audio_start_ms: float | None = None
    #: Voiced time counted by the VAD in this utterance.
    speech_ms: float = 0.0
    #: First and (so far) last voiced audio of the utterance on the stream timeline
    #: (``speech_started``: the start only).
    speech_start_ms: float | None = None
    speech_end_ms: float | None = None


_DEFAULTS = EndpointSettings()


@dataclass(frozen=True, slots=True)
class EndpointerConfig:
    """The endpointer's numbers; defaults are the ``speech.endpoint`` settings' defaults
    (:class:`~robot.speech.settings.EndpointSettings` is their one source)."""

    min_speech_ms: float = _DEFAULTS.min_speech_ms
    min_speech_listening_ms: float = _DEFAULTS.min_speech_listening_ms
    trailing_silence_ms: float = _DEFAULTS.trailing_silence_ms
    early_silence_ms: float = _DEFAULTS.early_silence_ms
    #: A not yet confirmed start survives pauses this long; the session also joins an answer
    #: with speech that resumes this soon after its endpoint ("Yes. ... speaking").
    candidate_gap_ms: float = _DEFAULTS.candidate_gap_ms
    pre_roll_ms: float = _DEFAULTS.pre_roll_ms
    tail_ms: float = _DEFAULTS.tail_ms
    max_utterance_ms: float = _DEFAULTS.max_utterance_ms

    def __post_init__(self) -> None:
        for name in (
            "min_speech_ms",
            "min_speech_listening_ms",
            "trailing_silence_ms",
            "early_silence_ms",
            "candidate_gap_ms",
            "pre_roll_ms",
            "tail_ms",
            "max_utterance_ms",
        ):
            if getattr(self, name) < 0:
                raise ValidationError(f"endpointer {name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.early_silence_ms <= self.trailing_silence_ms:
            raise ValidationError(
                f"endpointer early_silence_ms ({self.early_silence_ms}) must be > 0 and "
                f"<= trailing_silence_ms ({self.trailing_silence_ms})"
            )


def endpointer_config_from_settings(settings: EndpointSettings | None = None) -> EndpointerConfig:
    """The endpointer configuration from ``speech.endpoint`` settings (default: current)."""
    if settings is None:
        from robot.config import get_settings

        settings = get_settings().speech.endpoint
    return EndpointerConfig(
        min_speech_ms=settings.min_speech_ms,
        min_speech_listening_ms=settings.min_speech_listening_ms,
        trailing_silence_ms=settings.trailing_silence_ms,
        early_silence_ms=settings.early_silence_ms,
        candidate_gap_ms=settings.candidate_gap_ms,
        pre_roll_ms=settings.pre_roll_ms,
        tail_ms=settings.tail_ms,
        max_utterance_ms=settings.max_utterance_ms,
    )


class _State(StrEnum):
    IDLE = "idle"
    CANDIDATE = "candidate"
    SPEAKING = "speaking"


class Endpointer:
    """Turns VAD frames into utterance events; one per call, fed in order."""

    def __init__(self, config: EndpointerConfig | None = None) -> None:
        self.config = config or EndpointerConfig()
        #: Set by the session while robot audio plays: raises the start threshold (barge-in).
        self.robot_speaking = False
        self.reset()

    def reset(self) -> None:
        self._state = _State.IDLE
        self._rate: int | None = None
        self._buffer = bytearray()
        self._buffer_start_ms = 0.0
        self._position_ms: float | None = None
        self._utterance_start_ms = 0.0
        self._last_speech_end_ms = 0.0
        self._speech_ms = 0.0
        self._maybe_sent = False

    @property
    def in_speech(self) -> bool:
        """True between ``speech_started`` and ``speech_ended``."""
        return self._state is _State.SPEAKING

    def feed(self, frame: AudioChunk, vad_frames: Sequence[VadFrameLike]) -> list[EndpointEvent]:
        """Add one audio frame and the VAD frames completed with it; return new events."""
        self._append_audio(frame)
        events: list[EndpointEvent] = []
        for vad_frame in vad_frames:
            events.extend(self._on_vad_frame(vad_frame))
        if self._state is _State.IDLE:
            self._trim_idle_buffer()
        return events

    # --- audio buffer ---------------------------------------------------------------------

    def _append_audio(self, frame: AudioChunk) -> None:
        if self._rate is None:
            self._rate = frame.rate
            self._position_ms = frame.timestamp_ms or 0.0
            self._buffer_start_ms = self._position_ms
        elif frame.rate != self._rate:
            raise ValidationError(
                f"endpointer frames must keep one rate: got {frame.rate} Hz after {self._rate} Hz"
            )
        self._buffer += frame.pcm
        assert self._position_ms is not None
        self._position_ms += frame.duration_ms

    def _trim_idle_buffer(self) -> None:
        assert self._rate is not None and self._position_ms is not None
        keep_ms = self.config.pre_roll_ms + 1000.0  # VAD verdicts lag the audio a little
        drop_ms = (self._position_ms - self._buffer_start_ms) - keep_ms
        if drop_ms > 0:
            drop_bytes = int(drop_ms * self._rate / 1000) * SAMPLE_WIDTH_BYTES
            del self._buffer[:drop_bytes]
            self._buffer_start_ms += 1000.0 * (drop_bytes // SAMPLE_WIDTH_BYTES) / self._rate

    def _audio_between(self, start_ms: float, end_ms: float) -> tuple[AudioChunk, float]:
        assert self._rate is not None
        start_ms = max(start_ms, self._buffer_start_ms)
        first = int((start_ms - self._buffer_start_ms) * self._rate / 1000)
        last = int((end_ms - self._buffer_start_ms) * self._rate / 1000)
        pcm = bytes(
            self._buffer[first * SAMPLE_WIDTH_BYTES : max(first, last) * SAMPLE_WIDTH_BYTES]
        )
        return AudioChunk(pcm, self._rate, start_ms), start_ms

    def _utterance_event(self, kind: EndpointEventKind, at_ms: float) -> EndpointEvent:
        cfg = self.config
        end_ms = min(at_ms, self._last_speech_end_ms + cfg.tail_ms)
        audio, start_ms = self._audio_between(self._utterance_start_ms - cfg.pre_roll_ms, end_ms)
        return EndpointEvent(
            kind,
            at_ms,
            audio,
            start_ms,
            self._speech_ms,
            self._utterance_start_ms,
            self._last_speech_end_ms,
        )

    # --- state machine --------------------------------------------------------------------

    def _on_vad_frame(self, vad: VadFrameLike) -> list[EndpointEvent]:
        cfg = self.config
        duration = max(0.0, vad.end_ms - vad.start_ms)
        if vad.is_speech:
            if self._state is _State.IDLE:
                self._state = _State.CANDIDATE
                self._utterance_start_ms = vad.start_ms
                self._speech_ms = 0.0
                self._maybe_sent = False
            self._speech_ms += duration
            self._last_speech_end_ms = vad.end_ms
            events = []
            if self._maybe_sent:
                self._maybe_sent = False
                events.append(EndpointEvent(EndpointEventKind.SPEECH_RESUMED, vad.end_ms))
            threshold = cfg.min_speech_ms if self.robot_speaking else cfg.min_speech_listening_ms
            if self._state is _State.CANDIDATE and self._speech_ms >= threshold:
                self._state = _State.SPEAKING
                events.append(
                    EndpointEvent(
                        EndpointEventKind.SPEECH_STARTED,
                        vad.end_ms,
                        speech_start_ms=self._utterance_start_ms,
                    )
                )
            if (
                self._state is _State.SPEAKING
                and vad.end_ms - self._utterance_start_ms >= cfg.max_utterance_ms
            ):
                events.append(self._end(vad.end_ms))
            return events
        if self._state is _State.IDLE:
            return []
        silence_ms = vad.end_ms - self._last_speech_end_ms
        if self._state is _State.CANDIDATE:
            if silence_ms >= cfg.candidate_gap_ms:
                self._state = _State.IDLE  # too short to count: a click, a breath, an "uh-huh"
            return []
        if silence_ms >= cfg.trailing_silence_ms:
            return [self._end(vad.end_ms)]
        if silence_ms >= cfg.early_silence_ms and not self._maybe_sent:
            self._maybe_sent = True
            return [self._utterance_event(EndpointEventKind.MAYBE_ENDED, vad.end_ms)]
        return []

    def _end(self, at_ms: float) -> EndpointEvent:
        event = self._utterance_event(EndpointEventKind.SPEECH_ENDED, at_ms)
        self._state = _State.IDLE
        self._maybe_sent = False
        return event


def detect_utterances(
    audio: AudioChunk,
    vad: VadLike,
    config: EndpointerConfig | None = None,
    *,
    frame_ms: int = 20,
) -> list[EndpointEvent]:
    """Run a whole recording through ``vad`` and an endpointer (files, replay, tests).

    An utterance still open at the end of the audio is closed with ``speech_ended``.
    """
    endpointer = Endpointer(config)
    events: list[EndpointEvent] = []
    for frame in audio.frames(frame_ms):
        events.extend(endpointer.feed(frame, vad.process(frame)))
    if endpointer.in_speech:
        assert endpointer._position_ms is not None
        events.append(endpointer._end(endpointer._position_ms))
    return events
