"""Benchmark of the built-in intent classifier on the bundled common intents.

Prints one JSON line: training time, parse time per utterance (full ``parse`` with entity
extraction), held-out accuracy on the nine common intents, fallback precision/recall,
per-intent accuracy, and how much off-domain and garbled speech goes to the fallback
(``tests/data/nlu_offdomain_tune.yml``, the part rules were tuned on, and
``nlu_offdomain_report.yml``, the part never tuned on). Run: ``.venv/bin/python bench/nlu.py``.

``--foreign FILE...`` measures against other people's Rasa NLU files (e.g. a Rasa example
bot's ``data/nlu.yml``): one JSON line per file with how many of its utterances the
lead-qualification classifier takes for one of its intents instead of the fallback, and how
a classifier trained on that file reads "I am feeling really sad today".
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dialogues.loader import load_script  # noqa: E402
from dialogues.nlu import (  # noqa: E402
    FALLBACK_INTENT,
    BuiltinClassifier,
    build_classifier,
)
from dialogues.rasa import load_rasa_nlu  # noqa: E402

DATA = ROOT / "tests" / "data"
LEAD_SCRIPT = ROOT / "dialogues" / "scripts" / "lead_qualification.yaml"
#: Said to a mood bot, this must not be taken for its "great" mood because of "feeling".
SAD = "I am feeling really sad today"
#: Heard in demo calls, or the kind of thing the robot must not act on.
PROBES = ("With any mud.", SAD, "the weather is purple", "thanks for watching")

TRAINING_RUNS = 5
PARSE_ROUNDS = 3


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def expected_calibration_error(pairs: list[tuple[float, bool]], bins: int = 10) -> float:
    """Mean |accuracy - confidence| over confidence bins, weighted by bin size."""
    total = 0.0
    for index in range(bins):
        low, high = index / bins, (index + 1) / bins
        members = [(c, ok) for c, ok in pairs if low <= c < high or (index == bins - 1 and c == 1)]
        if members:
            accuracy = sum(ok for _, ok in members) / len(members)
            mean_confidence = sum(c for c, _ in members) / len(members)
            total += len(members) / len(pairs) * abs(accuracy - mean_confidence)
    return total


def fallback_share(classifier: BuiltinClassifier, texts: list[str]) -> float:
    return sum(classifier.parse(t).intent == FALLBACK_INTENT for t in texts) / max(len(texts), 1)


def off_domain(classifier: BuiltinClassifier) -> dict[str, object]:
    """Share of off-domain and garbled utterances sent to the fallback, per part."""
    out: dict[str, object] = {}
    for part in ("tune", "report"):
        texts = load_rasa_nlu(DATA / f"nlu_offdomain_{part}.yml").examples[FALLBACK_INTENT]
        out[f"offdomain_{part}_utterances"] = len(texts)
        out[f"offdomain_{part}_fallback_rate"] = round(fallback_share(classifier, texts), 4)
    return out


def foreign(path: Path) -> dict[str, object]:
    """How the lead-qualification classifier treats another bot's utterances, and how a
    classifier trained on that bot's file reads a sad sentence."""
    data = load_rasa_nlu(path).examples
    lead = build_classifier(load_script(LEAD_SCRIPT))
    assert isinstance(lead, BuiltinClassifier)
    ours = set(lead.intents)
    taken: dict[str, int] = {}
    other = [(intent, t) for intent, texts in data.items() if intent not in ours for t in texts]
    for _, text in other:
        result = lead.parse(text)
        if not result.is_fallback:
            taken[result.intent] = taken.get(result.intent, 0) + 1
    trained = BuiltinClassifier.train(data)
    sad = trained.parse(SAD)
    return {
        "benchmark": "nlu_foreign",
        "file": path.name,
        "foreign_intents": len(data),
        "shared_intent_names": sorted(ours & set(data)),
        "foreign_utterances_other_intents": len(other),
        "taken_for_our_intent": sum(taken.values()),
        "taken_for_our_intent_rate": round(sum(taken.values()) / max(len(other), 1), 4),
        "taken_by_intent": dict(sorted(taken.items())),
        "trained_on_file_sad_intent": sad.intent,
        "trained_on_file_sad_confidence": round(sad.confidence, 4),
        "trained_on_file_sad_ranking": [(n, round(p, 3)) for n, p in sad.ranking[:3]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--foreign", nargs="+", type=Path, help="other bots' Rasa NLU files")
    args = parser.parse_args()
    if args.foreign:
        for path in args.foreign:
            print(json.dumps(foreign(path), ensure_ascii=False))
        return
    training = load_rasa_nlu(ROOT / "dialogues" / "scripts" / "common_intents.yml").examples
    heldout = load_rasa_nlu(ROOT / "tests" / "data" / "nlu_heldout.yml").examples
    train_ms = []
    classifier = None
    for _ in range(TRAINING_RUNS):
        started = time.perf_counter()
        classifier = BuiltinClassifier.train(training)
        train_ms.append((time.perf_counter() - started) * 1000)
    assert classifier is not None
    now = datetime.now(UTC)
    samples = [(intent, text) for intent, texts in heldout.items() for text in texts]
    parse_us: list[float] = []
    predicted: dict[str, str] = {}
    confidence: dict[str, float] = {}
    for _ in range(PARSE_ROUNDS):
        for _, text in samples:
            started = time.perf_counter()
            result = classifier.parse(text, now=now)
            parse_us.append((time.perf_counter() - started) * 1e6)
            predicted[text] = result.intent
            confidence[text] = result.confidence
    per_intent = {}
    correct = total = 0
    for intent in sorted(heldout):
        if intent == FALLBACK_INTENT:
            continue
        hits = sum(predicted[text] == intent for text in heldout[intent])
        per_intent[intent] = round(hits / len(heldout[intent]), 4)
        correct += hits
        total += len(heldout[intent])
    fallback_predicted = [t for _, t in samples if predicted[t] == FALLBACK_INTENT]
    fallback_true = [
        text for text in heldout[FALLBACK_INTENT] if predicted[text] == FALLBACK_INTENT
    ]
    in_scope = [(intent, text) for intent, text in samples if intent != FALLBACK_INTENT]
    calibration_error = expected_calibration_error(
        [(confidence[text], predicted[text] == intent) for intent, text in in_scope]
    )
    print(
        json.dumps(
            {
                "benchmark": "nlu_builtin",
                "training_examples": sum(len(v) for v in training.values()),
                "training_intents": len(training),
                "train_ms_median": round(statistics.median(train_ms), 1),
                "train_ms_max": round(max(train_ms), 1),
                "parse_us_p50": round(percentile(parse_us, 0.50), 1),
                "parse_us_p95": round(percentile(parse_us, 0.95), 1),
                "heldout_utterances": len(samples),
                "heldout_accuracy_nine_intents": round(correct / total, 4),
                "fallback_precision": round(
                    len(fallback_true) / max(len(fallback_predicted), 1), 4
                ),
                "fallback_recall": round(len(fallback_true) / len(heldout[FALLBACK_INTENT]), 4),
                "expected_calibration_error": round(calibration_error, 4),
                "per_intent_accuracy": per_intent,
                **off_domain(classifier),
                "lead_qualification_probes": probes(),
            }
        )
    )


def probes() -> dict[str, str]:
    lead = build_classifier(load_script(LEAD_SCRIPT))
    out = {}
    for text in PROBES:
        result = lead.parse(text)
        out[text] = f"{result.intent} {result.confidence:.2f}"
    return out


if __name__ == "__main__":
    main()
