"""Off-domain and garbled speech goes to the fallback, not to the nearest intent.

The dev sets (tests/data/nlu_offdomain_tune.yml, the part the rules were tuned on, and
nlu_offdomain_report.yml, never tuned on) hold mishearings, feelings and small talk, nonsense,
recogniser hallucinations, background TV, other languages and typed junk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dialogues.features import TfidfFeaturizer
from dialogues.loader import load_script
from dialogues.nlu import FALLBACK_INTENT, BuiltinClassifier, build_classifier
from dialogues.rasa import load_rasa_nlu
from dialogues.text import normalize

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
COMMON_INTENTS = ROOT / "dialogues" / "scripts" / "common_intents.yml"
LEAD = ROOT / "dialogues" / "scripts" / "lead_qualification.yaml"


@pytest.fixture(scope="module")
def common() -> BuiltinClassifier:
    return BuiltinClassifier.train(load_rasa_nlu(COMMON_INTENTS).examples)


@pytest.fixture(scope="module")
def lead() -> BuiltinClassifier:
    classifier = build_classifier(load_script(LEAD))
    assert isinstance(classifier, BuiltinClassifier)
    return classifier


def dev_set(part: str) -> list[str]:
    return load_rasa_nlu(DATA / f"nlu_offdomain_{part}.yml").examples[FALLBACK_INTENT]


def test_dev_sets_are_apart_from_training_and_from_each_other() -> None:
    training = {
        normalize(text)
        for texts in load_rasa_nlu(COMMON_INTENTS).examples.values()
        for text in texts
    }
    tune, report = dev_set("tune"), dev_set("report")
    assert len(tune) >= 40 and len(report) >= 40
    assert not {normalize(t) for t in tune + report} & training
    assert not {normalize(t) for t in tune} & {normalize(t) for t in report}


@pytest.mark.parametrize("part", ["tune", "report"])
def test_off_domain_speech_goes_to_fallback(
    common: BuiltinClassifier, lead: BuiltinClassifier, part: str
) -> None:
    texts = dev_set(part)
    for classifier in (common, lead):
        taken = {t: classifier.parse(t).intent for t in texts}
        taken = {t: i for t, i in taken.items() if i != FALLBACK_INTENT}
        assert len(taken) / len(texts) <= 0.1, taken


@pytest.mark.parametrize(
    "text",
    [
        "With any mud.",  # "Within a month." as a demo call heard it: it ended the call
        "I am feeling really sad today",
        "the weather is purple",
        "purple monkey dishwasher",
        "asdf qwer zxcv",
    ],
)
def test_nonsense_is_not_an_intent_of_the_lead_script(lead: BuiltinClassifier, text: str) -> None:
    assert lead.parse(text).is_fallback


def test_a_word_that_belongs_to_another_intent_contradicts_the_best_score() -> None:
    # Like a mood bot: "i am feeling ..." mostly means good, but "sad" only ever meant unhappy.
    classifier = BuiltinClassifier.train(
        {
            "good": [
                "i am feeling very good",
                "i am feeling great",
                "feeling like a million dollars",
                "i am amazing",
                "i am great",
                "wonderful",
            ],
            "unhappy": ["sad", "i am sad", "so sad", "very sad", "terrible day"],
            "greet": ["hello", "hi there", "good morning"],
        }
    )
    assert classifier.owned_words["sad"] == "unhappy"
    assert classifier.contradiction("i am feeling really sad today", "good") == "sad"
    assert classifier.parse("I am feeling really sad today").intent != "good"
    assert classifier.parse("i am feeling great").intent == "good"
    assert classifier.parse("so sad").intent == "unhappy"


def test_unknown_words_shorten_the_feature_vector() -> None:
    featurizer = TfidfFeaturizer.fit(["not interested", "yes please", "call me later"])
    known = featurizer.transform("yes please")
    assert np.linalg.norm(known.values) == pytest.approx(1.0)
    mixed = featurizer.transform("yes please banana hammock")
    assert 0.0 < np.linalg.norm(mixed.values) < 0.9
    assert featurizer.transform("zzz qqq").is_empty


def test_unknown_share_counts_words_never_seen(lead: BuiltinClassifier) -> None:
    assert lead.unknown_share("yes") == 0.0
    assert lead.unknown_share("yes zorblax") == 0.5
    assert lead.unknown_share("") == 0.0
