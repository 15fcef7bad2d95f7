"""TF-IDF features for short utterances: word uni/bigrams plus character n-grams.

Character n-grams (3 to 5 characters, inside word boundaries) make the classifier tolerant of
small misrecognitions ("shore" for "sure"); word bigrams with utterance boundaries tell a bare
"no" from "no i am not interested". Each block is weighted and L2-normalised separately, so the
vector of a text made of known words has unit length and the dot product of two such vectors is
their cosine similarity.

Features never seen in training still count in their block's norm (as the rarest known feature
would), though they have no column: a text made mostly of unknown words ("with any mud") gets a
short vector, scores close to the bias and so no confident intent, instead of being judged by
its one or two known words alone.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

CHAR_NGRAM_SIZES = (3, 4, 5)
#: Relative weight of the word block and of the character block in the combined vector.
WORD_BLOCK_WEIGHT = 1.0
CHAR_BLOCK_WEIGHT = 1.0
#: How much an unseen feature counts in its block's norm, relative to the rarest known feature
#: (0: unknown words are ignored, and the known ones decide alone).
UNKNOWN_FEATURE_WEIGHT = 1.0


def word_features(normalized: str) -> Counter[str]:
    """Word unigrams and bigrams (with ``<s>``/``</s>`` at the utterance edges)."""
    words = normalized.split()
    counts: Counter[str] = Counter(f"w {w}" for w in words)
    edged = ["<s>", *words, "</s>"]
    counts.update(f"b {a} {b}" for a, b in itertools.pairwise(edged))
    return counts


def char_features(normalized: str) -> Counter[str]:
    """Character n-grams of each word padded with one space on each side."""
    counts: Counter[str] = Counter()
    for word in normalized.split():
        padded = f" {word} "
        for size in CHAR_NGRAM_SIZES:
            if size > len(padded):
                break
            counts.update(padded[i : i + size] for i in range(len(padded) - size + 1))
    return counts


@dataclass(frozen=True, slots=True)
class SparseVector:
    """Column indices (sorted, unique) and their values."""

    indices: np.ndarray
    values: np.ndarray

    @property
    def is_empty(self) -> bool:
        return self.indices.size == 0


class TfidfFeaturizer:
    """Vocabulary and IDF weights learnt from training texts (already normalised)."""

    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray) -> None:
        self.vocabulary = vocabulary
        self.idf = idf

    @property
    def size(self) -> int:
        return len(self.vocabulary)

    @classmethod
    def fit(cls, texts: Iterable[str]) -> TfidfFeaturizer:
        document_frequency: Counter[str] = Counter()
        documents = 0
        for text in texts:
            documents += 1
            document_frequency.update(word_features(text).keys())
            document_frequency.update(char_features(text).keys())
        # Sorted so that the same texts always give the same column order.
        vocabulary = {feature: i for i, feature in enumerate(sorted(document_frequency))}
        idf = np.empty(len(vocabulary), dtype=np.float64)
        for feature, column in vocabulary.items():
            idf[column] = math.log((1 + documents) / (1 + document_frequency[feature])) + 1.0
        return cls(vocabulary, idf)

    def _block(self, counts: Counter[str], weight: float) -> dict[int, float]:
        block: dict[int, float] = {}
        unknown = 0.0  # squared weight of the features without a column
        rarest = float(self.idf.max()) if self.idf.size else 1.0
        for feature, count in counts.items():
            column = self.vocabulary.get(feature)
            if column is not None:
                block[column] = (1.0 + math.log(count)) * float(self.idf[column])
            else:
                unknown += ((1.0 + math.log(count)) * rarest) ** 2
        norm = math.sqrt(sum(v * v for v in block.values()) + UNKNOWN_FEATURE_WEIGHT * unknown)
        if norm > 0:
            for column in block:
                block[column] *= weight / norm
        return block

    def transform(self, normalized: str) -> SparseVector:
        """The feature vector of one normalised text: unit length when every word is known,
        shorter the more of it is unknown (empty if nothing is known)."""
        merged = self._block(word_features(normalized), WORD_BLOCK_WEIGHT)
        merged.update(self._block(char_features(normalized), CHAR_BLOCK_WEIGHT))
        if not merged:
            return SparseVector(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))
        columns = np.fromiter(sorted(merged), dtype=np.int64, count=len(merged))
        values = np.array([merged[c] for c in columns.tolist()], dtype=np.float64)
        values /= math.hypot(WORD_BLOCK_WEIGHT, CHAR_BLOCK_WEIGHT)
        return SparseVector(columns, values)

    def transform_dense(self, texts: Sequence[str]) -> np.ndarray:
        """A dense ``len(texts) x size`` matrix (training sets are small)."""
        matrix = np.zeros((len(texts), self.size), dtype=np.float64)
        for row, text in enumerate(texts):
            vector = self.transform(text)
            matrix[row, vector.indices] = vector.values
        return matrix
