"""Rules on what the greeting reads: unsure readings, Russian phrases heard slightly wrong,
and the call's language choosing the reading language."""

from __future__ import annotations

from pathlib import Path

import pytest

from robot.audio import AudioChunk, read_wav, silence
from voicemail.detector import DetectorSettings, VoicemailDetector
from voicemail.fuzzy_phrases import edit_distance, fuzzy_machine_phrase
from voicemail.phrases import answer_like, machine_phrase
from voicemail.recordings import detect_with
from voicemail.transcripts import GreetingTranscript

SOUNDS = Path("/usr/share/asterisk/sounds/en")
RATE = 8000


class FixedReader:
    """Reads every greeting as the same words with the same confidence."""

    name = "fixed"

    def __init__(self, text: str, avg_logprob: float) -> None:
        self.text, self.avg_logprob = text, avg_logprob

    def reset(self) -> None:
        pass

    def process(self, chunk: AudioChunk) -> None:
        pass

    def read(self, start_ms: float, end_ms: float | None = None) -> GreetingTranscript:
        end = start_ms if end_ms is None else end_ms
        return GreetingTranscript(
            self.text, "en", start_ms, end, self.avg_logprob, None, answer_like(self.text)
        )


def greeting_then_silence() -> tuple[AudioChunk, float]:
    """0.4 s of silence, "goodbye" (0.93 s: longer than a bare hello), 3 s of silence."""
    words = read_wav(SOUNDS / "goodbye.wav", RATE)
    parts = [silence(400), words, silence(3000)]
    audio = AudioChunk(b"".join(p.pcm for p in parts), RATE)
    return audio, 400 + words.duration_ms


def test_unsure_reading_does_not_make_the_detector_wait_longer() -> None:
    audio, words_end_ms = greeting_then_silence()
    sure = detect_with(VoicemailDetector(reader=FixedReader("Crumble a pinto", -0.4)), audio)
    unsure = detect_with(VoicemailDetector(reader=FixedReader("Crumble a pinto", -1.9)), audio)
    assert sure.verdict == unsure.verdict == "human"
    # Sure words that are neither a machine's nor an answer wait 1.1 s of silence; words
    # Whisper made up (scored below unclear_read_min_logprob) wait the usual 0.7 s.
    assert sure.decision_ms - words_end_ms >= 1000
    assert unsure.decision_ms - words_end_ms < 1000
    assert sure.decision_ms - unsure.decision_ms >= 250


def test_unsure_reading_limit_is_a_setting() -> None:
    audio, _ = greeting_then_silence()
    strict = DetectorSettings(unclear_read_min_logprob=-3.0)
    old = detect_with(VoicemailDetector(strict, reader=FixedReader("Crumble a pinto", -1.9)), audio)
    new = detect_with(VoicemailDetector(reader=FixedReader("Crumble a pinto", -1.9)), audio)
    assert old.decision_ms - new.decision_ms >= 250


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("Оставте сообщенье.", "оставте сообщенье"),
        ("Здравствуйте, вы пазвонили Ивану.", "вы пазвонили"),
        ("Это Маша, я перизвоню.", "я перизвоню"),
        ("Абанент недаступен.", "абанент"),  # the loose regex still comes first
        ("Говорите только после сиг", "после сиг"),  # a read cut in the middle of "сигнала"
        ("Меня нет на месте.", "меня нет"),
        # people picking up, and words close to a phrase that are not one
        ("Алло, здравствуйте, кто это?", None),
        ("Здравствуйте, это Сергей, а кто звонит?", None),
        ("Да, алло, слушаю вас внимательно.", None),
        ("После сигарет не звони.", None),
        ("Мне нет дела.", None),
    ],
)
def test_russian_phrases_heard_slightly_wrong(text: str, phrase: str | None) -> None:
    assert machine_phrase(text, "ru") == phrase


def test_fuzzy_phrases_need_every_word_and_allow_edits_by_length() -> None:
    assert edit_distance("сообщение", "сообщенье") == 1
    assert edit_distance("", "abc") == 3
    assert fuzzy_machine_phrase("оставьте", "ru") is None  # one word of a two-word phrase
    assert fuzzy_machine_phrase("оставьте сопщение", "ru") == "оставьте сопщение"
    assert fuzzy_machine_phrase("оставьте сопщение", "en") is None  # Russian list only
    assert fuzzy_machine_phrase("вы поз", "ru") is None  # too far from "позвонили"


def test_russian_calls_read_in_russian() -> None:
    settings = DetectorSettings()
    assert settings.for_call_language("ru").phrase_language == "ru"
    assert settings.for_call_language("ru-RU").phrase_language == "ru"
    assert settings.for_call_language("en").phrase_language == "en"
    # a language without a phrase list keeps the configured languages
    assert settings.for_call_language("de") is settings
