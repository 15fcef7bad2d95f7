"""pocketsphinx for short expected answers: JSGF grammars and keyword spotting.

Whisper invents words on short or unclear answers; when a dialogue state expects one of a
few phrases ("yes", "no", "call me later", digits) a closed grammar is more reliable and
~20x cheaper. The ``pocketsphinx`` wheel ships the en-us acoustic model and dictionary. That
model is trained on 16 kHz audio with filters up to 6.8 kHz, and its ``feat.params`` refuse an
8 kHz front end, so telephony audio is upsampled to 16 kHz at this engine's edge.

A closed grammar always matches *something*, so every result is checked against a free phone
loop decoded over the same audio: when the grammar explains the audio worse than free phones
do (low confidence), or the speech is far longer than any expected phrase, the result is
rejected as out-of-grammar (empty text).

The expected phrase :data:`DIGIT_SEQUENCE` stands for any run of spoken digits ("four two oh
seven"). pocketsphinx holds the GIL while it decodes, so audio is fed in
:data:`FEED_MS` pieces: an event loop sharing the process gets the GIL back between pieces
instead of stalling for the whole utterance.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from robot.audio import AudioChunk
from robot.errors import CallrobotError, EngineError, ValidationError
from robot.speech.base import Transcript, Word, require_module

log = logging.getLogger(__name__)

SPHINX_RATE_HZ = 16000
_PHONE_LOOP = "phone_loop"
#: Each expected word is allowed this much speech (ms) before a result counts as too long.
MAX_MS_PER_WORD = 700.0
MAX_MS_SLACK = 900.0
_WORD = re.compile(r"[a-z']+")
#: An expected "phrase" that matches any sequence of spoken digits.
DIGIT_SEQUENCE = "<digits>"
_DIGIT_WORDS = (
    "zero",
    "oh",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
)
#: Words a digit sequence may hold, for the too-long check.
DIGIT_SEQUENCE_WORDS = 12
#: Audio is handed to the decoder in pieces this long (ms at 16 kHz).
FEED_MS = 50


def _margin_to_confidence(margin: float) -> float:
    """Map (log grammar score - log phone-loop score) onto 0..1 (0.5 = explains it equally)."""
    return 1.0 / (1.0 + math.exp(-20.0 * margin))


def normalize_phrase(phrase: str) -> str:
    if phrase.strip() == DIGIT_SEQUENCE:
        return DIGIT_SEQUENCE
    return " ".join(_WORD.findall(phrase.lower()))


class PocketsphinxRecognizer:
    """Closed-vocabulary recognizer over expected phrases.

    ``mode="grammar"``: JSGF grammar, best recall. ``"keywords"``: keyword spotting, finds a
    phrase inside longer speech. ``"strict"``: the grammar's answer must also be found by
    keyword spotting, fewer false answers ("hello" heard as "no") at the cost of recall.
    """

    name = "pocketsphinx"

    def __init__(
        self,
        phrases: Sequence[str] = (),
        *,
        mode: Literal["grammar", "keywords", "strict"] = "grammar",
        language: str = "en",
        model_dir: str | Path | None = None,
        dictionary: str | Path | None = None,
        min_confidence: float = 0.6,
        keyword_threshold: float = 1e-5,
    ) -> None:
        ps = require_module("pocketsphinx", "pocketsphinx ASR", "speech", "pocketsphinx")
        if mode not in ("grammar", "keywords", "strict"):
            raise ValidationError(
                f"pocketsphinx mode must be grammar, keywords or strict, not {mode!r}"
            )
        # FATAL: pocketsphinx logs out-of-grammar speech as an ERROR; that is an empty result
        # here, not something for the operator's terminal.
        kwargs: dict[str, Any] = {"samprate": SPHINX_RATE_HZ, "lm": None, "loglevel": "FATAL"}
        if model_dir is not None:
            kwargs["hmm"] = str(model_dir)
        if dictionary is not None:
            kwargs["dict"] = str(dictionary)
        try:
            self._decoder = ps.Decoder(**kwargs)
            model_root = os.path.dirname(self._decoder.config["hmm"])
            phone_lm = os.path.join(model_root, "en-us-phone.lm.bin")
            self._has_phone_loop = os.path.isfile(phone_lm)
            if self._has_phone_loop:
                self._decoder.add_allphone_file(_PHONE_LOOP, phone_lm)
            #: Audio fed in pieces is normalized with a running cepstral mean; every decode
            #: starts from the model's initial mean, so a result never depends on the last one.
            self._cmn_start = self._decoder.get_cmn()
        except Exception as e:
            model_name = model_dir or "en-us"
            raise EngineError(f"cannot start pocketsphinx (model {model_name}): {e}") from e
        self.language = language
        self.model_dir = model_dir
        self.mode = mode
        self.min_confidence = min_confidence
        self.keyword_threshold = keyword_threshold
        self.phrases = tuple(phrases)
        self._lock = threading.Lock()
        self._searches: dict[tuple[str, tuple[str, ...]], str] = {}
        self._known: dict[tuple[str, ...], tuple[str, ...]] = {}

    def known_phrases(self, phrases: Sequence[str]) -> tuple[str, ...]:
        """``phrases`` normalized, without duplicates and without those whose words the
        dictionary lacks (names, brands): what a grammar can be built from."""
        key = tuple(phrases)
        with self._lock:
            if key not in self._known:
                out: dict[str, None] = {}
                for phrase in (normalize_phrase(p) for p in phrases):
                    words = phrase.split()
                    if phrase == DIGIT_SEQUENCE or (
                        words and all(self._decoder.lookup_word(w) is not None for w in words)
                    ):
                        out[phrase] = None
                self._known[key] = tuple(out)
            return self._known[key]

    def _check_words(self, phrases: Sequence[str]) -> None:
        for phrase in phrases:
            if phrase == DIGIT_SEQUENCE:
                continue
            for word in phrase.split():
                if self._decoder.lookup_word(word) is None:
                    raise ValidationError(
                        f"expected phrase {phrase!r}: the word {word!r} is not in the "
                        "pocketsphinx dictionary (spell numbers as words)"
                    )

    def _search_for(self, kind: str, phrases: tuple[str, ...]) -> str:
        if (kind, phrases) in self._searches:
            return self._searches[(kind, phrases)]
        self._check_words(phrases)
        key = hashlib.sha1("|".join(phrases).encode()).hexdigest()[:12]
        name = f"{kind}_{key}"
        try:
            if kind == "grammar":
                alternatives = " | ".join(phrases)
                jsgf = f"#JSGF V1.0;\ngrammar expected;\npublic <answer> = {alternatives};\n"
                if DIGIT_SEQUENCE in phrases:
                    jsgf += f"{DIGIT_SEQUENCE} = ({' | '.join(_DIGIT_WORDS)})+;\n"
                self._decoder.add_jsgf_string(name, jsgf)
            else:
                spotted = [p for p in phrases if p != DIGIT_SEQUENCE] or list(_DIGIT_WORDS)
                lines = "".join(f"{p} /{self.keyword_threshold:g}/\n" for p in spotted)
                keyword_file = _write_keyword_file(name, lines)
                try:
                    self._decoder.add_kws(name, keyword_file)
                finally:
                    os.unlink(keyword_file)
        except Exception as e:
            raise EngineError(f"pocketsphinx rejected the expected phrases {phrases}: {e}") from e
        self._searches[(kind, phrases)] = name
        return name

    def _decode(self, search: str, pcm: bytes) -> tuple[str, float]:
        self._decoder.activate_search(search)
        self._decoder.set_cmn(self._cmn_start)
        self._decoder.start_utt()
        step = SPHINX_RATE_HZ * FEED_MS // 1000 * 2
        for start in range(0, len(pcm), step):
            self._decoder.process_raw(pcm[start : start + step], full_utt=False)
        self._decoder.end_utt()
        hyp = self._decoder.hyp()
        if hyp is None:
            return "", 0.0
        return " ".join(hyp.hypstr.split()), float(hyp.score)

    def transcribe(self, audio: AudioChunk, *, hints: Sequence[str] = ()) -> Transcript:
        """Recognize one of ``hints`` (or the phrases given at construction) in the audio."""
        phrases = tuple(
            dict.fromkeys(p for p in (normalize_phrase(h) for h in (hints or self.phrases)) if p)
        )
        if not phrases:
            raise ValidationError("pocketsphinx needs expected phrases (hints) to listen for")
        pcm = audio.resampled(SPHINX_RATE_HZ).pcm
        grammar = self.mode in ("grammar", "strict")
        with self._lock:
            search = self._search_for("grammar" if grammar else "keywords", phrases)
            try:
                text, score = self._decode(search, pcm)
                loop_score = 0.0
                if text and grammar and self._has_phone_loop:
                    _, loop_score = self._decode(_PHONE_LOOP, pcm)
                if text and self.mode == "strict":
                    spotted, _ = self._decode(self._search_for("keywords", phrases), pcm)
                    if f" {text} " not in f" {spotted} ":
                        log.debug("pocketsphinx: %r not confirmed by keyword spotting", text)
                        text = ""
            except CallrobotError:
                raise
            except Exception as e:
                raise EngineError(f"pocketsphinx decoding failed: {e}") from e
        if text and grammar and not _in_grammar(text, phrases):
            # The search ended inside a phrase ("call" of "call me later"): no answer.
            log.debug("pocketsphinx: partial result %r is not an expected phrase", text)
            text = ""
        confidence = 1.0 if text else 0.0
        if text and grammar and score > 0 and loop_score > 0:
            confidence = _margin_to_confidence(math.log(score) - math.log(loop_score))
        if text and self.mode == "keywords":
            text = " ".join(dict.fromkeys(text.split()))  # spotted phrases, once each
        max_words = max(
            DIGIT_SEQUENCE_WORDS if p == DIGIT_SEQUENCE else len(p.split()) for p in phrases
        )
        too_long = audio.duration_ms > MAX_MS_SLACK + MAX_MS_PER_WORD * max_words + 1000.0
        if text and (confidence < self.min_confidence or (grammar and too_long)):
            log.debug("pocketsphinx: rejected %r (confidence %.2f)", text, confidence)
            text, confidence = "", 0.0
        words = tuple(Word(w) for w in text.split())
        return Transcript(text, round(confidence, 4), audio.duration_ms, words, self.name)


def _in_grammar(text: str, phrases: tuple[str, ...]) -> bool:
    if text in phrases:
        return True
    return DIGIT_SEQUENCE in phrases and all(w in _DIGIT_WORDS for w in text.split())


def _write_keyword_file(name: str, lines: str) -> str:
    import tempfile

    with tempfile.NamedTemporaryFile(
        "w", prefix=f"callrobot-{name}-", suffix=".kws", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(lines)
    return handle.name
