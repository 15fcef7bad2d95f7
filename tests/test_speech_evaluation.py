"""WER arithmetic and the text normalisation used to score recognizers."""

from __future__ import annotations

import pytest

from robot.errors import ValidationError
from robot.speech.evaluation import (
    asterisk_prompts,
    normalize_text,
    word_error_rate,
    word_errors,
)


def test_normalisation_keeps_only_spoken_words() -> None:
    assert normalize_text("I'm sorry, that's (5 seconds of silence) a re-record [beep]!") == [
        "i",
        "am",
        "sorry",
        "that",
        "is",
        "a",
        "rerecord",
    ]
    assert normalize_text("Press # or * then 42.") == [
        "press",
        "pound",
        "or",
        "star",
        "then",
        "four",
        "two",
    ]
    assert normalize_text("  ...  ") == []


def test_word_errors_count_substitutions_insertions_and_deletions() -> None:
    assert word_errors(["a", "b", "c"], ["a", "b", "c"]) == 0
    assert word_errors(["a", "b", "c"], ["a", "x", "c", "d"]) == 2
    assert word_errors(["a", "b"], []) == 2
    assert word_errors([], ["a"]) == 1
    assert word_error_rate([("Hello there.", "hello there"), ("one two", "one")]) == 0.25


def test_asterisk_sentence_prompts_have_audio_and_words() -> None:
    prompts = asterisk_prompts("en", min_words=3)
    assert len(prompts) > 250
    assert all(p.path.is_file() and len(normalize_text(p.text)) >= 3 for p in prompts)
    names = {p.name for p in prompts}
    assert "vm-intro" in names and "silence/5" not in names and "digits/1" not in names


def test_missing_transcript_list_names_the_package(tmp_path) -> None:
    with pytest.raises(ValidationError, match="asterisk-core-sounds-xx"):
        asterisk_prompts("xx", transcripts=tmp_path / "missing.txt.gz")
