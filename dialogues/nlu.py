"""Intent classification for recognised speech, trained from a script's examples at load time.

:class:`BuiltinClassifier` needs only numpy: utterances are normalised (:func:`normalize`),
turned into TF-IDF vectors of word uni/bigrams and character n-grams
(:mod:`dialogues.features`), and classified by a multinomial logistic regression fitted by
accelerated gradient descent in its dual form (the training set is far smaller than the
vocabulary, so the ``n x n`` Gram matrix is the cheap side). The softmax probability is the
confidence; below the threshold the intent is :data:`FALLBACK_INTENT`. Examples listed under
``nlu_fallback`` itself teach what is out of scope.

Two more rules keep off-domain and garbled speech out of the intents. Words never seen in
training shorten the feature vector (:mod:`dialogues.features`), so a text made mostly of
them has no confident intent. And the words need to agree: a word that occurred in at least
:data:`OWNED_WORD_MIN_EXAMPLES` training examples, all of one intent, *belongs* to it; an
utterance holding a word that belongs to another intent than the best-scoring one ("I am
feeling really sad today" in a bot whose "sad" only ever meant ``mood_unhappy`` but whose
"I am feeling ..." examples are ``mood_great``) is contradicted and goes to the fallback.

:func:`build_classifier` makes the classifier a script asks for: this one, trained from the
script's examples, or a Rasa server's.

``parse`` also attaches entities: numbers, money amounts and dates/times found by the slot
extractors (resolved against the current time in UTC), plus lookup-table and regex matches.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from dialogues import slots
from dialogues.features import TfidfFeaturizer
from dialogues.text import normalize
from robot.errors import ValidationError

if TYPE_CHECKING:
    from dialogues.loader import LoadedScript

__all__ = [
    "FALLBACK_INTENT",
    "BuiltinClassifier",
    "Entity",
    "IntentClassifier",
    "NluResult",
    "build_classifier",
    "normalize",
]

log = logging.getLogger(__name__)

FALLBACK_INTENT = "nlu_fallback"

#: Inverse L2 regularisation strength of the logistic regression (larger fits tighter).
REGULARISATION_C = 30.0
#: Gradient steps; fixed so training time is bounded and the result deterministic.
TRAINING_ITERATIONS = 150
#: A word seen in at least this many examples, all of one intent, belongs to that intent.
OWNED_WORD_MIN_EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class Entity:
    """Something found in the text: ``text[start:end]`` means ``value``."""

    entity: str
    value: object
    text: str
    start: int
    end: int

    def to_json(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "value": slots.slot_value_to_json(self.value),
            "text": self.text,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True, slots=True)
class NluResult:
    """What an utterance means: the intent, how sure, and the entities in it."""

    text: str
    intent: str
    confidence: float
    entities: tuple[Entity, ...] = ()
    ranking: tuple[tuple[str, float], ...] = ()

    @property
    def is_fallback(self) -> bool:
        return self.intent == FALLBACK_INTENT

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "entities": [entity.to_json() for entity in self.entities],
        }


@runtime_checkable
class IntentClassifier(Protocol):
    """Anything that turns an utterance into an :class:`NluResult`."""

    def parse(self, text: str) -> NluResult: ...


def _softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def _fit_logistic_regression(
    gram: np.ndarray, targets: np.ndarray, c: float, iterations: int
) -> tuple[np.ndarray, np.ndarray]:
    """Dual coefficients ``A`` (n x k) and bias (k) of an L2 multinomial logistic regression.

    The primal weights are ``X.T @ A``; a gradient step on them is a step on ``A`` with the
    residual, so each iteration costs one ``n x n`` by ``n x k`` product.
    """
    n, k = targets.shape
    penalty = 1.0 / (c * n)
    # Largest eigenvalue of the Gram matrix by power iteration bounds the curvature.
    vector = np.full(n, 1.0 / np.sqrt(n), dtype=gram.dtype)
    for _ in range(30):
        vector = gram @ vector
        vector /= np.linalg.norm(vector)
    largest = float(vector @ gram @ vector)
    lipschitz = 0.5 * (largest + n) / n + penalty  # "+ n": the unregularised bias
    step = 1.0 / lipschitz
    root_condition = np.sqrt(lipschitz / penalty)
    momentum = (root_condition - 1.0) / (root_condition + 1.0)
    coefficients = np.zeros((n, k), dtype=gram.dtype)
    bias = np.zeros(k, dtype=gram.dtype)
    previous_coefficients, previous_bias = coefficients, bias
    for _ in range(iterations):
        look_coefficients = coefficients + momentum * (coefficients - previous_coefficients)
        look_bias = bias + momentum * (bias - previous_bias)
        residual = (_softmax(gram @ look_coefficients + look_bias) - targets) / n
        previous_coefficients, previous_bias = coefficients, bias
        coefficients = look_coefficients - step * (residual + penalty * look_coefficients)
        bias = look_bias - step * residual.sum(axis=0)
    return coefficients, bias


class BuiltinClassifier:
    """The built-in intent classifier; build it with :meth:`train`."""

    def __init__(
        self,
        *,
        featurizer: TfidfFeaturizer,
        labels: tuple[str, ...],
        weights: np.ndarray,
        bias: np.ndarray,
        threshold: float,
        synonyms: Mapping[str, str] | None = None,
        lookups: Mapping[str, Sequence[str]] | None = None,
        regexes: Mapping[str, Sequence[str]] | None = None,
        owned_words: Mapping[str, str] | None = None,
    ) -> None:
        self._featurizer = featurizer
        #: word -> the only intent whose examples use it (see the module docstring).
        self.owned_words = dict(owned_words or {})
        self.labels = labels
        self._weights = weights
        self._bias = bias
        self.threshold = threshold
        self._synonyms = {normalize(k): v for k, v in (synonyms or {}).items()}
        self._lookup_patterns = [
            (name, _phrase_pattern(phrase), phrase)
            for name, phrases in sorted((lookups or {}).items())
            for phrase in phrases
            if normalize(phrase)
        ]
        self._regexes = [
            (name, re.compile(pattern, re.IGNORECASE))
            for name, patterns in sorted((regexes or {}).items())
            for pattern in patterns
        ]

    @property
    def intents(self) -> tuple[str, ...]:
        """Intents this classifier can return (besides the fallback)."""
        return tuple(label for label in self.labels if label != FALLBACK_INTENT)

    @classmethod
    def train(
        cls,
        examples: Mapping[str, Sequence[str]],
        *,
        threshold: float = 0.45,
        synonyms: Mapping[str, str] | None = None,
        lookups: Mapping[str, Sequence[str]] | None = None,
        regexes: Mapping[str, Sequence[str]] | None = None,
    ) -> BuiltinClassifier:
        """Train on ``intent -> example texts``; the same input always gives the same model.

        Raises :class:`ValidationError` when there is nothing to learn from.
        """
        if not 0.0 <= threshold <= 1.0:
            raise ValidationError(f"NLU threshold must be between 0 and 1, got {threshold}")
        labels = tuple(sorted(intent for intent, texts in examples.items() if texts))
        texts: list[str] = []
        label_of_text: list[int] = []
        for index, intent in enumerate(labels):
            seen: set[str] = set()
            for text in examples[intent]:
                normalized = normalize(text)
                if normalized and normalized not in seen:
                    seen.add(normalized)
                    texts.append(normalized)
                    label_of_text.append(index)
        trained = [label for label in labels if label != FALLBACK_INTENT]
        if not trained:
            raise ValidationError("NLU training data has no intent with examples")
        featurizer = TfidfFeaturizer.fit(texts)
        if len(labels) == 1:  # one intent: nothing to separate, confidence is all-or-nothing
            weights = np.zeros((featurizer.size, 1))
            bias = np.zeros(1)
        else:
            # float32 halves the cost of the products; the fit does not need more precision.
            # One BLAS thread: the matrices are small, and threads that spin while other
            # work shares the cores make training many times slower, not faster.
            from threadpoolctl import threadpool_limits

            matrix = featurizer.transform_dense(texts).astype(np.float32)
            targets = np.eye(len(labels), dtype=np.float32)[label_of_text]
            with threadpool_limits(limits=1, user_api="blas"):
                dual, bias = _fit_logistic_regression(
                    matrix @ matrix.T, targets, REGULARISATION_C, TRAINING_ITERATIONS
                )
                weights = (matrix.T @ dual).astype(np.float64)
        log.debug("trained NLU on %d examples, %d intents", len(texts), len(labels))
        owned = _owned_words(texts, [labels[i] for i in label_of_text])
        return cls(
            featurizer=featurizer,
            labels=labels,
            weights=weights,
            bias=bias,
            threshold=threshold,
            synonyms=synonyms,
            lookups=lookups,
            regexes=regexes,
            owned_words=owned,
        )

    def rank(self, text: str) -> list[tuple[str, float]]:
        """Every label with its probability, best first (ties by name)."""
        vector = self._featurizer.transform(normalize(text))
        if vector.is_empty:
            return []
        if len(self.labels) == 1:
            return [(self.labels[0], 1.0)]
        scores = vector.values @ self._weights[vector.indices] + self._bias
        probabilities = _softmax(scores)
        order = sorted(range(len(self.labels)), key=lambda i: (-probabilities[i], self.labels[i]))
        return [(self.labels[i], float(probabilities[i])) for i in order]

    def unknown_share(self, text: str) -> float:
        """Share (0..1) of the words in ``text`` that never occurred in the training examples."""
        words = normalize(text).split()
        if not words:
            return 0.0
        vocabulary = self._featurizer.vocabulary
        return sum(f"w {word}" not in vocabulary for word in words) / len(words)

    def contradiction(self, text: str, intent: str) -> str | None:
        """A word of ``text`` that belongs to another intent than ``intent``, if any."""
        for word in normalize(text).split():
            owner = self.owned_words.get(word)
            if owner is not None and owner != intent:
                return word
        return None

    def parse(self, text: str, *, now: datetime | None = None) -> NluResult:
        """Classify one utterance; ``now`` (default: current UTC time) resolves dates."""
        ranking = self.rank(text)
        if (
            ranking
            and ranking[0][0] != FALLBACK_INTENT
            and ranking[0][1] >= self.threshold
            and self.contradiction(text, ranking[0][0]) is None
        ):
            intent, confidence = ranking[0]
        else:
            intent = FALLBACK_INTENT
            confidence = ranking[0][1] if ranking else 0.0
        entities = self.extract_entities(text, now=now or datetime.now(UTC))
        log.debug("nlu %r -> %s (%.2f)", text, intent, confidence)
        return NluResult(
            text=text,
            intent=intent,
            confidence=confidence,
            entities=entities,
            ranking=tuple((name, p) for name, p in ranking if name != FALLBACK_INTENT),
        )

    def extract_entities(self, text: str, *, now: datetime) -> tuple[Entity, ...]:
        """Numbers, money, dates/times, lookup-table phrases and regex matches in ``text``."""
        found = [
            Entity(name, value, text[start:end], start, end)
            for name, value, start, end in slots.find_entities(text, now)
        ]
        for name, pattern, phrase in self._lookup_patterns:
            for match in pattern.finditer(text):
                value = self._synonyms.get(normalize(match.group()), phrase)
                found.append(Entity(name, value, match.group(), match.start(), match.end()))
        for name, regex in self._regexes:
            for match in regex.finditer(text):
                if match.end() > match.start():
                    value = self._synonyms.get(normalize(match.group()), match.group())
                    found.append(Entity(name, value, match.group(), match.start(), match.end()))
        return tuple(sorted(found, key=lambda e: (e.start, e.end, e.entity)))


def build_classifier(loaded: LoadedScript) -> IntentClassifier:
    """The classifier a script asks for: built-in (trained now) or a Rasa server."""
    settings = loaded.script.settings
    if settings.nlu == "rasa":
        from dialogues.rasa import RasaHttpClassifier
        from robot.config import get_settings

        url = settings.rasa_url or get_settings().nlu.rasa_url
        if not url:
            from robot.errors import ConfigError

            raise ConfigError("script asks for nlu: rasa but no rasa_url is set")
        return RasaHttpClassifier(url, threshold=settings.nlu_threshold)
    return BuiltinClassifier.train(
        loaded.examples, threshold=settings.nlu_threshold, synonyms=loaded.synonyms
    )


def _owned_words(texts: Sequence[str], labels: Sequence[str]) -> dict[str, str]:
    """Words used by at least ``OWNED_WORD_MIN_EXAMPLES`` examples, all of one label."""
    users: dict[str, dict[str, int]] = {}
    for text, label in zip(texts, labels, strict=True):
        for word in set(text.split()):
            per_label = users.setdefault(word, {})
            per_label[label] = per_label.get(label, 0) + 1
    return {
        word: next(iter(per_label))
        for word, per_label in sorted(users.items())
        if len(per_label) == 1 and sum(per_label.values()) >= OWNED_WORD_MIN_EXAMPLES
    }


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive, whitespace-tolerant pattern for a lookup phrase."""
    words = [re.escape(word) for word in phrase.split()]
    return re.compile(r"(?<!\w)" + r"\s+".join(words) + r"(?!\w)", re.IGNORECASE)
