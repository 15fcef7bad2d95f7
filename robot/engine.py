"""The call engine: builds a call session from a script, a lead and a carrier.

It owns what is shared between calls: speech engines (loaded once per language), the prompt
cache (a script's static sentences are synthesized once, on disk and in memory; text with
placeholders is synthesized live and never written to disk) and trained NLU per script.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialogues.loader import TEMPLATE_FIELD, LoadedScript
from dialogues.manager import DialogueManager, build_classifier
from dialogues.nlu import IntentClassifier
from robot.audio import AudioChunk
from robot.carriers.base import Carrier
from robot.config import Settings, get_settings
from robot.session import CallReport, CallSession, SessionConfig, SessionEngines
from robot.speech.base import Synthesizer, split_sentences
from robot.speech.endpoint import EndpointerConfig
from robot.speech.prompt_cache import PromptCache

log = logging.getLogger(__name__)


def static_sentences(loaded: LoadedScript) -> set[str]:
    """Sentences of the script that never change between calls (no placeholders)."""
    texts: list[str] = []
    script = loaded.script
    for state in script.states.values():
        texts += state.say + state.ask
        for handler in (state.no_input, state.no_match):
            texts += handler.say if handler else []
        for branches in state.on.values():
            texts += [t for b in branches for t in b.say]
    for branches in script.global_.on.values():
        texts += [t for b in branches for t in b.say]
    for handler in (script.global_.no_input, script.global_.no_match):
        texts += handler.say if handler else []
    out = set()
    for text in texts:
        if TEMPLATE_FIELD.search(text) is None:
            out.update(split_sentences(" ".join(text.split())))
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

    @property
    def registry(self) -> Any:
        if self._registry is None:
            from robot.speech.registry import SpeechRegistry

            self._registry = SpeechRegistry(self.settings.speech, self.settings.data_dir)
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

    def warm(self, loaded: LoadedScript) -> int:
        """Synthesize the script's static prompts now, so the first call answers fast."""
        runtime = self.prepare(loaded)
        self.registry.recognizer(loaded.script.language)
        return runtime.voice.warm()

    def session_engines(self, loaded: LoadedScript) -> SessionEngines:
        from voicemail.detector import VoicemailDetector
        from voicemail.vad import create_vad

        runtime = self.prepare(loaded)
        vad_kind = self.vad_kind
        threshold = self.settings.speech.endpoint.vad_threshold
        return SessionEngines(
            tts=runtime.voice,
            asr=self.registry.recognizer(loaded.script.language),
            vad_factory=lambda: create_vad(vad_kind, threshold=threshold),
            detector_factory=(lambda: VoicemailDetector()) if self.detect_voicemail else None,
        )

    def session_config(self, recording_dir: Path | None) -> SessionConfig:
        ep = self.settings.speech.endpoint
        return SessionConfig(
            endpoint=EndpointerConfig(
                min_speech_ms=ep.min_speech_ms,
                min_speech_listening_ms=ep.min_speech_listening_ms,
                trailing_silence_ms=ep.trailing_silence_ms,
                early_silence_ms=ep.early_silence_ms,
                candidate_gap_ms=ep.candidate_gap_ms,
                pre_roll_ms=ep.pre_roll_ms,
                max_utterance_ms=ep.max_utterance_ms,
            ),
            recording_dir=recording_dir,
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
        """Place one call and run it to the end; never raises for a failed call."""
        runtime = self.prepare(loaded)
        manager = DialogueManager(
            loaded, classifier=runtime.classifier, lead=lead or {}, timezone=timezone
        )
        variables = {k: str(v) for k, v in (lead or {}).items()}
        call = await carrier.dial(number, caller_id=caller_id, variables=variables)
        session = CallSession(
            call, manager, self.session_engines(loaded), self.session_config(recording_dir)
        )
        return await session.run()
