"""The built-in intent classifier, trained on the bundled common intents."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogues.nlu import (
    FALLBACK_INTENT,
    BuiltinClassifier,
    Entity,
    IntentClassifier,
    NluResult,
    normalize,
)
from dialogues.rasa import load_rasa_nlu
from dialogues.slots import Money
from robot.errors import ValidationError

ROOT = Path(__file__).resolve().parent.parent
COMMON_INTENTS = ROOT / "dialogues" / "scripts" / "common_intents.yml"
HELDOUT = ROOT / "tests" / "data" / "nlu_heldout.yml"
NINE_INTENTS = {
    "affirm",
    "deny",
    "callback_later",
    "not_interested",
    "wrong_person",
    "ask_who",
    "ask_repeat",
    "do_not_call",
    "human_agent",
}
NOW = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def common_examples() -> dict[str, list[str]]:
    return load_rasa_nlu(COMMON_INTENTS).examples


@pytest.fixture(scope="module")
def classifier(common_examples: Mapping[str, list[str]]) -> BuiltinClassifier:
    return BuiltinClassifier.train(common_examples)


@pytest.fixture(scope="module")
def heldout() -> dict[str, list[str]]:
    return load_rasa_nlu(HELDOUT).examples


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Um, I'm not  interested!", "i am not interested"),
        ("Mm-hmm.", "mhm"),
        ("uh-huh yeah", "mhm yeah"),
        ("Who's this?", "who is this"),
        ("Where'd you get my number", "where did you get my number"),
        ("I can't talk, I'm driving", "i can not talk i am driving"),
        ("don't call me again", "do not call me again"),
        ("we're good, they'll call", "we are good they will call"),
        ("I'd like to talk to someone", "i would like to talk to someone"),
        ("like i said no", "i said no"),
        ("well yeah i guess", "yeah i guess"),
        ("i can hear you very well", "i can hear you very well"),
        ("I\u2019m at the doctor's", "i am at the doctor"),
        ("about $5,000.", "about 5000"),
        ("2.5k", "2.5k"),
        ("twenty-five", "twenty five"),
        ("", ""),
        ("?!", ""),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert normalize(text) == expected


def test_common_intents_has_the_nine_intents_with_enough_examples(
    common_examples: Mapping[str, list[str]],
) -> None:
    assert set(common_examples) >= NINE_INTENTS
    for intent in NINE_INTENTS:
        assert 40 <= len(common_examples[intent]) <= 80, intent


def test_heldout_set_is_separate_from_training(
    common_examples: Mapping[str, list[str]], heldout: Mapping[str, list[str]]
) -> None:
    training = {normalize(text) for texts in common_examples.values() for text in texts}
    for intent, texts in heldout.items():
        assert len(texts) >= 30, intent
        copies = [text for text in texts if normalize(text) in training]
        assert not copies, f"{intent}: held-out lines also in training: {copies}"
    assert NINE_INTENTS | {FALLBACK_INTENT} == set(heldout)


def test_heldout_accuracy_on_the_nine_intents(
    classifier: BuiltinClassifier, heldout: Mapping[str, list[str]]
) -> None:
    total = correct = 0
    wrong: list[str] = []
    for intent in sorted(NINE_INTENTS):
        for text in heldout[intent]:
            result = classifier.parse(text, now=NOW)
            total += 1
            if result.intent == intent:
                correct += 1
            else:
                wrong.append(f"{text!r}: {intent} -> {result.intent}")
    accuracy = correct / total
    assert accuracy >= 0.95, f"accuracy {accuracy:.3f}; misses: {wrong}"


def test_out_of_scope_goes_to_fallback(
    classifier: BuiltinClassifier, heldout: Mapping[str, list[str]]
) -> None:
    out_of_scope = heldout[FALLBACK_INTENT]
    fallbacks = [text for text in out_of_scope if classifier.parse(text, now=NOW).is_fallback]
    recall = len(fallbacks) / len(out_of_scope)
    in_scope = [text for intent in NINE_INTENTS for text in heldout[intent]]
    false_fallbacks = [text for text in in_scope if classifier.parse(text, now=NOW).is_fallback]
    precision = len(fallbacks) / (len(fallbacks) + len(false_fallbacks))
    assert recall >= 0.6, f"only {recall:.2f} of out-of-scope utterances fell back"
    assert precision >= 0.8, f"fallback precision {precision:.2f}: {false_fallbacks}"


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("yep", "affirm"),
        ("Yeah, sure.", "affirm"),
        ("yeah shore", "affirm"),
        ("nah", "deny"),
        ("Nope.", "deny"),
        ("who's this", "ask_who"),
        ("WHO IS THIS?", "ask_who"),
        ("i'm drivin right now", "callback_later"),
        ("not in arrested", "not_interested"),
        ("take me of your list", "do_not_call"),
        ("can i talk to a reel person", "human_agent"),
        ("say that agin", "ask_repeat"),
        ("rong number", "wrong_person"),
    ],
)
def test_short_answers_and_misrecognitions(
    classifier: BuiltinClassifier, text: str, intent: str
) -> None:
    assert classifier.parse(text, now=NOW).intent == intent


def test_training_is_deterministic(common_examples: Mapping[str, list[str]]) -> None:
    first = BuiltinClassifier.train(common_examples)
    second = BuiltinClassifier.train({k: list(v) for k, v in common_examples.items()})
    probes = ["yes", "call me later", "the weather is nice", "who are you", "uh"]
    assert [first.rank(text) for text in probes] == [second.rank(text) for text in probes]
    assert np.array_equal(first._weights, second._weights)


def test_ranking_and_result_shape(classifier: BuiltinClassifier) -> None:
    result = classifier.parse("please stop calling me", now=NOW)
    assert isinstance(result, NluResult)
    assert result.intent == "do_not_call"
    assert result.confidence == result.ranking[0][1]
    assert result.ranking[0][0] == "do_not_call"
    assert len(result.ranking) == len(NINE_INTENTS)
    assert FALLBACK_INTENT not in dict(result.ranking)
    assert sum(p for _, p in result.ranking) <= 1.0 + 1e-9
    assert isinstance(classifier, IntentClassifier)


def test_threshold_sends_everything_below_it_to_fallback(
    common_examples: Mapping[str, list[str]],
) -> None:
    strict = BuiltinClassifier.train(common_examples, threshold=1.0)
    result = strict.parse("yes", now=NOW)
    assert result.intent == FALLBACK_INTENT
    assert 0.0 < result.confidence < 1.0  # the confidence of the best guess is kept


@pytest.mark.parametrize("text", ["", "   ", "?!", "uh um", "xqzj vbnm"])
def test_text_with_nothing_known_falls_back(classifier: BuiltinClassifier, text: str) -> None:
    result = classifier.parse(text, now=NOW)
    assert result.intent == FALLBACK_INTENT


def test_entities_from_slot_extractors(classifier: BuiltinClassifier) -> None:
    text = "can you call me back tomorrow at five"
    result = classifier.parse(text, now=NOW)
    assert result.intent == "callback_later"
    assert result.entities == (
        Entity("datetime", datetime(2026, 11, 26, 17, 0, tzinfo=UTC), "tomorrow at five", 21, 37),
    )
    money = classifier.parse("our budget is about 5,000 dollars", now=NOW).entities
    assert [(e.entity, e.value, e.text) for e in money] == [
        ("money", Money(Decimal(5000), "USD"), "5,000 dollars")
    ]


def test_to_json_matches_the_cli_contract(classifier: BuiltinClassifier) -> None:
    document = classifier.parse("call me in two hours", now=NOW).to_json()
    assert set(document) == {"text", "intent", "confidence", "entities"}
    assert document["intent"] == "callback_later"
    assert document["entities"] == [
        {
            "entity": "datetime",
            "value": "2026-11-25T16:30:00+00:00",
            "text": "in two hours",
            "start": 8,
            "end": 20,
        }
    ]


def test_default_now_is_current_utc(classifier: BuiltinClassifier) -> None:
    (entity,) = classifier.parse("in 20 minutes").entities
    assert isinstance(entity.value, datetime)
    assert entity.value.utcoffset() is not None and entity.value.utcoffset().total_seconds() == 0
    assert abs((entity.value - datetime.now(UTC)).total_seconds() - 20 * 60) < 120


def test_script_intents_add_to_the_common_ones(common_examples: Mapping[str, list[str]]) -> None:
    examples = dict(common_examples)
    examples["ask_price"] = [
        "how much does it cost",
        "what's the price",
        "how much is it",
        "what does it cost per month",
        "is it expensive",
        "what are your rates",
        "how much do you charge",
        "what's the monthly fee",
    ]
    classifier = BuiltinClassifier.train(examples)
    assert classifier.parse("so how much will this cost me", now=NOW).intent == "ask_price"
    assert classifier.parse("yeah sure", now=NOW).intent == "affirm"
    assert "ask_price" in classifier.intents and FALLBACK_INTENT not in classifier.intents


def test_lookup_regex_and_synonym_entities() -> None:
    classifier = BuiltinClassifier.train(
        {"order": ["i want a pizza", "one pizza please"], "cancel": ["cancel it", "stop"]},
        lookups={"topping": ["pepperoni", "ham and pineapple"]},
        regexes={"order_id": [r"\b[A-Z]{2}\d{4}\b"]},
        synonyms={"pineapple ham": "ham and pineapple", "hawaiian": "ham and pineapple"},
    )
    result = classifier.parse("a pizza with Ham and  Pineapple, order AB1234", now=NOW)
    found = {(e.entity, e.value, e.text) for e in result.entities}
    assert ("topping", "ham and pineapple", "Ham and  Pineapple") in found
    assert ("order_id", "AB1234", "AB1234") in found


def test_single_intent_classifier() -> None:
    classifier = BuiltinClassifier.train({"affirm": ["yes", "yeah"]})
    assert classifier.parse("yes", now=NOW).intent == "affirm"
    assert classifier.parse("zzz", now=NOW).intent == FALLBACK_INTENT


@pytest.mark.parametrize(
    ("examples", "message"),
    [
        ({}, "no intent with examples"),
        ({"affirm": []}, "no intent with examples"),
        ({FALLBACK_INTENT: ["the weather"]}, "no intent with examples"),
    ],
)
def test_training_without_examples_is_refused(examples: dict[str, list[str]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        BuiltinClassifier.train(examples)


def test_threshold_out_of_range_is_refused() -> None:
    with pytest.raises(ValidationError, match="threshold"):
        BuiltinClassifier.train({"affirm": ["yes"]}, threshold=1.5)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text_parses_without_error(classifier: BuiltinClassifier, text: str) -> None:
    result = classifier.parse(text, now=NOW)
    assert result.intent == FALLBACK_INTENT or result.intent in classifier.intents
    assert 0.0 <= result.confidence <= 1.0
    for entity in result.entities:
        assert text[entity.start : entity.end] == entity.text
