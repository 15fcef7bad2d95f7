"""Rules on what the greeting reads: Russian phrases heard slightly wrong, and the call's
language choosing the reading language."""

from __future__ import annotations

import pytest

from voicemail.detector import DetectorSettings
from voicemail.fuzzy_phrases import edit_distance, fuzzy_machine_phrase
from voicemail.phrases import machine_phrase


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
