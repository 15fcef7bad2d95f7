"""Static prompt cache over a real synthesizer (espeak-ng), counting how often it is invoked;
which sentences of a script are static prompts."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from dialogues.loader import load_script, load_script_text
from dialogues.manager import DialogueManager, Dtmf, NoInput, UserText
from dialogues.nlu import FALLBACK_INTENT, NluResult
from dialogues.templates import (
    CONFIRM_PROMPTS,
    DEFAULT_NO_MATCH,
    OUT_OF_RETRIES,
    TAKEN_BACK,
    render_template,
)
from robot.audio import AudioChunk
from robot.engine import ScriptVoice, static_sentences
from robot.speech.base import split_sentences
from robot.speech.espeak import EspeakSynthesizer
from robot.speech.prompt_cache import PromptCache, prompt_key


class CountingSynthesizer:
    """Wraps a real synthesizer and counts calls to ``synthesize``."""

    def __init__(self, inner: EspeakSynthesizer) -> None:
        self.inner = inner
        self.name = inner.name
        self.language = inner.language
        self.sample_rate = inner.sample_rate
        self.voice_name = inner.voice_name
        self.version = inner.version
        self.calls = 0
        self._lock = threading.Lock()

    def synthesize(self, text: str) -> AudioChunk:
        with self._lock:
            self.calls += 1
        return self.inner.synthesize(text)

    def stream(self, text: str) -> Iterator[AudioChunk]:
        yield self.synthesize(text)


@pytest.fixture()
def engine() -> CountingSynthesizer:
    return CountingSynthesizer(EspeakSynthesizer("en-us"))


def test_second_request_is_served_from_memory(engine, tmp_path: Path) -> None:
    cache = PromptCache(tmp_path / "tts")
    first = cache.get(engine, "Thank you for your time.")
    second = cache.get(engine, "Thank you for your time.")
    assert engine.calls == 1
    assert second.pcm == first.pcm and first.duration_ms > 500
    assert (cache.stats.misses, cache.stats.memory_hits) == (1, 1)


def test_disk_cache_survives_a_restart(engine, tmp_path: Path) -> None:
    first = PromptCache(tmp_path / "tts").get(engine, "Goodbye.")
    restarted = PromptCache(tmp_path / "tts")
    again = restarted.get(engine, "Goodbye.")
    assert engine.calls == 1 and restarted.stats.disk_hits == 1
    assert again.pcm == first.pcm and again.rate == 8000
    assert len(list((tmp_path / "tts").rglob("*.wav"))) == 1


def test_key_changes_with_text_voice_and_version(engine) -> None:
    base = prompt_key(engine, "Hello.")
    assert prompt_key(engine, "Hello!") != base
    engine.voice_name = "en-us+f3"
    assert prompt_key(engine, "Hello.") != base
    engine.voice_name = "en-us"
    engine.version = "espeak-ng 9.9"
    assert prompt_key(engine, "Hello.") != base


def test_corrupt_disk_entry_is_synthesized_again(engine, tmp_path: Path) -> None:
    PromptCache(tmp_path / "tts").get(engine, "Hello.")
    (path,) = (tmp_path / "tts").rglob("*.wav")
    path.write_bytes(b"garbage")
    audio = PromptCache(tmp_path / "tts").get(engine, "Hello.")
    assert engine.calls == 2 and audio.duration_ms > 200
    assert path.read_bytes()[:4] == b"RIFF"


def test_memory_is_bounded_lru(engine) -> None:
    cache = PromptCache(None, max_entries=2)
    for text in ("One.", "Two.", "One.", "Three."):
        cache.get(engine, text)
    assert engine.calls == 3
    cache.get(engine, "One.")  # kept: used recently
    assert engine.calls == 3
    cache.get(engine, "Two.")  # evicted
    assert engine.calls == 4


def test_concurrent_requests_synthesize_once(engine, tmp_path: Path) -> None:
    cache = PromptCache(tmp_path / "tts")
    results: list[AudioChunk] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get(engine, "Please hold.")))
        for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert engine.calls == 1 and len({r.pcm for r in results}) == 1


async def test_async_get_and_warm(engine, tmp_path: Path) -> None:
    cache = PromptCache(tmp_path / "tts")
    assert cache.warm(engine, ["Hi.", "Bye.", "Hi."]) == 2
    audio = await cache.get_async(engine, "Bye.")
    assert engine.calls == 2 and audio.duration_ms > 100


# -- a script's static sentences ------------------------------------------------------------

BUNDLED = sorted((Path(__file__).resolve().parents[1] / "dialogues" / "scripts").glob("*.yaml"))
SPOKEN_KEYS = ("say", "ask", "voicemail_message")
PER_CALL = re.compile(r"\{\s*(lead|slot)\.")


def yaml_spoken_texts(node: Any) -> Iterator[str]:
    """Every text under a ``say``, ``ask`` or ``voicemail_message`` key, read from raw YAML."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SPOKEN_KEYS:
                yield from [value] if isinstance(value, str) else value
            elif key != "tests":
                yield from yaml_spoken_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from yaml_spoken_texts(item)


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.stem)
def test_every_static_sentence_of_a_bundled_script_is_cached_after_warm_up(
    path: Path, tmp_path: Path
) -> None:
    loaded = load_script(path)
    constants = loaded.script.constants
    expected: set[str] = set()
    for text in yaml_spoken_texts(YAML(typ="safe").load(path.read_text(encoding="utf-8"))):
        for sentence in split_sentences(" ".join(text.split())):
            if not PER_CALL.search(sentence):
                rendered = render_template(sentence, lambda name: constants.get(name, ""))
                expected.update(split_sentences(rendered))
    assert len(expected) >= 10
    language = "ru" if loaded.script.language == "ru" else "en-us"
    synthesizer = CountingSynthesizer(EspeakSynthesizer(language))
    cache = PromptCache(tmp_path / "tts", max_entries=len(expected) + 50)
    voice = ScriptVoice(synthesizer, cache, static_sentences(loaded))
    assert voice.warm() >= len(expected)
    warmed = synthesizer.calls
    missing = sorted(s for s in expected if voice.cached(s) is None)
    assert missing == [], f"{path.name}: not in the prompt cache after warm-up"
    assert synthesizer.calls == warmed  # nothing was synthesized while looking


TRANSITIONS_SCRIPT = """\
script: transitions
settings: {max_retries: 1, on_machine: leave_message, voicemail_message: "Hi, {company} here."}
constants: {company: Acme}
intents:
  affirm: [yes]
start: intro
states:
  intro:
    say: Welcome.
    next: {say: Moving on., goto: menu}
  menu:
    ask: Press one or say yes.
    dtmf: {"1": {say: You pressed one., goto: pressed_end}}
    on: {affirm: quiet}
    no_input: {retries: 0, then: {say: Nothing heard., goto: silent_end}}
  quiet:
    ask: Still there?
    on: {affirm: pressed_end}
  pressed_end: {say: Done., disposition: qualified, end: true}
  silent_end: {say: Bye., disposition: incomplete, end: true}
"""


class YesClassifier:
    def parse(self, text: str) -> NluResult:
        if "yes" in text.lower().split():
            return NluResult(text, "affirm", 0.9)
        return NluResult(text, FALLBACK_INTENT, 0.2)


def test_sentences_of_transitions_reprompts_and_the_voicemail_message_are_static() -> None:
    """What the manager says after ``next``, ``dtmf`` and ``then``, its own reprompts and the
    voicemail message are all prompt-cache sentences."""
    loaded = load_script_text(TRANSITIONS_SCRIPT)
    paths: list[list[Any]] = [
        [Dtmf("1")],
        [NoInput()],
        [UserText("yes"), UserText("pardon"), UserText("what")],  # reprompt, then goodbye
    ]
    said: set[str] = set()
    for events in paths:
        manager = DialogueManager(loaded, classifier=YesClassifier())
        turns = [manager.start(), *(manager.handle(event) for event in events)]
        said.update(s for turn in turns for s in split_sentences(turn.text))
        said.update(split_sentences(manager.render(loaded.script.settings.voicemail_message)))
    assert {"Moving on.", "You pressed one.", "Nothing heard.", "Hi, Acme here."} <= said
    assert DEFAULT_NO_MATCH in said and set(split_sentences(OUT_OF_RETRIES)) <= said
    assert said <= static_sentences(loaded), sorted(said - static_sentences(loaded))


CONFIRMING_SCRIPT = """\
script: confirming
language: LANGUAGE
variables: [first_name]
settings: {confirm_intents: [not_interested, do_not_call, wrong_person, later]}
intents:
  affirm: [yes]
  deny: [no]
  not_interested: [not interested]
  do_not_call: [stop calling]
  wrong_person: [wrong person]
  later: [call me later]
slots:
  budget: {type: integer, read_back: always}
start: hello
global:
  on: {not_interested: no_end, later: later_end}
states:
  hello:
    ask: Still interested?
    confirm_prompts: {wrong_person: "Not {lead.first_name}, then?"}
    on: {affirm: budget, deny: no_end, wrong_person: no_end}
  budget: {ask: What budget?, slot: budget, next: done}
  done: {say: Thanks., disposition: qualified, end: true}
  no_end: {say: Bye., disposition: not_interested, end: true}
  later_end: {say: Later then., disposition: callback, end: true}
"""

CONFIRMING_INTENTS = {
    "yes": "affirm",
    "no": "deny",
    "not interested": "not_interested",
    "wrong person": "wrong_person",
    "call me later": "later",
}


class ConfirmingClassifier:
    def parse(self, text: str) -> NluResult:
        intent = CONFIRMING_INTENTS.get(text.lower(), FALLBACK_INTENT)
        if intent == FALLBACK_INTENT:
            return NluResult(text, intent, 0.2)
        return NluResult(text, intent, 0.9, ranking=((intent, 0.9), ("other", 0.05)))


def test_the_managers_own_confirmation_sentences_are_static() -> None:
    """The default questions confirming an intent heard unsure, and the apology after a no,
    are prompt-cache sentences; a state's own wording (here per call) and the read-back of a
    value are not, nor the default question of an intent no state can act on."""
    loaded = load_script_text(CONFIRMING_SCRIPT.replace("LANGUAGE", "en"))
    unsure = 0.3  # below the default asr_below of 0.6
    paths: list[list[Any]] = [
        [UserText("not interested", confidence=unsure), UserText("no")],
        [UserText("call me later", confidence=unsure)],
        [UserText("wrong person", confidence=unsure)],
        [UserText("yes"), UserText("twelve", confidence=unsure), UserText("no")],
    ]
    said: set[str] = set()
    for events in paths:
        manager = DialogueManager(
            loaded, classifier=ConfirmingClassifier(), lead={"first_name": "Ann"}
        )
        turns = [manager.start(), *(manager.handle(event) for event in events)]
        said.update(s for turn in turns for s in split_sentences(turn.text))
    prompts = CONFIRM_PROMPTS["en"]
    own = {prompts["not_interested"], prompts[""], TAKEN_BACK["en"]}
    own_sentences = {s for text in own for s in split_sentences(text)}
    per_call = {"Not Ann, then?", "Twelve, is that right?"}
    assert own_sentences | per_call <= said  # the paths really said them
    static = static_sentences(loaded)
    assert said - per_call <= static, sorted(said - per_call - static)
    for text in (prompts["wrong_person"], prompts["do_not_call"], *per_call):
        assert not set(split_sentences(text)) & static, text


def test_confirmation_sentences_follow_the_script_language() -> None:
    russian = static_sentences(load_script_text(CONFIRMING_SCRIPT.replace("LANGUAGE", "ru")))
    for text in (CONFIRM_PROMPTS["ru"]["not_interested"], TAKEN_BACK["ru"]):
        assert set(split_sentences(text)) <= russian
    assert not set(split_sentences(CONFIRM_PROMPTS["en"]["not_interested"])) & russian


def test_no_confirmation_sentences_without_anything_to_confirm() -> None:
    script = CONFIRMING_SCRIPT.replace("LANGUAGE", "en").replace(
        "settings: {confirm_intents: [not_interested, do_not_call, wrong_person, later]}",
        "settings: {confirm_intents: []}",
    )
    script = script.replace("read_back: always", "read_back: never")
    static = static_sentences(load_script_text(script))
    for text in (*CONFIRM_PROMPTS["en"].values(), TAKEN_BACK["en"]):
        assert not set(split_sentences(text)) & static, text
