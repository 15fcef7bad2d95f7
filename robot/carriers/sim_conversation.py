"""What an answered persona does, one 20 ms frame at a time.

:class:`PersonaConversation` is synchronous and clock-free: the sim call feeds it the call
time and the robot frame the persona hears, and it returns the frame the persona sends. That
keeps the turn-taking rules testable on their own:

- a robot *prompt* starts at the first robot frame louder than ``ROBOT_SPEECH_RMS`` and ends
  after ``prompt_end_silence_ms`` without one; if the robot speaks again before the persona
  has begun its answer (a slow sentence, a reply followed by a question), it is the same
  prompt and the answer waits for its new end, as a person would; after a very short prompt
  ("Great.") the persona waits ``SHORT_PROMPT_WAIT_MS`` for the question that should follow;
- ``lines[n-1]`` answers prompt n: ``think_ms`` after it ends, or ``interrupt_after_ms`` after
  it starts (a barge-in: the persona talks over the robot; :class:`BargeIn` records how long
  the robot talked on and whether any robot speech still came after it called
  ``stop_playback()``); a persona whose lines have ``when`` listens instead: the prompt's
  audio is transcribed when it ends and the line is chosen by what the robot said
  (:meth:`PersonaConversation.choose_line`), so a re-prompt gets an answer again and a
  question asked out of the expected order gets the right one;
- a persona with ``confirm`` or ``repeat_when`` transcribes every prompt too: a prompt with
  one of the ``confirm`` line's ``when`` phrases (the robot checking what it heard: "..., is
  that right?") gets that line, and one with a ``repeat_when`` phrase ("Sorry, I didn't catch
  that.") gets the last line again; neither takes a turn of ``lines``, so counting goes on
  where it was;
- a voicemail plays its greeting, then the beep, then records until ``record_max_ms``;
- a human hangs up after ``patience_ms`` with nobody saying anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from concurrent.futures import Future
from dataclasses import dataclass

from robot.audio import FRAME_MS, AudioChunk
from robot.carriers.personas import Persona, PersonaKind, PersonaLine
from robot.carriers.sim_audio import (
    FRAME_BYTES,
    SILENCE_FRAME,
    frame_rms,
    persona_speech,
    speech_pcm,
    tone,
    transcribe_robot_prompt,
)
from robot.carriers.sim_turns import BargeIn, RobotPrompt, SpokenLine

log = logging.getLogger(__name__)

#: How a callee understands a prompt: its 8 kHz PCM in, the text it understood (later) out.
Listener = Callable[[bytes], Future[str]]

#: Robot frames above this RMS (of 32768) count as robot speech (Piper pauses sit near 0).
ROBOT_SPEECH_RMS = 30.0
#: Pause between the end of a ``hangup_after`` line and the BYE (ms).
HANGUP_PAUSE_MS = 300.0
#: Pause between a voicemail greeting and its beep (ms).
BEEP_PAUSE_MS = 300.0
MAX_HELLO_REPEATS = 2
#: A prompt with less robot speech than this ("Great.") is probably not the whole turn ...
SHORT_PROMPT_MS = 800.0
#: ... so the persona waits this long for the rest before answering it anyway.
SHORT_PROMPT_WAIT_MS = 3000.0


@dataclass(slots=True)
class _Utterance:
    start_ms: float
    turn: int
    text: str = ""
    dtmf: str = ""
    hangup_after: bool = False
    barge_in: bool = False
    pcm: bytes | None = None
    is_beep: bool = False


class PersonaConversation:
    """The persona's side of an answered call."""

    def __init__(
        self,
        persona: Persona,
        speech: MutableMapping[str, Future[AudioChunk]],
        *,
        answered_ms: float,
        prompt_end_silence_ms: float = 1000.0,
        on_dtmf: Callable[[str], None] = lambda digit: None,
        listen: Listener | None = None,
    ) -> None:
        self.persona = persona
        self._listen = listen or transcribe_robot_prompt
        self._listens = persona.listens
        #: Hears every prompt: to choose lines (``when``) or to notice a confirmation question.
        self._hears = persona.listens or persona.confirm is not None or bool(persona.repeat_when)
        #: Prompts answered with ``persona.confirm`` or by saying the last line again: they
        #: take no turn of ``lines``.
        self._extra_prompts = 0
        #: The last line said by count (what a persona says again when asked again).
        self._last_line: PersonaLine | None = None
        #: Robot audio of the prompt being heard (listening personas only).
        self._prompt_pcm = bytearray()
        #: (turn, prompt end ms, transcription) while a listening persona works out a prompt.
        self._listening: tuple[int, float, Future[str]] | None = None
        self._said: set[int] = set()
        #: What a listening persona understood of each prompt it answered (turn -> text).
        self.heard: dict[int, str] = {}
        self._speech = speech
        self.prompt_end_silence_ms = prompt_end_silence_ms
        self._on_dtmf = on_dtmf
        self._pending: list[_Utterance] = []
        self._speaking: _Utterance | None = None
        self._position = 0
        self._scheduled_turns: set[int] = set()
        self._last_activity_ms = answered_ms
        self._hangup_at_ms: float | None = None
        self._hellos_repeated = 0
        self.prompts: list[RobotPrompt] = []
        self.spoken: list[SpokenLine] = []
        self.barge_ins: list[BargeIn] = []
        self._now_ms = answered_ms
        self._schedule_first_sound(answered_ms)

    def robot_stopped(self) -> None:
        """The robot called ``stop_playback()``: it answers a barge-in still in progress."""
        barge_in = self.barge_ins[-1] if self.barge_ins else None
        if barge_in is not None and barge_in.robot_stopped_ms is None and barge_in.end_ms is None:
            barge_in.robot_stopped_ms = self._now_ms

    def step(self, call_ms: float, robot_frame: bytes | None) -> bytes | None:
        """Hear one robot frame, return the persona's frame; None once the persona hung up."""
        self._now_ms = call_ms
        self._hear(call_ms, robot_frame)
        self._understood(call_ms)
        if self._speaking is None:
            self._repeat_hello(call_ms)
            self._start_next(call_ms)
        frame = SILENCE_FRAME
        utterance = self._speaking
        if utterance is not None and utterance.pcm is not None:
            frame = utterance.pcm[self._position : self._position + FRAME_BYTES]
            frame = frame.ljust(FRAME_BYTES, b"\x00")
            self._position += FRAME_BYTES
            if self._position >= len(utterance.pcm):
                self._done(utterance, call_ms + FRAME_MS)
        if self._speaking is not None or self._pending:
            self._last_activity_ms = call_ms
        if self._hangup_at_ms is not None and call_ms >= self._hangup_at_ms:
            return None
        idle_ms = call_ms - self._last_activity_ms
        if self.persona.kind == PersonaKind.HUMAN and idle_ms >= self.persona.patience_ms:
            log.debug("persona %s: nobody speaks, hanging up", self.persona.name)
            return None
        return frame

    # --- hearing the robot ------------------------------------------------------------------

    def _hear(self, call_ms: float, frame: bytes | None) -> None:
        is_speech = frame is not None and frame_rms(frame) > ROBOT_SPEECH_RMS
        prompt = self.prompts[-1] if self.prompts else None
        barge_in = self.barge_ins[-1] if self.barge_ins else None
        if is_speech and barge_in is not None:
            if barge_in.robot_stopped_ms is None and prompt is not None and prompt.end_ms is None:
                barge_in.talkover_ms += FRAME_MS
            elif barge_in.robot_stopped_ms is not None and barge_in.end_ms is None:
                barge_in.after_stop_ms += FRAME_MS
        if self._hears and frame and prompt is not None and (prompt.end_ms is None or is_speech):
            self._prompt_pcm += frame
        if prompt is not None and prompt.end_ms is None:
            if is_speech:
                prompt.last_speech_ms = call_ms
                prompt.speech_ms += FRAME_MS
            elif call_ms - prompt.last_speech_ms >= self._end_silence_ms(prompt):
                prompt.end_ms = prompt.last_speech_ms + FRAME_MS
                self._prompt_ended(len(self.prompts), prompt.end_ms, call_ms)
        elif is_speech and prompt is not None and self._unschedule(len(self.prompts)):
            prompt.end_ms = None  # the robot went on before the answer began: same prompt
            prompt.last_speech_ms = call_ms
            prompt.speech_ms += FRAME_MS
        elif is_speech:
            self.prompts.append(RobotPrompt(call_ms, call_ms, speech_ms=FRAME_MS))
            self._prompt_pcm = bytearray(frame or b"")
            self._prompt_started(len(self.prompts), call_ms)
        if is_speech:
            self._last_activity_ms = call_ms

    def _end_silence_ms(self, prompt: RobotPrompt) -> float:
        if prompt.speech_ms < SHORT_PROMPT_MS:
            return max(self.prompt_end_silence_ms, SHORT_PROMPT_WAIT_MS)
        return self.prompt_end_silence_ms

    def _prompt_started(self, turn: int, call_ms: float) -> None:
        line = self._line(turn)
        if line is not None and line.interrupt_after_ms is not None:
            self._schedule_line(turn, call_ms + line.interrupt_after_ms, barge_in=True)

    def _prompt_ended(self, turn: int, end_ms: float, call_ms: float) -> None:
        if self._hears:
            if self.persona.kind == PersonaKind.HUMAN and turn not in self._scheduled_turns:
                self._listening = (turn, end_ms, self._listen(bytes(self._prompt_pcm)))
            return
        line = self._line(turn)
        if line is not None:
            self._schedule_line(turn, max(call_ms, end_ms + line.think_ms), barge_in=False)

    def _understood(self, call_ms: float) -> None:
        """A listening persona has transcribed the last prompt: choose and schedule its line."""
        if self._listening is None or not self._listening[2].done():
            return
        turn, end_ms, future = self._listening
        self._listening = None
        try:
            text = future.result()
        except Exception as e:
            log.warning("persona %s could not hear the robot: %s", self.persona.name, e)
            text = ""
        self.heard[turn] = text
        confirm = self.persona.confirm
        again = self._last_line if _mentions(text, self.persona.repeat_when) else None
        extra = confirm if confirm is not None and _mentions(text, confirm.when) else again
        if extra is not None:
            self._extra_prompts += 1
            self._answer(turn, extra, max(call_ms, end_ms + extra.think_ms))
            return
        if not self._listens:  # counts prompts: the line of this turn
            line = self._line(turn)
            if line is not None:
                self._schedule_line(turn, max(call_ms, end_ms + line.think_ms), barge_in=False)
            return
        index = self.choose_line(text)
        if index is None:
            log.debug("persona %s: nothing to say to %r", self.persona.name, text)
            return
        self._said.add(index)
        line = self.persona.lines[index]
        self._answer(turn, line, max(call_ms, end_ms + line.think_ms))

    def _answer(self, turn: int, line: PersonaLine, start_ms: float) -> None:
        self._scheduled_turns.add(turn)
        self._pending.append(
            _Utterance(start_ms, turn, line.say, line.dtmf or "", line.hangup_after, False)
        )

    def choose_line(self, prompt_text: str) -> int | None:
        """Index of the line answering a prompt that said ``prompt_text`` (listening)."""
        lines = self.persona.lines
        matching = [i for i, line in enumerate(lines) if _mentions(prompt_text, line.when)]
        fresh = [i for i in matching if i not in self._said]
        if fresh:
            return fresh[0]
        if matching:
            return max(matching, key=lambda i: (i in self._said, i))  # asked again: say it again
        plain = [i for i, line in enumerate(lines) if not line.when and i not in self._said]
        return plain[0] if plain else None

    def _line(self, turn: int) -> PersonaLine | None:
        """The line answering prompt ``turn`` by count (confirmation questions skipped)."""
        lines = self.persona.lines
        index = turn - self._extra_prompts
        if self.persona.kind != PersonaKind.HUMAN or not 1 <= index <= len(lines):
            return None
        return lines[index - 1]

    def _schedule_line(self, turn: int, start_ms: float, *, barge_in: bool) -> None:
        line = self._line(turn)
        if turn in self._scheduled_turns or line is None:
            return
        self._last_line = line
        self._scheduled_turns.add(turn)
        self._pending.append(
            _Utterance(start_ms, turn, line.say, line.dtmf or "", line.hangup_after, barge_in)
        )

    def _unschedule(self, turn: int) -> bool:
        """Take back the not yet started answer to prompt ``turn``; False if there is none."""
        if self._listening is not None and self._listening[0] == turn:
            self._listening = None  # the robot went on: hear the whole prompt first
            return True
        for utterance in self._pending:
            if utterance.turn == turn and not utterance.barge_in:
                self._pending.remove(utterance)
                self._scheduled_turns.discard(turn)
                return True
        return False

    # --- speaking ---------------------------------------------------------------------------

    def _schedule_first_sound(self, answered_ms: float) -> None:
        start = answered_ms + self.persona.answer_delay_ms
        vm = self.persona.voicemail
        if vm is not None:
            beep = tone(vm.beep.frequency_hz, vm.beep.duration_ms, vm.beep.level_dbfs)
            pause = SILENCE_FRAME * int(BEEP_PAUSE_MS // FRAME_MS)
            self._pending.append(_Utterance(start, 0, vm.greeting))
            self._pending.append(_Utterance(start, 0, pcm=pause + beep, is_beep=True))
        elif self.persona.hello and self.persona.kind == PersonaKind.HUMAN:
            self._pending.append(_Utterance(start, 0, self.persona.hello))

    def _repeat_hello(self, call_ms: float) -> None:
        """Dead air after picking up: "Hello?" again, as people do."""
        persona = self.persona
        repeat_ms = persona.hello_repeat_ms
        if repeat_ms is None or not persona.hello or persona.kind != PersonaKind.HUMAN:
            return
        if self.prompts or self._pending:
            return
        quiet_ms = call_ms - self._last_activity_ms
        if self._hellos_repeated < MAX_HELLO_REPEATS and quiet_ms >= repeat_ms:
            self._hellos_repeated += 1
            self._pending.append(_Utterance(call_ms, 0, persona.hello))

    def _start_next(self, call_ms: float) -> None:
        due = [u for u in self._pending if u.start_ms <= call_ms]
        if not due:
            return
        utterance = due[0]
        if utterance.pcm is None:
            future = None
            if utterance.text.strip():
                future = self._speech.get(utterance.text)
                if future is None:
                    future = self._speech[utterance.text] = persona_speech(
                        self.persona.voice, utterance.text
                    )
            if future is not None and not future.done():
                return  # still synthesizing: speak as soon as the audio is there
            utterance.pcm = speech_pcm(future) if future is not None else b""
        self._pending.remove(utterance)
        self._speaking, self._position = utterance, 0
        prompt = self.prompts[-1] if self.prompts else None
        barging = utterance.barge_in and prompt is not None and prompt.end_ms is None
        if barging:
            self.barge_ins.append(BargeIn(utterance.turn, call_ms))
        if utterance.text:
            self.spoken.append(SpokenLine(utterance.turn, utterance.text, call_ms, None, barging))
            log.debug("persona %s says %r", self.persona.name, utterance.text)
        if not utterance.pcm:
            self._done(utterance, call_ms)

    def _done(self, utterance: _Utterance, end_ms: float) -> None:
        self._speaking = None
        self._last_activity_ms = end_ms
        if utterance.barge_in and self.barge_ins and self.barge_ins[-1].end_ms is None:
            self.barge_ins[-1].end_ms = end_ms
        if utterance.text and self.spoken and self.spoken[-1].end_ms is None:
            self.spoken[-1].end_ms = end_ms
        for digit in utterance.dtmf:
            self._on_dtmf(digit)
        if utterance.hangup_after:
            self._hangup_at_ms = end_ms + HANGUP_PAUSE_MS
        vm = self.persona.voicemail
        if utterance.is_beep and vm is not None:
            self._hangup_at_ms = end_ms + vm.record_max_ms


def _mentions(text: str, phrases: tuple[str, ...]) -> bool:
    """Whether ``text`` holds one of ``phrases`` as whole words (any case, no punctuation)."""
    heard = _plain_words(text)
    return any(_plain_words(phrase) in heard for phrase in phrases)


def _plain_words(text: str) -> str:
    """Lower-case words separated by single spaces, padded, for whole-word matching."""
    words = "".join(c if c.isalnum() or c == "'" else " " for c in text.lower()).split()
    return f" {' '.join(words)} "
