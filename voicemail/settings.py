"""Thresholds of the audio answering-machine detector and the verdict it gives.

Every number the detector decides on is a field of :class:`DetectorSettings` (times in ms
after answer, levels in dBFS); :class:`Verdict` is what it answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from voicemail.cadence import CadenceLimits

VerdictKind = Literal["human", "machine", "unknown"]


class DetectorSettings(BaseModel):
    """Thresholds of the audio detector (times in ms after answer, levels in dBFS)."""

    vad_engine: str = Field("silero", description="VAD engine: silero (robust) or webrtc.")
    vad_peak_dbfs: float | None = Field(
        -34,
        description="A second VAD hears the audio turned down to this peak 20 ms level "
        "(voicemail.level: Silero misses loud band-limited speech); None: off.",
    )
    vad_threshold: float | None = Field(
        0.3, description="Speech probability for a frame (low: short quiet answers count)."
    )
    initial_silence_ms: float = Field(2500, description="Nobody spoke for this long: give up.")
    initial_silence_verdict: VerdictKind = Field(
        "human",
        description="Verdict when nobody spoke: people wary of robots answer and wait in "
        "silence, and machines greet at once; hanging up on a person is the worse mistake.",
    )
    min_word_ms: float = Field(100, description="Shorter speech bursts are noise, not words.")
    between_words_silence_ms: float = Field(150, description="A pause this long splits words.")
    max_greeting_ms: float = Field(
        1500, description="A longer greeting with min_sentence_pauses in it is a machine's."
    )
    max_continuous_greeting_ms: float = Field(
        4000, description="A longer greeting is a machine's whatever its pauses (0: off)."
    )
    sentence_pause_ms: float = Field(350, description="A pause this long ends a sentence.")
    min_sentence_pauses: int = Field(
        3, description="Machines read several sentences; people introduce themselves in one."
    )
    after_greeting_silence_ms: float = Field(
        700,
        description="Silence that ends a human greeting (machines pause for less; the words "
        "before it are read for machine phrases first).",
    )
    max_words: int = Field(0, description="More words than this is a machine (0: no limit).")
    short_greeting_ms: float = Field(
        700, description="A greeting this short needs only short_greeting_silence_ms (0: off)."
    )
    short_greeting_silence_ms: float = Field(450, description="Silence after a bare hello.")
    min_short_greeting_ms: float = Field(
        300,
        description="Speech shorter than this is the first word of a greeting that pauses "
        '("Hey, ... it\'s Kate"), not a whole hello: it waits after_greeting_silence_ms.',
    )
    total_analysis_ms: float = Field(6000, description="Decide by this time at the latest.")
    beep_min_hz: float = Field(350, description="Lowest beep frequency.")
    beep_max_hz: float = Field(3000, description="Highest beep frequency.")
    beep_min_ms: float = Field(
        80, description="Shortest tone that counts as a beep (a 100 ms beep measures ~80 ms)."
    )
    beep_min_purity: float = Field(0.75, description="Share of energy at the tone (Goertzel).")
    beep_sure_ms: float = Field(
        160,
        description="A tone still playing is a beep once this long; shorter ones are judged "
        "when they end, on the purity of the whole tone (vowels hold a partial briefly).",
    )
    tone_min_tonality: float = Field(0.8, description="Share of a window's energy at its peak.")
    tone_min_level_dbfs: float = Field(-45, description="Quieter windows are never tones.")
    sit: bool = Field(True, description="Detect Special Information Tones.")
    sit_gap_ms: float = Field(
        150,
        description="Longest gap between SIT tones; a SIT-band tone followed by no "
        "next SIT tone within it is a beep.",
    )
    unclear_greeting_silence_ms: float = Field(
        1100,
        description="Silence that ends a greeting whose words were read and are neither a "
        "machine's nor a person's answer (machines pause between sentences); "
        "after_greeting_silence_ms when nothing reads the greeting.",
    )
    clear_read_min_logprob: float = Field(
        -1.0,
        description="A reading this confident with no machine phrase holds off the "
        "max_continuous_greeting_ms limit until total_analysis_ms (people introducing "
        "themselves at length).",
    )
    clear_read_min_logprob_english_model: float = Field(
        -1.2,
        description="clear_read_min_logprob when the English-only tiny.en reads (English "
        "calls): it scores the same clear words lower than the multilingual base (long English "
        "introductions -1.0 to -1.1 on the development set).",
    )
    intro_max_greeting_ms: float = Field(
        8000,
        description="Words of a person answering (a question to the caller, a name plus "
        '"speaking", "how can I help") hold off the greeting-length limits up to this length.',
    )
    phrases: bool = Field(True, description="Spot voicemail phrases with ASR.")
    phrase_engine: Literal["whisper", "pocketsphinx"] = Field(
        "whisper",
        description="whisper: read the greeting as it plays (English and Russian); "
        "pocketsphinx: keyword spotting, cheaper, English only and misses more.",
    )
    phrase_language: str = Field(
        "en,ru", description="Languages callees may speak, comma-separated (en, ru)."
    )
    read_every_ms: float = Field(
        800,
        description="While the greeting goes on, read it again after this much speech (400 "
        "read 3.4 times a call, 800 2.1 times, same verdicts on bench/voicemail.py).",
    )
    read_pause_ms: float = Field(
        150, description="A pause this long reads the words before it at once."
    )
    read_min_speech_ms: float = Field(300, description="Less speech is not worth reading.")
    answer_silence_ms: float = Field(
        350,
        description='Silence after words people say on picking up ("Hello?", "Yes, who '
        'is this?") that decides human (0: off).',
    )
    answer_max_greeting_ms: float = Field(
        2500, description="A longer greeting never takes the answer_silence_ms shortcut."
    )

    def for_call_language(self, language: str) -> DetectorSettings:
        """These settings for a call in ``language``: the callee answers in the script's
        language, so its greetings are read in it alone. English calls read with tiny.en
        (about 40% of the multilingual base model's reading CPU, same verdicts on the English
        development cases, see README); Russian calls read in Russian (language detection on
        band-limited Russian speech picks English for most reads, and then no Russian phrase
        can match). Languages without a phrase list keep ``phrase_language``."""
        code = language.lower()[:2]
        if code in ("en", "ru") and self.phrase_language != code:
            return self.model_copy(update={"phrase_language": code})
        return self

    def cadence_limits(self) -> CadenceLimits:
        return CadenceLimits(
            initial_silence_ms=self.initial_silence_ms,
            min_word_ms=self.min_word_ms,
            between_words_silence_ms=self.between_words_silence_ms,
            max_greeting_ms=self.max_greeting_ms,
            after_greeting_silence_ms=self.after_greeting_silence_ms,
            max_words=self.max_words,
            short_greeting_ms=self.short_greeting_ms,
            short_greeting_silence_ms=self.short_greeting_silence_ms,
            min_short_greeting_ms=self.min_short_greeting_ms,
            max_continuous_greeting_ms=self.max_continuous_greeting_ms,
            sentence_pause_ms=self.sentence_pause_ms,
            min_sentence_pauses=self.min_sentence_pauses,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """The detector's decision and why (``evidence``: sit, beep, phrase, cadence, timeout)."""

    verdict: VerdictKind
    decision_ms: float
    reason: str
    evidence: str = "cadence"
