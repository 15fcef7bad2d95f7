"""Rules on what the greeting reads: Russian phrases heard slightly wrong, and the call's
language choosing the reading language."""

from __future__ import annotations

from pathlib import Path

import pytest

from robot.audio import AudioChunk, read_wav, silence
from voicemail.detector import DetectorSettings, VoicemailDetector
from voicemail.fuzzy_phrases import edit_distance, fuzzy_machine_phrase
from voicemail.phrases import machine_phrase
from voicemail.recordings import detect_with
from voicemail.transcripts import GreetingTranscript


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


class FixedReader:
    """Reads every greeting as the same clear words, no machine phrase, at one confidence."""

    name = "fixed"

    def __init__(self, avg_logprob: float, multilingual: bool) -> None:
        self.avg_logprob, self.multilingual = avg_logprob, multilingual

    def reset(self) -> None:
        pass

    def process(self, chunk: AudioChunk) -> None:
        pass

    def read(self, start_ms: float, end_ms: float | None = None) -> GreetingTranscript:
        text = "Good morning, thank you for calling the garage, this is Paul"
        end = start_ms if end_ms is None else end_ms
        return GreetingTranscript(text, "en", start_ms, end, self.avg_logprob, None, False)


def test_english_only_model_holds_the_length_limit_at_its_own_confidence() -> None:
    """tiny.en scores clear words lower than the multilingual base: -1.1 is clear for it."""
    sounds = Path("/usr/share/asterisk/sounds/en")
    words = [read_wav(sounds / f"{n}.wav", 8000) for n in ("agent-pass", "tt-weasels")]
    speech = AudioChunk(b"".join(w.pcm for w in words), 8000)
    speech = AudioChunk(speech.pcm[: int(4.8 * 8000) * 2], 8000)  # 4.8 s: over the 4 s limit
    audio = AudioChunk(silence(300).pcm + speech.pcm + silence(3000).pcm, 8000)
    english = detect_with(VoicemailDetector(reader=FixedReader(-1.1, multilingual=False)), audio)
    base = detect_with(VoicemailDetector(reader=FixedReader(-1.1, multilingual=True)), audio)
    assert base.verdict == "machine" and "greeting" in base.reason
    assert english.verdict == "human"
