"""The call engine: builds a call session from a script, a lead and a carrier.

It owns what is shared between calls: speech engines (loaded once per language), the prompt
cache (a script's static sentences are synthesized once, on disk and in memory; text with
placeholders is synthesized live and never written to disk), trained NLU per script and a pool
of answering-machine detectors (building one loads a pocketsphinx model, ~150 ms that hold the
interpreter lock and so stall every call in the process; a finished call's detector is reset
and handed to the next call). It also keeps its load (:class:`robot.load.EngineLoad`): each
call reports its turn latencies and decode waits there, and the dialler asks it before
starting a call.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialogues.loader import LoadedScript
from dialogues.manager import DialogueManager, build_classifier
from dialogues.nlu import IntentClassifier
from dialogues.templates import has_per_call_fields, render_template, script_texts
from robot import metrics
from robot.audio import AudioChunk
from robot.carriers.base import Carrier
from robot.config import Settings, get_settings
from robot.executors import executors
from robot.load import CallLoad, EngineLoad, admitted_call
from robot.session import (
    AnsweringMachineDetector,
    CallReport,
    CallSession,
    SessionConfig,
    SessionEngines,
    ShortAnswerConfig,
)
from robot.session_metrics import NullObserver, SessionObserver
from robot.speech.base import Synthesizer, split_sentences
from robot.speech.endpoint import endpointer_config_from_settings
from robot.speech.prompt_cache import PromptCache

log = logging.getLogger(__name__)

_grammar_lock = threading.Lock()
_grammar_workers: dict[tuple[str, str, str], Any] = {}


def static_sentences(loaded: LoadedScript) -> set[str]:
    """Sentences the script can say that never change between calls: no lead or slot fields
    (script constants filled in), split the way the session splits what it says."""
    constants = loaded.script.constants
    out: set[str] = set()
    for item in script_texts(loaded.script):
        if not item.spoken:
            continue
        for sentence in split_sentences(" ".join(item.text.split())):
            if has_per_call_fields(sentence):
                continue  # names, slot values: synthesized live, never stored
            # Script constants ({agent}, {company}) are the same in every call.
            rendered = render_template(sentence, lambda name: constants.get(name, ""))
            out.update(split_sentences(rendered))
    return out


class ScriptVoice:
    """Synthesizes a script's sentences: cached when static, live when personal."""

    def __init__(
        self, synthesizer: Synthesizer, cache: PromptCache | None, static: set[str]
    ) -> None:
        self.synthesizer = synthesizer
        self.cache = cache
        self.static = static

    def synthesize(self, text: str) -> AudioChunk:
        if self.cache is not None and text in self.static:
            return self.cache.get(self.synthesizer, text)
        return self.synthesizer.synthesize(text)

    def cached(self, text: str) -> AudioChunk | None:
        """The audio of a static sentence already in memory (no thread hop needed)."""
        if self.cache is None or text not in self.static:
            return None
        return self.cache.peek(self.synthesizer, text)

    def warm(self) -> int:
        if self.cache is None:
            return 0
        return self.cache.warm(self.synthesizer, sorted(self.static))


class DetectorPool:
    """Answering-machine detectors kept for reuse: reset and handed out, one per call."""

    def __init__(self, factory: Callable[[], AnsweringMachineDetector]) -> None:
        self.factory = factory
        self._lock = threading.Lock()
        self._free: list[AnsweringMachineDetector] = []
        self.built = 0

    def acquire(self) -> AnsweringMachineDetector:
        with self._lock:
            detector = self._free.pop() if self._free else None
        if detector is None:
            detector = self.factory()
            self.built += 1
        return detector

    def release(self, detector: AnsweringMachineDetector) -> None:
        reset = getattr(detector, "reset", None)
        if reset is None:
            return  # cannot start afresh: not reused
        reset()
        with self._lock:
            self._free.append(detector)

    def warm(self, count: int) -> None:
        """Have at least ``count`` detectors ready (built now, before calls need them)."""
        with self._lock:
            missing = count - len(self._free)
        fresh = [self.factory() for _ in range(max(0, missing))]
        self.built += len(fresh)
        with self._lock:
            self._free.extend(fresh)


@dataclass
class _ScriptRuntime:
    classifier: IntentClassifier
    voice: ScriptVoice


@dataclass
class CallEngine:
    settings: Settings = field(default_factory=get_settings)
    vad_kind: str = "silero"
    detect_voicemail: bool = True
    _registry: Any = None
    _scripts: dict[int, _ScriptRuntime] = field(default_factory=dict)
    _detectors: dict[str, DetectorPool] = field(default_factory=dict)
    _load: EngineLoad | None = None

    @property
    def load(self) -> EngineLoad:
        """Calls running, recent turn latencies and decode waits; whether to take more."""
        if self._load is None:
            self._load = EngineLoad(self.settings.admission)
        return self._load

    @property
    def detectors(self) -> DetectorPool:
        """The detector pool for English calls."""
        return self.detector_pool("en")

    def detector_pool(self, language: str) -> DetectorPool:
        """Detectors for calls in ``language`` (English calls read greetings with tiny.en)."""
        from voicemail.detector import DetectorSettings, VoicemailDetector

        settings = DetectorSettings().for_call_language(language)
        key = settings.phrase_language
        if key not in self._detectors:
            self._detectors[key] = DetectorPool(functools.partial(VoicemailDetector, settings))
        return self._detectors[key]

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from robot.speech.registry import SpeechRegistry

            self._registry = SpeechRegistry(self.settings.speech, self.settings.cache_dir)
        return self._registry

    def prepare(self, loaded: LoadedScript) -> _ScriptRuntime:
        """Train the script's NLU and load its voice (once per script object)."""
        key = id(loaded)
        if key not in self._scripts:
            language = loaded.script.language
            synthesizer = self.registry.synthesizer(language)
            voice = ScriptVoice(synthesizer, self.registry.prompt_cache, static_sentences(loaded))
            self._scripts[key] = _ScriptRuntime(build_classifier(loaded), voice)
        return self._scripts[key]

    def warm(self, loaded: LoadedScript, calls: int = 1) -> int:
        """Synthesize the script's static prompts and load the engines now, so the first
        call answers fast; ready a detector for each of ``calls`` simultaneous calls."""
        runtime = self.prepare(loaded)
        self.registry.recognizer(loaded.script.language)
        self.grammar_recognizer(loaded.script.language)
        if self.detect_voicemail:
            self.detector_pool(loaded.script.language).warm(calls)
        return runtime.voice.warm()

    def grammar_recognizer(self, language: str) -> Any:
        """pocketsphinx for short answers, or None (turned off, or no model for ``language``)."""
        short = self.settings.speech.short_answers
        if not short.enabled:
            return None
        from robot.errors import ConfigError

        try:
            local = self.registry.grammar_recognizer(language, mode=short.mode)
        except ConfigError as e:
            log.info("short answers go to the general recognizer for %s: %s", language, e)
            return None
        if not short.worker_process:
            return local
        model_dir = getattr(local, "model_dir", None)
        key = (language, short.mode, str(model_dir))
        with _grammar_lock:  # one worker process per model and mode, shared by engines
            if key not in _grammar_workers:
                from robot.speech.pocketsphinx import PocketsphinxRecognizer
                from robot.speech.worker import ProcessRecognizer

                build = functools.partial(
                    PocketsphinxRecognizer,
                    mode=short.mode,
                    language=language,
                    model_dir=model_dir,
                )
                worker = ProcessRecognizer(build, name=local.name, language=language)
                worker.start()
                _grammar_workers[key] = worker
                executors().adopt(f"grammar-{language}-{short.mode}", worker)
            return _grammar_workers[key]

    def session_engines(
        self, loaded: LoadedScript, observer: SessionObserver | None = None
    ) -> SessionEngines:
        """The engines one call of ``loaded`` uses; ``observer`` hears its turns and decodes."""
        from voicemail.vad import create_vad

        runtime = self.prepare(loaded)
        vad_kind = self.vad_kind
        threshold = self.settings.speech.endpoint.vad_threshold
        pool = self.detector_pool(loaded.script.language) if self.detect_voicemail else None
        return SessionEngines(
            tts=runtime.voice,
            asr=self.registry.recognizer(loaded.script.language),
            vad_factory=lambda: create_vad(vad_kind, threshold=threshold),
            detector_factory=pool.acquire if pool is not None else None,
            grammar=self.grammar_recognizer(loaded.script.language),
            detector_release=pool.release if pool is not None else None,
            executors=executors(),
            observer=observer or NullObserver(),
        )

    def session_config(self, recording_dir: Path | None, language: str = "en") -> SessionConfig:
        return SessionConfig(
            endpoint=endpointer_config_from_settings(self.settings.speech.endpoint),
            decode_timeout_ms=self.settings.speech.decode_timeout_ms,
            verdict_grace_ms=self.settings.speech.verdict_grace_ms,
            recording_dir=recording_dir,
            short_answers=ShortAnswerConfig(
                enabled=self.settings.speech.short_answers.enabled,
                max_speech_ms=self.settings.speech.short_answers.max_speech_ms,
                min_confidence=self.settings.speech.short_answers.min_confidence,
                hints=self.settings.speech.hints
                and language.split("-")[0].lower() in self.settings.speech.hint_languages,
                prompt_hints=self.settings.speech.whisper_prompt_hints,
            ),
        )

    async def call(
        self,
        carrier: Carrier,
        number: str,
        loaded: LoadedScript,
        *,
        lead: Mapping[str, Any] | None = None,
        timezone: str | None = None,
        recording_dir: Path | None = None,
        caller_id: str | None = None,
    ) -> CallReport:
        """Place one call and run it to the end; never raises for a failed call.

        The call counts in :attr:`load`: as the call the dialler admitted for this task
        (:data:`robot.load.admitted_call`), or admitted here (API and command-line calls)."""
        admitted = admitted_call.get()
        own: CallLoad | None = None
        if admitted is None or admitted.load is not self.load:
            admitted = own = self.load.admit()
        report: CallReport | None = None
        metrics.call_started()
        try:
            runtime = self.prepare(loaded)
            manager = DialogueManager(
                loaded, classifier=runtime.classifier, lead=lead or {}, timezone=timezone
            )
            variables = {k: str(v) for k, v in (lead or {}).items()}
            call = await carrier.dial(number, caller_id=caller_id, variables=variables)
            session = CallSession(
                call,
                manager,
                self.session_engines(loaded, observer=admitted),
                self.session_config(recording_dir, loaded.script.language),
            )
            report = await session.run()
            return report
        finally:
            if report is None:
                metrics.call_ended("failed", None, None)
            else:
                metrics.call_ended(
                    str(report.outcome), report.disposition, report.voicemail_verdict
                )
            if own is not None:
                own.close()
