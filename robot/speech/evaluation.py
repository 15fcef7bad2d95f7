"""Measuring recognizers: text normalisation, word error rate, and reference prompt lists.

The reference corpus is the Asterisk prompt set that Debian packages ship: real 8 kHz studio
recordings (``/usr/share/asterisk/sounds/<lang>/NAME.wav``) with their transcripts in
``/usr/share/doc/asterisk-core-sounds-<lang>/core-sounds-<lang>.txt.gz`` (``NAME: text``).
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

from robot.errors import ValidationError

ASTERISK_SOUNDS_DIR = Path("/usr/share/asterisk/sounds")
ASTERISK_DOC_DIR = Path("/usr/share/doc")

_DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
#: Stage directions in transcripts ("[beep]", "(5 seconds of silence)") are not spoken.
_BRACKETED = re.compile(r"\[[^\]]*\]|\([^)]*\)")
_SPOKEN_SYMBOLS = {"#": " pound ", "*": " star ", "&": " and ", "%": " percent "}
_CONTRACTIONS = {
    "i'm": "i am",
    "you're": "you are",
    "we're": "we are",
    "they're": "they are",
    "that's": "that is",
    "it's": "it is",
    "there's": "there is",
    "what's": "what is",
    "let's": "let us",
    "can't": "cannot",
    "won't": "will not",
    "don't": "do not",
    "doesn't": "does not",
    "isn't": "is not",
    "didn't": "did not",
    "i'll": "i will",
    "you'll": "you will",
    "we'll": "we will",
    "i've": "i have",
    "you've": "you have",
    "i'd": "i would",
    "you'd": "you would",
}
_NOT_WORD = re.compile(r"[^\w\s']|_")
_DIGIT_RUN = re.compile(r"\d+")


def normalize_text(text: str) -> list[str]:
    """Words for WER: lower case, no punctuation or stage directions, digits spelled one by
    one ("42" -> four two), ``#``/``*`` as spoken ("pound", "star"), hyphenated words joined,
    common contractions expanded."""
    text = _BRACKETED.sub(" ", text.lower().replace("’", "'"))
    for symbol, spoken in _SPOKEN_SYMBOLS.items():
        text = text.replace(symbol, spoken)
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", "", text)  # re-record = rerecord
    text = _DIGIT_RUN.sub(
        lambda m: " " + " ".join(_DIGIT_WORDS[int(d)] for d in m.group()) + " ", text
    )
    words = _NOT_WORD.sub(" ", text).split()
    words = " ".join(_CONTRACTIONS.get(w, w) for w in words).split()
    return [w.replace("'", "") for w in words if w.strip("'")]


def word_errors(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance between two word lists (substitutions + deletions + insertions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, start=1):
        current = [i] + [0] * len(hypothesis)
        for j, hyp_word in enumerate(hypothesis, start=1):
            current[j] = min(
                previous[j] + 1,
                current[j - 1] + 1,
                previous[j - 1] + (ref_word != hyp_word),
            )
        previous = current
    return previous[-1]


def word_error_rate(pairs: list[tuple[str, str]]) -> float:
    """Corpus WER over (reference, hypothesis) texts: total errors / total reference words."""
    errors = words = 0
    for reference, hypothesis in pairs:
        ref = normalize_text(reference)
        errors += word_errors(ref, normalize_text(hypothesis))
        words += len(ref)
    return errors / words if words else 0.0


@dataclass(frozen=True, slots=True)
class ReferencePrompt:
    name: str
    path: Path
    text: str


def asterisk_prompts(
    language: str = "en",
    *,
    min_words: int = 1,
    sounds_dir: Path | None = None,
    transcripts: Path | None = None,
) -> list[ReferencePrompt]:
    """Asterisk prompts with transcripts, keeping those of at least ``min_words`` words.

    Entries without a WAV file or without words (``[beep]``) are skipped.
    """
    sounds = sounds_dir or ASTERISK_SOUNDS_DIR / language
    listing = transcripts or (
        ASTERISK_DOC_DIR / f"asterisk-core-sounds-{language}" / f"core-sounds-{language}.txt.gz"
    )
    if not listing.is_file():
        raise ValidationError(
            f"{listing}: transcript list not found "
            f"(apt-get install asterisk-core-sounds-{language})"
        )
    opener = gzip.open if listing.suffix == ".gz" else open
    prompts = []
    with opener(listing, "rt", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            name, sep, text = line.partition(":")
            name, text = name.strip(), text.strip()
            if not sep or not name or name.startswith(";"):
                continue
            path = sounds / f"{name}.wav"
            if len(normalize_text(text)) < min_words or not path.is_file():
                continue
            prompts.append(ReferencePrompt(name, path, text))
    return prompts
