"""Phrase evidence: words that only answering machines and carrier announcements say.

A :class:`PhraseSpotter` streams callee audio and reports :class:`PhraseHit` s. The real one,
:class:`PocketsphinxPhraseSpotter`, runs pocketsphinx keyword spotting with the en-us model that
ships in the ``pocketsphinx`` wheel (16 kHz; telephony audio is upsampled at its edge). Each
phrase carries a detection threshold: longer phrases take smaller ones. The bundled
pocketsphinx model is English only.

For transcripts (:mod:`voicemail.transcripts` reads the greeting with Whisper, English and
Russian), :func:`machine_phrase` names the first phrase typical of voicemail greetings and
carrier announcements, and :func:`answer_like` says whether the words are what people say when
they pick up ("Hello?", "Yes, who is this?", "Алло, слушаю").
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from robot.audio import AudioChunk, StreamResampler
from robot.errors import EngineError, MissingExtraError, ValidationError
from voicemail.fuzzy_phrases import fuzzy_machine_phrase

logger = logging.getLogger(__name__)

#: English machine phrases with their pocketsphinx keyword thresholds.
ENGLISH_MACHINE_PHRASES: dict[str, float] = {
    "leave a message": 1e-20,
    "leave your message": 1e-20,
    "after the tone": 1e-20,
    "after the beep": 1e-20,
    "not available": 1e-15,
    "is unavailable": 1e-15,
    "record your message": 1e-20,
    "the number you have dialed": 1e-25,
    "is not in service": 1e-20,
    "please hang up": 1e-15,
    "you have reached": 1e-20,
    "you've reached": 1e-15,
    "voice mail": 1e-12,
    "mailbox": 1e-10,
    "is not answering": 1e-15,
    "not in service": 1e-15,
    "circuits are busy": 1e-15,
    "cannot be completed": 1e-15,
    "your call cannot be completed": 1e-20,
    "try your call again": 1e-25,
    "please try again": 1e-15,
    "check the number": 1e-15,
    "to take your call": 1e-20,
    "can't take your call": 1e-20,
}
#: Russian machine phrases (need an operator-supplied Russian model).
RUSSIAN_MACHINE_PHRASES: tuple[str, ...] = (
    "оставьте сообщение",
    "после сигнала",
    "абонент недоступен",
    "абонент не отвечает",
    "номер не обслуживается",
    "неправильно набран номер",
)


#: Patterns over normalized transcripts (lower case, no punctuation, "ё" as "е") of what
#: answering machines, voicemail services and carrier announcements say and people answering
#: a call do not. Loose on purpose: Whisper mishears short words on 8 kHz audio.
MACHINE_PATTERNS: dict[str, tuple[str, ...]] = {
    "en": (
        r"\bleave (a|an|your|me a|us a|my|the) ?(short |brief |detailed )?(message|name|number)",
        r"\b(leave|record) (your|a) (message|name)",
        r"\bplease leave\b",
        r"\b(after|at) the (tone|beep|signal)",
        r"\b(you ?ve|you have|you) reached\b",
        r"\bvoice ?(mail|message)",
        r"\bmail ?box\b",
        r"\banswering (machine|service)",
        r"\b(not|n t) (currently |be )?available\b",
        r"\bunavailable\b",
        r"\bnobody (is )?(available|home|here)",
        r"\bno one (is )?(available|home|here)",
        r"\b(take|answer) (your|the) call\b",
        r"\bcome to the phone",
        r"\b(missed|miss) (your call|you)",
        r"\bget back to you\b",
        r"\breturn your call",
        r"\baway from (my|the) (desk|phone|office)",
        r"\b(office|we are|we re|store) (is |are )?(now )?closed\b",
        r"\b(business|office|opening) hours\b",
        r"\b(has been|is being|will be) (forwarded|transferred|redirected)",
        r"\bautomat(ic|ed) (voice|message|answering|system)",
        r"\bthe (person|party|number|subscriber|customer) (you|at)\b",
        r"\b(number|subscriber) you (have )?(dialed|called|are calling)",
        r"\b(is|are) not (in service|answering|reachable)",
        # tiny.en hears "the number is not answered" / "... not in terrain" in announcements
        r"\b(number|subscriber) (is|was) not\b",
        r"\bnot in service\b",
        r"\bno longer in service\b",
        r"\bcircuits are\b",
        r"\bcannot be (completed|connected|reached)",
        r"\b(try|place) your call\b",
        r"\bplease (try|call) (again|back|later)",
        r"\bcheck the number\b",
        r"\bdial again\b",
        r"\bhang up\b",
        r"\bpress (one|two|1|2|pound|star|the pound|hash)",
        r"\bwhen (you are )?(done|finished)\b",
        r"\b(i m|i am|we re|we are) not (here|home|in)\b",
        r"\b(call|ring) you back\b",
        r"\bcan t (come to|get to|answer|pick up)\b",
    ),
    "ru": (
        r"оставьте (ваше |свое |голосовое |короткое )?(сообщение|имя)",
        r"\bсообщение после\b",
        r"после (звукового )?(сигнал|гудк|сиг\b)",  # a read cut mid-word ends "после сиг"
        r"\b[ао]б[ао]нент?\w*\b",  # Whisper often writes "абонент" as it sounds
        r"\bнедоступен\b",
        r"\bне (может|могу|можем) (сейчас )?(принять|ответить)",
        r"\bникто не\b",
        r"\bваш звонок\b",
        r"\bголосов\w* (почт|сообщ)",
        r"\bавтоответчик",
        r"\bвне (зоны|действия)",
        r"\b(выключен|отключен)\w*\b",
        r"\bне обслуживается\b",
        r"\bне существует\b",
        r"\bнабранн\w* (вами )?номер",
        r"\bнеправильно набран",
        r"\bномер не (отвечает|может|доступен)",
        r"\bпроверьте (номер|правильность)",
        r"\b(повторите|перезвоните|позвоните) (попытку |еще раз |позже|пожалуйста)",
        r"\bвсе линии\b",
        r"\bвы (позвонили|дозвонились)\b",
        r"\bнажмите\b",
        r"\bповесьте трубку",
        r"\bперезвон(ю|им)\b",
        r"\bговорите после\b",
        r"\bменя (сейчас )?нет\b",
    ),
}


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Words people say when they pick up; a transcript made of these alone is an answer.
ANSWER_WORDS: dict[str, frozenset[str]] = {
    "en": _words(
        "hello hallo hullo helo hi hey yes yeah yep yup ya speaking who whos s is it this "
        "calling there here ok okay um uh oh please sorry what good morning afternoon "
        "evening"
    ),
    "ru": _words(
        "алло ало алле да слушаю слушаем вас кто это здравствуйте добрый день утро вечер "
        "говорите я привет что такое ну"
    ),
}
#: Phrases people use on answering that make the rest of the sentence an answer, too.
ANSWER_PATTERNS: dict[str, tuple[str, ...]] = {
    "en": (
        r"\bwho (is|s|was) (this|calling|it|speaking)\b",
        r"\bwho am i (speaking|talking) (to|with)\b",
        r"\bhow can i help\b",
        r"\bwhat can i do for you\b",
        r"\bcan i help you\b",
        r"\bhow (can|may) (i|we) help\b",
        r"\b\w+ speaking\b",
    ),
    "ru": (r"\bкто (это|звонит|говорит)\b", r"\bслуша(ю|ет|ем)\b", r"\bчем (могу )?помочь\b"),
}
_NON_WORD = re.compile(r"[^\w\s]+")
_COMPILED = {
    language: [(p, re.compile(p)) for p in patterns]
    for language, patterns in MACHINE_PATTERNS.items()
}
_ANSWER = {
    language: [re.compile(p) for p in patterns] for language, patterns in ANSWER_PATTERNS.items()
}


def normalize_text(text: str) -> str:
    """Lower case, "ё" as "е", punctuation and apostrophes as spaces, single spaces."""
    return " ".join(_NON_WORD.sub(" ", text.lower().replace("ё", "е")).split())


def machine_phrase(text: str, language: str = "en") -> str | None:
    """The words of ``text`` that match a machine pattern (e.g. ``"leave a message"``)."""
    normalized = normalize_text(text)
    found = [
        match
        for code in (language, *(x for x in MACHINE_PATTERNS if x != language))
        for _pattern, regex in _COMPILED.get(code, ())
        if (match := regex.search(normalized))
    ]
    if not found:
        # Russian endings come out garbled: the phrase words within a small edit distance.
        return fuzzy_machine_phrase(normalized, language)
    return min(found, key=lambda m: m.start()).group(0).strip()  # the first one said


def answer_like(text: str, language: str = "en") -> bool:
    """True when ``text`` is a pick-up answer: only answer words, or an answer phrase."""
    normalized = normalize_text(text)
    if not normalized:
        return False
    vocabulary = ANSWER_WORDS.get(language, frozenset()).union(*ANSWER_WORDS.values())
    if all(word in vocabulary for word in normalized.split()):
        return True
    codes = (language, *(x for x in _ANSWER if x != language))
    return any(regex.search(normalized) for code in codes for regex in _ANSWER.get(code, ()))


@dataclass(frozen=True, slots=True)
class PhraseHit:
    """A phrase heard at ``at_ms`` (stream time); ``machine`` when it points to a machine."""

    phrase: str
    at_ms: float
    machine: bool = True


@runtime_checkable
class PhraseSpotter(Protocol):
    name: str

    def process(self, chunk: AudioChunk) -> list[PhraseHit]:
        """Feed audio of any rate; return phrases completed so far."""
        ...

    def busy(self) -> bool:
        """True while words were heard recently enough that a phrase may still complete."""
        ...

    def reset(self) -> None: ...


class PocketsphinxPhraseSpotter:
    """Keyword spotting with pocketsphinx over a list of phrases and thresholds."""

    name = "pocketsphinx"
    rate_hz = 16000

    def __init__(
        self,
        phrases: dict[str, float] | None = None,
        *,
        model_dir: str | None = None,
        dictionary: str | None = None,
    ) -> None:
        try:
            import pocketsphinx
        except ImportError as e:
            raise MissingExtraError("phrase spotting", "speech", "pocketsphinx") from e
        self.phrases = dict(phrases or ENGLISH_MACHINE_PHRASES)
        if not self.phrases:
            raise ValidationError("phrase spotter needs at least one phrase")
        base = pocketsphinx.get_model_path()
        hmm = model_dir or os.path.join(base, "en-us", "en-us")
        dict_path = dictionary or os.path.join(base, "en-us", "cmudict-en-us.dict")
        with tempfile.NamedTemporaryFile("w", suffix=".kws", delete=False) as keyfile:
            for phrase, threshold in self.phrases.items():
                keyfile.write(f"{phrase.lower()} /{threshold:g}/\n")
        try:
            self._decoder = pocketsphinx.Decoder(
                hmm=hmm, dict=dict_path, kws=keyfile.name, loglevel="FATAL"
            )
        except Exception as e:
            raise EngineError(f"cannot start pocketsphinx phrase spotting: {e}") from e
        finally:
            os.unlink(keyfile.name)
        self._started = False
        self.reset()

    def reset(self) -> None:
        if self._started:
            self._decoder.end_utt()
        self._decoder.start_utt()
        self._started = True
        self._resampler: StreamResampler | None = None
        self._input_rate: int | None = None
        self._heard_ms = 0.0

    def busy(self) -> bool:
        return False

    def process(self, chunk: AudioChunk) -> list[PhraseHit]:
        if self._input_rate != chunk.rate:
            self._resampler = StreamResampler(chunk.rate, self.rate_hz)
            self._input_rate = chunk.rate
        assert self._resampler is not None
        pcm = self._resampler.process(chunk.pcm)
        self._heard_ms += chunk.duration_ms
        if not pcm:
            return []
        try:
            self._decoder.process_raw(pcm, False, False)
            hypothesis = self._decoder.hyp()
        except Exception as e:
            raise EngineError(f"pocketsphinx phrase spotting failed: {e}") from e
        if hypothesis is None or not hypothesis.hypstr.strip():
            return []
        hits = [
            PhraseHit(phrase, self._heard_ms)
            for phrase in self.phrases
            if phrase.lower() in hypothesis.hypstr.lower()
        ]
        logger.debug("phrase spotter heard %r", hypothesis.hypstr)
        self._decoder.end_utt()
        self._decoder.start_utt()
        return hits


class ListPhraseSpotter:
    """A scripted spotter for unit tests of the detector's logic: reports given hits in time."""

    name = "list"

    def __init__(self, hits: Sequence[PhraseHit]) -> None:
        self._hits = sorted(hits, key=lambda h: h.at_ms)
        self.reset()

    def reset(self) -> None:
        self._heard_ms = 0.0
        self._next = 0

    def busy(self) -> bool:
        return False

    def process(self, chunk: AudioChunk) -> list[PhraseHit]:
        self._heard_ms += chunk.duration_ms
        due = []
        while self._next < len(self._hits) and self._hits[self._next].at_ms <= self._heard_ms:
            due.append(self._hits[self._next])
            self._next += 1
        return due


def create_phrase_spotter(language: str = "en") -> PhraseSpotter:
    """The default spotter for a language (English: pocketsphinx with the bundled model)."""
    if language.lower().startswith("en"):
        return PocketsphinxPhraseSpotter()
    raise ValidationError(
        f"no bundled phrase model for language {language!r}: only 'en' ships with pocketsphinx"
    )
