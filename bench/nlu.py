"""Benchmark of the built-in intent classifier on the bundled common intents.

Prints one JSON line: training time, parse time per utterance (full ``parse`` with entity
extraction), held-out accuracy on the nine common intents, fallback precision/recall and
per-intent accuracy. Run: ``.venv/bin/python bench/nlu.py``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dialogues.nlu import FALLBACK_INTENT, BuiltinClassifier  # noqa: E402
from dialogues.rasa import load_rasa_nlu  # noqa: E402

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


def main() -> None:
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
            }
        )
    )


if __name__ == "__main__":
    main()
