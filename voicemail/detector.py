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
from dataclasses import replace

from robot.audio import TELEPHONY_RATE_HZ, AudioChunk
from voicemail.beeps import ToneJudge
from voicemail.cadence import CadenceTracker
from voicemail.level import LevelLimiter
from voicemail.phrases import PhraseSpotter, create_phrase_spotter
from voicemail.settings import DetectorSettings, Verdict, VerdictKind
from voicemail.timeline import SpeechSpans, Timeline
from voicemail.tones import ToneTracker
from voicemail.transcripts import GreetingReader, GreetingTranscript, create_greeting_reader
from voicemail.vad import VadFrame, VoiceActivityDetector, create_vad

logger = logging.getLogger(__name__)

__all__ = ["DetectorSettings", "Verdict", "VerdictKind", "VoicemailDetector"]


def _s(ms: float) -> str:
    return f"{ms / 1000:.1f} s"


class VoicemailDetector:
    """Human or machine, decided frame by frame on the callee audio after answer.

    :attr:`timeline` holds the evidence heard so far (speech spans, tones, readings, cadence
    calls, the verdict): ``callrobot voicemail detect --explain`` prints it.
    """

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
                reader = create_greeting_reader(s.phrase_language)
            else:
                phrase_spotter = create_phrase_spotter(s.phrase_language.split(",")[0])
        self.phrase_spotter = phrase_spotter
        self.reader = reader
        # A second VAD hears the audio turned down (voicemail.level); a frame is speech when
        # either hears it: loud band-limited speech and loud first words are both kept.
        self.level: LevelLimiter | None = None
        self.turned_down_vad: VoiceActivityDetector | None = None
        if s.vad_peak_dbfs is not None and vad is None:
            self.level = LevelLimiter(s.vad_peak_dbfs)
            self.turned_down_vad = create_vad(s.vad_engine, threshold=s.vad_threshold)
        self.tones = ToneTracker(
            min_tonality=s.tone_min_tonality, min_level_dbfs=s.tone_min_level_dbfs
        )
        self.timeline = Timeline()
        self._spans = SpeechSpans(self.timeline)
        self.judge = ToneJudge(s, self.tones, self.timeline, self._spans.overlap_ms)
        self.cadence = CadenceTracker(s.cadence_limits())
        self.reset()

    def reset(self) -> None:
        self.vad.reset()
        if self.level is not None and self.turned_down_vad is not None:
            self.level.reset()
            self.turned_down_vad.reset()
        self.tones.reset()
        self.judge.reset()
        self.timeline.reset()
        self._spans.reset()
        self.cadence.reset()
        if self.phrase_spotter is not None:
            self.phrase_spotter.reset()
        if self.reader is not None:
            self.reader.reset()
        self.transcript: GreetingTranscript | None = None
        self._read_speech_ms = 0.0
        self._heard_ms = 0.0
        self._held: str | None = None  # the last cadence call held back (for the timeline)
        self._held_machine_call = False  # a person's words hold off the length limits
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
        verdict = self.judge.update(self.tones.process(chunk), self._heard_ms)
        verdict = verdict or self._phrase_verdict(chunk)
        if verdict is None:
            verdict = self._cadence_verdict(self._vad_frames(chunk))
        if verdict is None and self._heard_ms >= self._deadline_ms() and not self.judge.pending():
            verdict = self._timeout_verdict(self._heard_ms)
        if verdict is not None:
            # Decision time is how much audio had been heard when the verdict was given.
            self._decide(replace(verdict, decision_ms=self._heard_ms))
        return self.verdict

    def _vad_frames(self, chunk: AudioChunk) -> list[VadFrame]:
        frames = self.vad.process(chunk)
        if self.level is None or self.turned_down_vad is None:
            return frames
        quieter = self.turned_down_vad.process(self.level.process(chunk))
        return [
            VadFrame(
                a.start_ms, a.end_ms, max(a.speech_prob, b.speech_prob), a.is_speech or b.is_speech
            )
            for a, b in zip(frames, quieter, strict=True)
        ]

    def _deadline_ms(self) -> float:
        """``total_analysis_ms``; while a person's words hold off the length limits, up to
        ``intro_max_greeting_ms`` of greeting (people introducing themselves at length)."""
        s, start = self.settings, self.cadence.greeting_start_ms
        if self._held_machine_call and start is not None:
            return max(s.total_analysis_ms, start + s.intro_max_greeting_ms)
        return s.total_analysis_ms

    def finish(self) -> Verdict:
        """The final verdict: the one already given, or the best call on what was heard."""
        if self.verdict is not None:
            return self.verdict
        verdict = self.judge.update(self.tones.flush(), self._heard_ms, final=True)
        if verdict is None:
            verdict = self._timeout_verdict(self._heard_ms, ended=True)
        self._decide(verdict)
        assert self.verdict is not None
        return self.verdict

    def _decide(self, verdict: Verdict) -> None:
        self._spans.close()
        self.verdict = verdict
        self.timeline.add(
            verdict.decision_ms,
            "verdict",
            f"{verdict.verdict} ({verdict.evidence}): {verdict.reason}",
        )
        logger.debug(
            "voicemail verdict %s at %.0f ms: %s",
            verdict.verdict,
            verdict.decision_ms,
            verdict.reason,
        )

    # -- evidence ---------------------------------------------------------------------------

    def _phrase_verdict(self, chunk: AudioChunk) -> Verdict | None:
        if self.phrase_spotter is None:
            return None
        for hit in self.phrase_spotter.process(chunk):
            if hit.machine:
                return Verdict("machine", self._heard_ms, f'phrase "{hit.phrase}"', "phrase")
        return None

    def _hold(self, call: str, why: str) -> None:
        """Note once in the timeline why a cadence call is not taken yet."""
        if why != self._held:
            self._held = why
            self.timeline.add(self.cadence.now_ms, "cadence", f"{call}, held: {why}")

    def _introduces_themselves(self) -> bool:
        """The words read so far are a person answering ("how can I help", "Mark speaking")."""
        found = self.transcript
        return (
            found is not None
            and found.answer_like
            and found.machine_phrase is None
            and self.cadence.greeting_ms <= self.settings.intro_max_greeting_ms
        )

    def _clear_words_without_phrase(self) -> bool:
        """The greeting reads clearly, with no machine phrase and at most one long pause (after
        a first "Hello?"): a person introducing themselves at length, until the words or the
        time limit say. Machines reading sentences pause between them."""
        found = self.transcript
        return (
            found is not None
            and found.machine_phrase is None
            and found.avg_logprob >= self._clear_read_min_logprob()
            and len(found.text.split()) >= 3
            and self.cadence.long_pauses <= 1
        )

    def _clear_read_min_logprob(self) -> float:
        s = self.settings
        if getattr(self.reader, "multilingual", True):
            return s.clear_read_min_logprob
        return s.clear_read_min_logprob_english_model

    def _cadence_verdict(self, frames: list[VadFrame]) -> Verdict | None:
        s = self.settings
        for frame in frames:
            self._spans.frame(frame.start_ms, frame.end_ms, frame.speech_prob, frame.is_speech)
            call = self.cadence.update(frame)
            if call is None:
                if verdict := self._reading_verdict():
                    return verdict
                continue
            if call.kind == "machine":
                if self._held_machine_call:
                    # Already held: read on the usual schedule, not on every frame.
                    if verdict := self._reading_verdict():
                        return verdict
                elif verdict := self._read_all():
                    return verdict
                if self._introduces_themselves() or (
                    call.rule == "continuous" and self._clear_words_without_phrase()
                ):
                    self._held_machine_call = True
                    why = (
                        "the words are a person answering"
                        if self._introduces_themselves()
                        else "words read clearly, no machine phrase yet"
                    )
                    self._hold(call.reason, why)
                    continue
                return Verdict("machine", call.at_ms, call.reason)
            if call.kind == "initial_silence":
                if self.judge.pending():
                    continue  # a tone is playing or just ended: a beep or SIT decides first
                return Verdict(s.initial_silence_verdict, call.at_ms, call.reason)
            if call.kind == "human":
                if self.cadence.speaking:
                    continue  # words again, not yet long enough to end the silence
                if self.judge.pending():
                    self._hold(call.reason, "a tone may be a beep")
                    continue
                if self.phrase_spotter is not None and self.phrase_spotter.busy():
                    continue  # let the phrase spotter finish the words just heard
                if verdict := self._read_all():  # the words before the silence first
                    return verdict
                if (
                    self._unclear_words()
                    and self.cadence.silence_ms < s.unclear_greeting_silence_ms
                ):
                    self._hold(call.reason, "words neither a machine's nor an answer")
                    continue
                return Verdict("human", call.at_ms, call.reason)
        return None

    def _unclear_words(self) -> bool:
        """Words were read, and they neither name a machine nor sound like a person answering:
        maybe the first sentence of a greeting that pauses before the next."""
        found = self.transcript
        return (
            found is not None
            and bool(found.text.strip())
            and not found.answer_like
            and self.cadence.greeting_ms > self.settings.short_greeting_ms
        )

    # -- reading the greeting ---------------------------------------------------------------

    def _read(self) -> Verdict | None:
        """Transcribe the greeting so far; a machine verdict if it holds a machine phrase."""
        cadence = self.cadence
        assert self.reader is not None and cadence.greeting_start_ms is not None
        # Start a little before the first word: VAD onsets clip soft first consonants.
        self.transcript = found = self.reader.read(cadence.greeting_start_ms - 250, cadence.now_ms)
        self._read_speech_ms = cadence.greeting_ms
        meaning = (
            f'machine phrase "{found.machine_phrase}"'
            if found.machine_phrase
            else "a person answering"
            if found.answer_like
            else "no phrase"
        )
        self.timeline.add(
            cadence.now_ms,
            "read",
            f"{found.start_ms / 1000:.2f}-{found.end_ms / 1000:.2f} s {found.language} "
            f'(logprob {found.avg_logprob:.2f}): "{found.text.strip()}" -> {meaning}',
        )
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
        limit = max(s.answer_max_greeting_ms, s.intro_max_greeting_ms if found else 0.0)
        if (
            s.answer_silence_ms
            and found is not None
            and found.answer_like
            and found.machine_phrase is None
            and unread_ms <= 0
            and cadence.silence_ms >= s.answer_silence_ms
            and not cadence.speaking
            and cadence.greeting_ms <= limit
            and not self.judge.pending()
        ):
            reason = (
                f'answer "{found.text}" ({_s(cadence.greeting_ms)}) '
                f"then silence {_s(cadence.silence_ms)}"
            )
            return Verdict("human", cadence.now_ms, reason, "answer")
        return None

    def _timeout_verdict(self, at_ms: float, ended: bool = False) -> Verdict:
        cadence = self.cadence
        if cadence.in_greeting and cadence.silence_ms < self.settings.after_greeting_silence_ms:
            if ended and cadence.greeting_ms <= self.settings.max_greeting_ms:
                reason = f"greeting {_s(cadence.greeting_ms)}, then the audio ended"
                return Verdict("human", at_ms, reason, "cadence")
            if self._introduces_themselves():
                reason = f"greeting {_s(cadence.greeting_ms)} of a person answering"
                return Verdict("human", at_ms, reason, "answer")
            return Verdict("machine", at_ms, f"still talking after {_s(at_ms)}", "timeout")
        if cadence.in_greeting:
            reason = f"greeting {_s(cadence.greeting_ms)} then silence"
            return Verdict("human", at_ms, reason, "cadence")
        return Verdict("unknown", at_ms, f"no speech in {_s(at_ms)}", "timeout")


_MOVED_TO_RECORDINGS = ("detect_audio", "detect_with", "detect_file", "read_callee_audio")


def __getattr__(name: str) -> object:
    """``detect_with`` and the other whole-recording helpers live in voicemail.recordings;
    importing them from here still works."""
    if name in _MOVED_TO_RECORDINGS:
        from voicemail import recordings

        return getattr(recordings, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
