"""Engine selection: which synthesizer and recognizer serve a language, built once and shared.

``SpeechRegistry`` reads :class:`~robot.speech.settings.SpeechSettings`; engines are imported
only when first asked for, so importing this module is cheap.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from robot.config import get_settings
from robot.errors import ConfigError
from robot.speech.base import Recognizer, StreamingRecognizer, Synthesizer, in_engine_thread
from robot.speech.prompt_cache import PromptCache
from robot.speech.settings import ASR_ENGINES, TTS_ENGINES, SpeechSettings

log = logging.getLogger(__name__)

T = TypeVar("T")


def base_language(language: str) -> str:
    """``en-US`` / ``en_GB`` -> ``en``."""
    return language.replace("_", "-").split("-")[0].lower()


def create_synthesizer(
    engine: str,
    language: str,
    *,
    model_path: str | Path | None = None,
    settings: SpeechSettings | None = None,
) -> Synthesizer:
    """Build one TTS engine by name (``piper``, ``espeak``, ``silero``)."""
    settings = settings or SpeechSettings()
    if engine == "piper":
        from robot.speech.piper import PiperSynthesizer

        return PiperSynthesizer(model_path, language=language)
    if engine == "espeak":
        from robot.speech.espeak import EspeakSynthesizer

        return EspeakSynthesizer(language, voice=str(model_path) if model_path else None)
    if engine == "silero":
        from robot.speech.silero_tts import SileroSynthesizer

        if model_path is None:
            raise ConfigError(
                f"Silero TTS needs a model file: set speech.models['silero:{language}'] "
                "(CALLROBOT_SPEECH__MODELS)"
            )
        return SileroSynthesizer(model_path, language=language, speaker=settings.silero_speaker)
    raise ConfigError(f"unknown TTS engine {engine!r} (choose one of {', '.join(TTS_ENGINES)})")


def create_recognizer(
    engine: str,
    language: str,
    *,
    model_path: str | Path | None = None,
    settings: SpeechSettings | None = None,
    cache_dir: Path | None = None,
    phrases: Sequence[str] = (),
) -> Recognizer:
    """Build one ASR engine by name (``whisper``, ``pocketsphinx``, ``vosk``)."""
    settings = settings or SpeechSettings()
    if engine == "whisper":
        from robot.speech.whisper import WhisperOptions, WhisperRecognizer

        options = WhisperOptions(
            beam_size=settings.whisper_beam_size,
            cpu_threads=settings.whisper_cpu_threads,
            compute_type=settings.whisper_compute_type,
            window=settings.whisper_window,
            window_pad_ms=settings.whisper_window_pad_ms,
        )
        if model_path is None and base_language(language) != "en":
            from robot.speech.packaged import whisper_base_multilingual_dir

            model_path = whisper_base_multilingual_dir(
                cache_dir or get_settings().cache_dir / "models"
            )
        return WhisperRecognizer(model_path, language=base_language(language), options=options)
    if engine == "pocketsphinx":
        from robot.speech.pocketsphinx import PocketsphinxRecognizer

        if base_language(language) != "en" and model_path is None:
            raise ConfigError(
                f"pocketsphinx ships only an English model: set speech.models"
                f"['pocketsphinx:{language}'] to an acoustic model folder"
            )
        return PocketsphinxRecognizer(phrases, language=language, model_dir=model_path)
    if engine == "vosk":
        return _create_vosk(language, model_path)
    raise ConfigError(f"unknown ASR engine {engine!r} (choose one of {', '.join(ASR_ENGINES)})")


def _create_vosk(language: str, model_path: str | Path | None) -> Any:
    from robot.speech.vosk import VoskRecognizer

    if model_path is None:
        raise ConfigError(
            f"Vosk needs a model folder: set speech.models['vosk:{language}'] "
            "(CALLROBOT_SPEECH__MODELS)"
        )
    return VoskRecognizer(model_path, language=language)


class SpeechRegistry:
    """Engines per language, from settings; each built on first use and then reused."""

    def __init__(self, settings: SpeechSettings | None = None, cache_dir: Path | None = None):
        self.settings = settings or get_settings().speech
        #: Models joined from packages (``models/``) and synthesized prompts (``tts/``).
        self.cache_dir = cache_dir or get_settings().cache_dir
        self._lock = threading.Lock()
        self._engines: dict[tuple[str, str, str], Any] = {}
        self.prompt_cache = PromptCache(
            self.cache_dir / "tts", max_entries=self.settings.prompt_cache_entries
        )

    def _model_path(self, engine: str, language: str) -> str | None:
        models = self.settings.models
        return models.get(f"{engine}:{language}") or models.get(
            f"{engine}:{base_language(language)}"
        )

    def _cached(self, kind: str, engine: str, language: str, build: Callable[[], T]) -> T:
        key = (kind, engine, base_language(language))
        with self._lock:
            if key not in self._engines:
                log.info("loading %s engine %s for %s", kind, engine, language)
                self._engines[key] = in_engine_thread(build)
            return self._engines[key]

    def tts_engine_name(self, language: str) -> str:
        lang = base_language(language)
        return self.settings.tts.get(lang, self.settings.tts_fallback)

    def asr_engine_name(self, language: str) -> str:
        lang = base_language(language)
        return self.settings.asr.get(lang, self.settings.asr_fallback)

    def synthesizer(self, language: str, engine: str | None = None) -> Synthesizer:
        name = engine or self.tts_engine_name(language)
        return self._cached(
            "tts",
            name,
            language,
            lambda: create_synthesizer(
                name,
                language,
                model_path=self._model_path(name, language),
                settings=self.settings,
            ),
        )

    def recognizer(self, language: str, engine: str | None = None) -> Recognizer:
        name = engine or self.asr_engine_name(language)
        return self._cached(
            "asr",
            name,
            language,
            lambda: create_recognizer(
                name,
                language,
                model_path=self._model_path(name, language),
                settings=self.settings,
                cache_dir=self.cache_dir / "models",
            ),
        )

    def grammar_recognizer(self, language: str = "en", mode: str = "grammar") -> Recognizer:
        """pocketsphinx, for states that expect one of a few phrases (pass them as hints).

        ``mode``: ``grammar`` (best recall), ``keywords`` or ``strict`` (grammar and keyword
        spotting must agree: what calls use, as a wrong answer costs more than a retry)."""
        if mode == "grammar":
            return self.recognizer(language, engine="pocketsphinx")

        def build() -> Recognizer:
            from robot.speech.pocketsphinx import PocketsphinxRecognizer

            if (
                base_language(language) != "en"
                and self._model_path("pocketsphinx", language) is None
            ):
                raise ConfigError(
                    f"pocketsphinx ships only an English model: set speech.models"
                    f"['pocketsphinx:{language}'] to an acoustic model folder"
                )
            return PocketsphinxRecognizer(
                mode=mode,  # type: ignore[arg-type]
                language=language,
                model_dir=self._model_path("pocketsphinx", language),
            )

        return self._cached(f"asr-{mode}", "pocketsphinx", language, build)

    def streaming_recognizer(self, language: str) -> StreamingRecognizer:
        """Vosk with the operator's model for ``language`` (``speech.models['vosk:xx']``)."""
        return self._cached(
            "stream",
            "vosk",
            language,
            lambda: _create_vosk(language, self._model_path("vosk", language)),
        )
