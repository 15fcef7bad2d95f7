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
_BRACKETED = re.compile(r"\[[^\]]*\]")
_NOT_WORD = re.compile(r"[^\w\s']|_")
_DIGIT_RUN = re.compile(r"\d+")


def normalize_text(text: str) -> list[str]:
    """Lower-case words without punctuation; digits spelled one by one ("42" -> four two)."""
    text = _BRACKETED.sub(" ", text.lower()).replace("-", " ")
    text = _DIGIT_RUN.sub(
        lambda m: " " + " ".join(_DIGIT_WORDS[int(d)] for d in m.group()) + " ", text
    )
    text = _NOT_WORD.sub(" ", text).replace("'", "")
    return text.split()


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
