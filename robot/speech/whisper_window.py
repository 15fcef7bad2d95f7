"""Whisper decoding on a window cut to the audio (CTranslate2), instead of the fixed 30 s.

Whisper was trained on 30 s windows, and faster-whisper pads every utterance to 3000 mel
frames, so a one-second "yes" costs the encoder as much as half a minute of speech. The
CTranslate2 encoder also accepts fewer frames: here the window is the utterance plus
``pad_ms`` of silence (an even number of frames: the encoder's convolution halves them).

On a short window the decoder may not see where the speech ends and goes on ("Nobody is
available ... Nobody is available ..."). Three guards keep it honest: enough trailing silence
(``pad_ms``), a token budget proportional to the audio length (:data:`TOKENS_PER_S`), and
:func:`cut_repeated_sentences`, which keeps a sentence once when the decoder starts it
over. :attr:`WindowDecoding.ran_out` says the budget ended the decoding (the caller may then
decode again on the full window).

Used by :mod:`robot.speech.whisper` (utterances) and :mod:`voicemail.transcripts`
(greetings), each with its own loaded model, mel front end and tokenizer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

WHISPER_RATE_HZ = 16000
#: Mel frames in Whisper's full window (30 s at 10 ms a frame).
FULL_WINDOW_FRAMES = 3000
#: Whisper's longest token sequence (prompt included).
MAX_LENGTH = 448
#: Decoder token budget per second of audio (Cyrillic text takes more tokens than English).
TOKENS_PER_S = {"en": 6.0, "ru": 12.0}
DEFAULT_TOKENS_PER_S = 10.0
#: Tokens allowed on top of the per-second budget (a "yes." is a few tokens, whatever its time).
BASE_TOKENS = 8
_NON_WORD = re.compile(r"[^\w']+")
_SENTENCE_END = ".?!。"


@dataclass(frozen=True, slots=True)
class WindowDecoding:
    """One decoding of one window, with Whisper's own scores (faster-whisper's definitions)."""

    text: str
    #: Mean log-probability of the tokens (CTranslate2's length-normalised score).
    score: float
    avg_logprob: float
    no_speech_prob: float
    #: The token budget ended the decoding (no end-of-text): a sign the decoder went astray.
    ran_out: bool
    #: A repeated sentence was cut from ``text``.
    repeat_cut: bool = False


def token_budget(audio_s: float, language: str, base_tokens: int = BASE_TOKENS) -> int:
    """New tokens allowed for ``audio_s`` seconds of speech in ``language``."""
    per_s = TOKENS_PER_S.get(language, DEFAULT_TOKENS_PER_S)
    return int(base_tokens + per_s * audio_s)


def window_features(extractor: Any, samples_16k: np.ndarray, pad_ms: float) -> np.ndarray:
    """Log-mel features of the samples plus ``pad_ms`` of silence, at most the full window,
    an even number of frames (what the encoder accepts)."""
    pad = np.zeros(int(WHISPER_RATE_HZ * pad_ms / 1000), np.float32)
    mel = extractor(np.concatenate([samples_16k.astype(np.float32, copy=False), pad]))
    frames = min(FULL_WINDOW_FRAMES, mel.shape[1] - mel.shape[1] % 2)
    return np.ascontiguousarray(mel[None, :, :frames], np.float32)


def fits_window(samples_16k: np.ndarray, pad_ms: float) -> bool:
    """Whether the audio and its padding fit in one Whisper window."""
    return samples_16k.size / WHISPER_RATE_HZ + pad_ms / 1000 <= 30.0


def encode(model: Any, features: np.ndarray) -> Any:
    """Run the CTranslate2 encoder (``model``: ``ctranslate2.models.Whisper``)."""
    import ctranslate2

    return model.encode(ctranslate2.StorageView.from_array(features), to_cpu=False)


def decode(
    model: Any,
    encoded: Any,
    tokenizer: Any,
    prompt: Sequence[int],
    *,
    max_new_tokens: int,
    beam_size: int = 1,
    suppress_tokens: Sequence[int] = (-1,),
    no_repeat_ngram_size: int = 0,
) -> WindowDecoding:
    """Greedy (or beam) decoding of ``encoded`` after ``prompt``, at most ``max_new_tokens``.

    ``tokenizer`` is faster-whisper's :class:`~faster_whisper.tokenizer.Tokenizer`.
    """
    # CTranslate2 4.x stops Whisper after about max_length / 2 new tokens (measured), not
    # max_length minus the prompt: ask for enough length that either reading allows the budget.
    max_length = min(MAX_LENGTH, max(len(prompt) + max_new_tokens, 2 * max_new_tokens))
    limit = min(max_new_tokens, max_length // 2)
    result = model.generate(
        encoded,
        [list(prompt)],
        beam_size=beam_size,
        max_length=max_length,
        return_scores=True,
        return_no_speech_prob=True,
        suppress_blank=True,
        suppress_tokens=list(suppress_tokens),
        no_repeat_ngram_size=no_repeat_ngram_size,
    )[0]
    tokens = list(result.sequences_ids[0])
    # The end-of-text token is not returned: reaching the budget means it never came.
    ran_out = len(tokens) >= limit
    text = tokenizer.decode([t for t in tokens if t < tokenizer.eot]).strip()
    score = float(result.scores[0]) if result.scores else -10.0
    avg_logprob = score * len(tokens) / (len(tokens) + 1)  # as faster-whisper computes it
    kept = cut_repeated_sentences(text)
    no_speech = float(result.no_speech_prob)
    return WindowDecoding(kept, score, avg_logprob, no_speech, ran_out, repeat_cut=kept != text)


def cut_repeated_sentences(text: str, min_words: int = 2) -> str:
    """Cut the text where the decoder starts over: at a sentence end followed by the same
    words the text began with (at least ``min_words`` of them, compared without case and
    punctuation). "Nobody is available. Nobody is available." -> "Nobody is available.";
    "No. No." and "Yes, I said yes." stay."""
    words = text.split()
    keys = [_NON_WORD.sub("", w).lower() for w in words]
    for end in range(len(words) - 1):
        if words[end][-1] not in _SENTENCE_END:
            continue
        head, rest = keys[: end + 1], keys[end + 1 :]
        same = min(len(head), len(rest))
        if same >= min_words and rest[:same] == head[:same]:
            return " ".join(words[: end + 1])
    return text
