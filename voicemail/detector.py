"""Streaming answering-machine detection on the callee audio after answer.

Feed 8 kHz PCM frame by frame with :meth:`VoicemailDetector.feed`; it returns a
:class:`Verdict` as soon as the evidence is strong enough, else ``None``; call
:meth:`VoicemailDetector.finish` at the end of the audio (or when the caller gives up) for a
final verdict. Evidence, strongest first:

* SIT (three rising tones) -> machine: a carrier announcement follows.
* a beep (sustained pure tone) -> machine.
* a voicemail phrase -> machine. By default :class:`~voicemail.transcripts.GreetingReader`
  reads the greeting with Whisper while it plays: every ``read_every_ms`` of speech, at each
  pause of ``read_pause_ms``, and before any cadence verdict, so "you've reached", "оставьте
  сообщение" or "the number you have dialed" decide as soon as they are said. The cheaper
  pocketsphinx :class:`~voicemail.phrases.PhraseSpotter` is the alternative (English only).
* words people say on picking up ("Hello?", "Yes, who is this?", "Алло") followed by
  ``answer_silence_ms`` of silence -> human, without waiting the full silence below.
* cadence (:mod:`voicemail.cadence`): a greeting longer than ``max_greeting_ms`` that holds
  ``min_sentence_pauses`` sentence pauses, or longer than ``max_continuous_greeting_ms``
  -> machine; a greeting followed by ``after_greeting_silence_ms`` of silence (only
  ``short_greeting_silence_ms`` after a bare hello) -> human; nobody speaking for
  ``initial_silence_ms`` -> ``initial_silence_verdict``.
* ``total_analysis_ms`` without a decision -> machine if still talking, else unknown.

Every threshold is a field of :class:`DetectorSettings`.

In a call (``feed`` is CPU-bound: run it in an executor; one detector per call)::

    verdict = classify_signalling(call.signalling)          # voicemail.signalling
    if not verdict.is_final:
        detector = VoicemailDetector(settings)
        async for chunk in call.audio():                    # after the "answered" event
            if result := await loop.run_in_executor(None, detector.feed, chunk):
                break
        outcome = combine_outcome(verdict, detector.finish())   # voicemail.outcome
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from robot.audio import TELEPHONY_RATE_HZ, AudioChunk
from robot.errors import MissingExtraError, ValidationError
from voicemail.cadence import CadenceLimits, CadenceTracker
from voicemail.phrases import PhraseSpotter, create_phrase_spotter
from voicemail.tones import ToneSegment, ToneTracker, goertzel_power, is_sit_sequence, sit_band
from voicemail.transcripts import GreetingReader, GreetingTranscript
from voicemail.vad import VadFrame, VoiceActivityDetector, create_vad

logger = logging.getLogger(__name__)

VerdictKind = Literal["human", "machine", "unknown"]


class DetectorSettings(BaseModel):
    """Thresholds of the audio detector (times in ms after answer, levels in dBFS)."""

    vad_engine: str = Field("silero", description="VAD engine: silero (robust) or webrtc.")
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
    total_analysis_ms: float = Field(6000, description="Decide by this time at the latest.")
    beep_min_hz: float = Field(350, description="Lowest beep frequency.")
    beep_max_hz: float = Field(3000, description="Highest beep frequency.")
    beep_min_ms: float = Field(160, description="Shortest tone that counts as a beep.")
    beep_min_purity: float = Field(0.75, description="Share of energy at the tone (Goertzel).")
    tone_min_tonality: float = Field(0.8, description="Share of a window's energy at its peak.")
    tone_min_level_dbfs: float = Field(-45, description="Quieter windows are never tones.")
    sit: bool = Field(True, description="Detect Special Information Tones.")
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
        """These settings for a call in ``language``: English calls read greetings in English
        alone (tiny.en: about 40% of the multilingual base model's reading CPU, same verdicts
        on the English development cases, see README); other calls keep ``phrase_language``."""
        if language.lower()[:2] == "en" and self.phrase_language != "en":
            return self.model_copy(update={"phrase_language": "en"})
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


_warned_english_only = False


def _greeting_reader(languages: str) -> GreetingReader:
    """A reader for ``languages``; English only (tiny.en) when the multilingual model's
    packages (the ``speech-ru`` extra) are not installed, so calls still run without them."""
    global _warned_english_only
    try:
        return GreetingReader(languages)
    except MissingExtraError as e:
        parts = [part.strip().lower()[:2] for part in languages.split(",")]
        if parts == ["en"] or "en" not in parts:
            raise  # nothing English to fall back to (or English itself is missing)
        if not _warned_english_only:
            _warned_english_only = True
            logger.warning("voicemail greetings are read in English only: %s", e)
        return GreetingReader("en")


class VoicemailDetector:
    """Human or machine, decided frame by frame on the callee audio after answer."""

    def __init__(
        self,
        settings: DetectorSettings | None = None,
        *,
        vad: VoiceActivityDetector | None = None,
        phrase_spotter: PhraseSpotter | None = None,
        reader: GreetingReader | None = None,
    ) -> None:
        self.settings = settings or DetectorSettings()
        s = self.settings
        self.vad = vad or create_vad(s.vad_engine, threshold=s.vad_threshold)
        if s.phrases and phrase_spotter is None and reader is None:
            if s.phrase_engine == "whisper":
                reader = _greeting_reader(s.phrase_language)
            else:
                phrase_spotter = create_phrase_spotter(s.phrase_language.split(",")[0])
        self.phrase_spotter = phrase_spotter
        self.reader = reader
        self.tones = ToneTracker(
            min_tonality=s.tone_min_tonality, min_level_dbfs=s.tone_min_level_dbfs
        )
        self.cadence = CadenceTracker(s.cadence_limits())
        self.reset()

    def reset(self) -> None:
        self.vad.reset()
        self.tones.reset()
        self.cadence.reset()
        if self.phrase_spotter is not None:
            self.phrase_spotter.reset()
        if self.reader is not None:
            self.reader.reset()
        self.transcript: GreetingTranscript | None = None
        self._read_speech_ms = 0.0
        self._segments: list[ToneSegment] = []
        self._heard_ms = 0.0
        self.verdict: Verdict | None = None

    def feed(self, chunk: AudioChunk) -> Verdict | None:
        """Analyse more audio; returns the verdict once (and on every later call) when decided."""
        if self.verdict is not None:
            return self.verdict
        if chunk.rate != TELEPHONY_RATE_HZ:
            chunk = chunk.resampled(TELEPHONY_RATE_HZ)
        chunk = AudioChunk(chunk.pcm, chunk.rate, self._heard_ms)
        self._heard_ms += chunk.duration_ms
        if self.reader is not None:
            self.reader.process(chunk)
        verdict = self._tone_verdict(self.tones.process(chunk)) or self._phrase_verdict(chunk)
        if verdict is None:
            verdict = self._cadence_verdict(self.vad.process(chunk))
        if verdict is None and self._heard_ms >= self.settings.total_analysis_ms:
            verdict = self._timeout_verdict(self._heard_ms)
        if verdict is not None:
            # Decision time is how much audio had been heard when the verdict was given.
            verdict = replace(verdict, decision_ms=self._heard_ms)
            self.verdict = verdict
            logger.debug("voicemail verdict %s at %.0f ms: %s", *self._describe(verdict))
        return verdict

    def finish(self) -> Verdict:
        """The final verdict: the one already given, or the best call on what was heard."""
        if self.verdict is not None:
            return self.verdict
        verdict = self._tone_verdict(self.tones.flush(), final=True)
        if verdict is None:
            verdict = self._timeout_verdict(self._heard_ms, ended=True)
        self.verdict = verdict
        return verdict

    @staticmethod
    def _describe(verdict: Verdict) -> tuple[str, float, str]:
        return verdict.verdict, verdict.decision_ms, verdict.reason

    # -- evidence ---------------------------------------------------------------------------

    def _is_beep(self, segment: ToneSegment, purity: float) -> bool:
        s = self.settings
        return (
            s.beep_min_hz <= segment.freq_hz <= s.beep_max_hz
            and segment.duration_ms >= s.beep_min_ms
            and purity >= s.beep_min_purity
        )

    def _beep(self, segment: ToneSegment, at_ms: float) -> Verdict:
        reason = f"beep {segment.freq_hz:.0f} Hz {segment.duration_ms:.0f} ms"
        return Verdict("machine", at_ms, reason, "beep")

    def _tone_verdict(self, finished: list[ToneSegment], final: bool = False) -> Verdict | None:
        s = self.settings
        now = self._heard_ms
        for segment in finished:
            self._segments.append(segment)
            if s.sit and is_sit_sequence(self._segments):
                return Verdict("machine", segment.end_ms, "SIT tone", "sit")
        ongoing = self.tones.ongoing()
        if s.sit and ongoing is not None and len(self._segments) >= 2:
            last_two = [sit_band(x.freq_hz) for x in self._segments[-2:]]
            if last_two == [0, 1] and sit_band(ongoing.freq_hz) == 2 and ongoing.duration_ms >= 200:
                return Verdict("machine", now, "SIT tone", "sit")
        if ongoing is not None and ongoing.duration_ms >= s.beep_min_ms:
            sit_like = s.sit and sit_band(ongoing.freq_hz) is not None
            if not sit_like or ongoing.duration_ms > 450:
                purity = self._ongoing_purity(ongoing)
                if self._is_beep(ongoing, purity):
                    return self._beep(ongoing, now)
        # A SIT-band tone that ended with no next SIT tone within 250 ms was a plain beep.
        if self._segments:
            last = self._segments[-1]
            waited = final or (ongoing is None and now - last.end_ms >= 250)
            if waited and self._is_beep(last, last.purity):
                return self._beep(last, now)
        return None

    def _ongoing_purity(self, ongoing: ToneSegment) -> float:
        audio = self.tones.ongoing_audio()
        return goertzel_power(audio, ongoing.freq_hz) if len(audio) else 0.0

    def _phrase_verdict(self, chunk: AudioChunk) -> Verdict | None:
        if self.phrase_spotter is None:
            return None
        for hit in self.phrase_spotter.process(chunk):
            if hit.machine:
                return Verdict("machine", self._heard_ms, f'phrase "{hit.phrase}"', "phrase")
        return None

    def _cadence_verdict(self, frames: list[VadFrame]) -> Verdict | None:
        for frame in frames:
            call = self.cadence.update(frame)
            if call is None:
                if verdict := self._reading_verdict():
                    return verdict
                continue
            if call.kind == "machine":
                return self._read_all() or Verdict("machine", call.at_ms, call.reason)
            if call.kind == "initial_silence":
                return Verdict(self.settings.initial_silence_verdict, call.at_ms, call.reason)
            if call.kind == "human":
                if self.cadence.speaking:
                    continue  # words again, not yet long enough to end the silence
                if self.tones.ongoing() is not None:
                    continue  # a tone is playing: wait to see whether it is a beep
                if self.phrase_spotter is not None and self.phrase_spotter.busy():
                    continue  # let the phrase spotter finish the words just heard
                if verdict := self._read_all():  # the words before the silence first
                    return verdict
                return Verdict("human", call.at_ms, call.reason)
        return None

    # -- reading the greeting ---------------------------------------------------------------

    def _read(self) -> Verdict | None:
        """Transcribe the greeting so far; a machine verdict if it holds a machine phrase."""
        cadence = self.cadence
        assert self.reader is not None and cadence.greeting_start_ms is not None
        # Start a little before the first word: VAD onsets clip soft first consonants.
        self.transcript = found = self.reader.read(cadence.greeting_start_ms - 250, cadence.now_ms)
        self._read_speech_ms = cadence.greeting_ms
        if found.machine_phrase is None:
            return None
        reason = f'phrase "{found.machine_phrase}" ({found.language}: "{found.text}")'
        return Verdict("machine", cadence.now_ms, reason, "phrase")

    def _read_all(self) -> Verdict | None:
        """Read the words not read yet (before a cadence verdict)."""
        cadence = self.cadence
        if self.reader is None or cadence.greeting_start_ms is None:
            return None
        if self.transcript is not None and self._read_speech_ms >= cadence.greeting_ms:
            return None
        return self._read()

    def _reading_verdict(self) -> Verdict | None:
        """Read the greeting at pauses and every ``read_every_ms`` of speech; answer shortcut."""
        s, cadence = self.settings, self.cadence
        if self.reader is None or cadence.greeting_start_ms is None:
            return None
        unread_ms = cadence.greeting_ms - (self._read_speech_ms if self.transcript else 0.0)
        pause = cadence.silence_ms >= s.read_pause_ms
        due = pause or unread_ms >= s.read_every_ms
        if cadence.greeting_ms >= s.read_min_speech_ms and unread_ms > 0 and due:
            verdict = self._read()
            if verdict is not None:
                return verdict
        found = self.transcript
        if (
            s.answer_silence_ms
            and found is not None
            and found.answer_like
            and unread_ms <= 0
            and cadence.silence_ms >= s.answer_silence_ms
            and not cadence.speaking
            and cadence.greeting_ms <= s.answer_max_greeting_ms
            and self.tones.ongoing() is None
        ):
            reason = (
                f'answer "{found.text}" ({cadence.greeting_ms / 1000:.1f} s) '
                f"then silence {cadence.silence_ms / 1000:.1f} s"
            )
            return Verdict("human", cadence.now_ms, reason, "answer")
        return None

    def _timeout_verdict(self, at_ms: float, ended: bool = False) -> Verdict:
        cadence = self.cadence
        if cadence.in_greeting and cadence.silence_ms < self.settings.after_greeting_silence_ms:
            if ended and cadence.greeting_ms <= self.settings.max_greeting_ms:
                reason = f"greeting {cadence.greeting_ms / 1000:.1f} s, then the audio ended"
                return Verdict("human", at_ms, reason, "cadence")
            return Verdict("machine", at_ms, f"still talking after {at_ms / 1000:.1f} s", "timeout")
        if cadence.in_greeting:
            reason = f"greeting {cadence.greeting_ms / 1000:.1f} s then silence"
            return Verdict("human", at_ms, reason, "cadence")
        return Verdict("unknown", at_ms, f"no speech in {at_ms / 1000:.1f} s", "timeout")


def detect_audio(
    audio: AudioChunk, settings: DetectorSettings | None = None, *, frame_ms: int = 20
) -> Verdict:
    """Run a fresh detector over a whole recording, fed in ``frame_ms`` frames."""
    detector = VoicemailDetector(settings)
    return detect_with(detector, audio, frame_ms=frame_ms)


def detect_with(detector: VoicemailDetector, audio: AudioChunk, *, frame_ms: int = 20) -> Verdict:
    """Reset ``detector`` and run it over ``audio`` (reuses loaded engines across files)."""
    detector.reset()
    if audio.rate != TELEPHONY_RATE_HZ:
        audio = audio.resampled(TELEPHONY_RATE_HZ)
    for frame in audio.frames(frame_ms):
        verdict = detector.feed(frame)
        if verdict is not None:
            return verdict
    return detector.finish()


def read_callee_audio(path: str | Path) -> AudioChunk:
    """Read a recording as 8 kHz mono PCM, with a clear error naming the file."""
    from robot.audio import read_wav

    file = Path(path)
    if not file.is_file():
        raise ValidationError(f"{file}: no such file")
    try:
        audio = read_wav(file, TELEPHONY_RATE_HZ)
    except ValidationError:
        raise  # checked on opening: the message already names the file and the problem
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, ValueError...
        raise ValidationError(f"{file}: not a readable audio file ({e})") from e
    if audio.samples == 0:
        raise ValidationError(f"{file}: contains no audio samples")
    return audio


def detect_file(path: str | Path, settings: DetectorSettings | None = None) -> Verdict:
    """Detect on one file (see :func:`read_callee_audio` for the errors)."""
    return detect_audio(read_callee_audio(path), settings)
