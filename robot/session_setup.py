"""What a call session is given: its engines and worker pools (:class:`SessionEngines`) and
its settings (:class:`SessionConfig`); both built per call by :class:`robot.engine.CallEngine`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robot.answer_detection import AnsweringMachineDetector
from robot.executors import ExecutorRegistry, executors
from robot.listening import DECODE_TIMEOUT_MS, ShortAnswerConfig
from robot.session_metrics import NullObserver, SessionObserver
from robot.speaking import PromptSource, SpeakingConfig
from robot.speech.base import Recognizer
from robot.speech.endpoint import EndpointerConfig


@dataclass
class SessionEngines:
    tts: PromptSource
    asr: Recognizer
    vad_factory: Callable[[], Any]
    detector_factory: Callable[[], AnsweringMachineDetector] | None = None
    #: Closed-grammar recognizer for short-answer states (None: the general one decodes all).
    grammar: Recognizer | None = None
    #: Gives a detector back once its call no longer needs it (for reuse by the next call).
    detector_release: Callable[[AnsweringMachineDetector], None] | None = None
    #: The worker pools (``speech``, ``asr``, ``detector``).
    executors: ExecutorRegistry = field(default_factory=executors)
    #: Hears turn latencies, decode queue waits and late decodes (admission control).
    observer: SessionObserver = field(default_factory=NullObserver)


@dataclass
class SessionConfig:
    endpoint: EndpointerConfig = field(default_factory=EndpointerConfig)
    #: Longest wait for the answer verdict before talking anyway ...
    max_detection_ms: float = 4000.0
    #: ... and how much longer a busy detector may take to say so.
    verdict_grace_ms: float = 3000.0
    max_call_ms: float = 10 * 60 * 1000.0
    ring_timeout_s: float = 30.0
    recording_dir: Path | None = None
    short_answers: ShortAnswerConfig = field(default_factory=ShortAnswerConfig)
    #: Longest wait for a transcript after the end of speech (then: not understood).
    decode_timeout_ms: float = DECODE_TIMEOUT_MS
    speaking: SpeakingConfig = field(default_factory=SpeakingConfig)
