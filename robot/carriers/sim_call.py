"""One call over the simulated network (:class:`SimCall`), made by
:meth:`robot.carriers.sim.SimCarrier.dial`.

The network sends SIP/Q.850 signalling for the persona's kind (100 Trying, 180/183, then the
final response), early media (SIT tones and an announcement for a number not in service),
and once answered a real-time loop exchanges one 20 ms, 8 kHz frame each way: the persona's
synthesized speech (or its background noise, or silence) goes out through :meth:`audio`, and
one frame of the robot's queued audio is consumed.

The persona hears the robot by watching that robot audio: a *prompt* starts when robot audio
becomes non-silent and ends after ``prompt_end_silence_ms`` without it. ``lines[n]`` of the
persona answers prompt n+1 (after ``think_ms``, or ``interrupt_after_ms`` into the prompt for a
barge-in). What the persona heard and what happened at barge-in stay on the call for tests and
recordings (:attr:`SimCall.heard_robot_audio`, :attr:`SimCall.barge_ins`).

All times are call milliseconds since the INVITE; ``speed`` 2.0 runs the network at twice real
time (tests). One asyncio task per call; it ends at hang-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future

import numpy as np

from robot.audio import FRAME_MS, TELEPHONY_RATE_HZ, AudioChunk
from robot.carriers.base import (
    CallEvent,
    CallState,
    Signalling,
    SipMessageInfo,
    check_dtmf,
    queued_audio,
    queued_events,
)
from robot.carriers.personas import ANSWERING_KINDS, Persona, PersonaKind
from robot.carriers.sim_audio import FRAME_BYTES, SILENCE_FRAME, noise_bed, persona_speech
from robot.carriers.sim_conversation import Listener, PersonaConversation
from robot.carriers.sim_network import (
    EarlyMedia,
    answer_headers,
    failure_response,
    q850_reason,
    unknown_number_response,
)
from robot.carriers.sim_turns import BargeIn, RobotPrompt, SpokenLine
from robot.errors import CarrierError

log = logging.getLogger(__name__)

TRYING_MS = 20.0
#: Post-dial delay before the network reports progress (180/183).
SETUP_MS = 250.0
#: Callee frames kept for a consumer that lags behind (60 s); older ones are dropped.
MAX_QUEUED_FRAMES = 3000


class SimCall:
    """One call over the simulated network (implements :class:`robot.carriers.base.Call`)."""

    def __init__(
        self,
        number: str,
        persona: Persona | None,
        *,
        speed: float,
        ring_timeout_ms: float,
        prompt_end_silence_ms: float,
        seed: int,
        listen: Listener | None = None,
    ) -> None:
        self.call_id = uuid.uuid4().hex
        self._listen = listen
        self.number = number
        self.persona = persona
        self.signalling = Signalling()
        self.speed = speed
        self.ring_timeout_ms = ring_timeout_ms
        self.prompt_end_silence_ms = prompt_end_silence_ms
        self._state = CallState.DIALLING
        self._events: asyncio.Queue[CallEvent | None] = asyncio.Queue()
        self._audio: asyncio.Queue[AudioChunk | None] = asyncio.Queue()
        self._robot_frames: deque[bytes] = deque()
        self._drained = asyncio.Event()
        self._drained.set()
        self._hangup_requested = asyncio.Event()
        self._ended = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._task: asyncio.Task[None] | None = None
        self._final_emitted = False
        self._noise = noise_bed(persona.noise, seed) if persona and persona.noise else None
        self._noise_pos = 0
        self._speech: dict[str, Future[AudioChunk]] = {}
        if persona is not None:
            for text in persona.texts():
                self._speech[text] = persona_speech(persona.voice, text)
        #: The persona's side once answered (None before answer or for failing kinds).
        self.conversation: PersonaConversation | None = None
        self._heard = bytearray()
        self._sent = bytearray()
        #: (call ms, dropped ms) for every stop_playback() call.
        self.stop_playback_log: list[tuple[float, float]] = []
        #: DTMF digits the robot sent.
        self.dtmf_received = ""
        #: (target, bridged) for every transfer the robot asked for.
        self.transfers: list[tuple[str, bool]] = []
        self.dropped_callee_frames = 0

    # --- the Call protocol -----------------------------------------------------------------

    @property
    def state(self) -> CallState:
        return self._state

    def audio(self) -> AsyncIterator[AudioChunk]:
        return queued_audio(self._audio)

    def events(self) -> AsyncIterator[CallEvent]:
        return queued_events(self._events)

    async def play(self, chunk: AudioChunk) -> None:
        if self._ended.is_set():
            log.debug("call %s: play() after the call ended; audio ignored", self.call_id)
            return
        audio = chunk.resampled(TELEPHONY_RATE_HZ)
        self._robot_frames.extend(f.pcm for f in audio.frames(FRAME_MS))
        if self._robot_frames:
            self._drained.clear()

    def stop_playback(self) -> float:
        dropped_ms = float(len(self._robot_frames) * FRAME_MS)
        self._robot_frames.clear()
        self._drained.set()
        self.stop_playback_log.append((self._now_ms(), dropped_ms))
        if self.conversation is not None:
            self.conversation.robot_stopped()
        return dropped_ms

    async def playback_done(self) -> None:
        await self._drained.wait()

    async def send_dtmf(self, digits: str) -> None:
        check_dtmf(digits)
        self.dtmf_received += digits

    async def transfer(self, target: str, *, bridged: bool = False) -> None:
        if self._state != CallState.ANSWERED:
            raise CarrierError(f"cannot transfer call {self.call_id}: it is {self._state}")
        self.transfers.append((target, bridged))
        log.info("call %s: transfer (%s)", self.call_id, "bridged" if bridged else "blind")
        if not bridged:  # the network takes the callee; the robot's leg ends
            await self.hangup("transferred")

    async def hangup(self, reason: str | None = None) -> None:
        self._hangup_requested.set()
        if self._task is not None:
            await asyncio.shield(self._task)

    # --- observations for tests and recordings ---------------------------------------------

    @property
    def heard_robot_audio(self) -> AudioChunk:
        """Robot audio as the persona heard it, one frame per 20 ms from answer (8 kHz)."""
        return AudioChunk(bytes(self._heard), TELEPHONY_RATE_HZ, self.signalling.answer_ms)

    @property
    def callee_audio(self) -> AudioChunk:
        """What the persona sent from answer on, aligned with :attr:`heard_robot_audio`."""
        return AudioChunk(bytes(self._sent), TELEPHONY_RATE_HZ, self.signalling.answer_ms)

    @property
    def spoken(self) -> list[SpokenLine]:
        """Everything the persona said, in order."""
        return self.conversation.spoken if self.conversation else []

    @property
    def robot_prompts(self) -> list[RobotPrompt]:
        """Every robot prompt the persona heard."""
        return self.conversation.prompts if self.conversation else []

    @property
    def barge_ins(self) -> list[BargeIn]:
        """Every time the persona talked over the robot, and how the robot reacted."""
        return self.conversation.barge_ins if self.conversation else []

    @property
    def barge_in_at_ms(self) -> float | None:
        """Call ms at which the persona first talked over the robot (None: never)."""
        return self.barge_ins[0].start_ms if self.barge_ins else None

    @property
    def robot_audio_ms_after_barge_in(self) -> float | None:
        """Robot speech the persona still heard after the robot stopped for a barge-in.

        0 when ``stop_playback()`` really silenced the robot; more when the robot kept
        sending audio while the persona talked. None when there was no barge-in or the robot
        never stopped (then :attr:`BargeIn.talkover_ms` says how long it talked on).
        """
        stopped = [b.after_stop_ms for b in self.barge_ins if b.robot_stopped_ms is not None]
        return max(stopped) if stopped else None

    async def wait_ended(self, timeout_s: float | None = None) -> None:
        """Wait until the call has ended (TimeoutError after ``timeout_s`` real seconds)."""
        await asyncio.wait_for(self._ended.wait(), timeout_s)

    # --- the call's task --------------------------------------------------------------------

    def start(self) -> None:
        self._task = self._loop.create_task(self._run(), name=f"sim-call-{self.call_id}")

    def _now_ms(self) -> float:
        return (self._loop.time() - self._t0) * 1000.0 * self.speed

    def _emit(self, kind: str, *, digit: str | None = None, by: str | None = None) -> None:
        self._final_emitted = self._final_emitted or kind in ("hangup", "failed")
        self._events.put_nowait(CallEvent(kind, self._now_ms(), digit, by))

    def _signal(
        self,
        status: int | None,
        phrase: str,
        method: str | None = None,
        headers: dict[str, list[str]] | None = None,
        *,
        sdp: bool = False,
    ) -> None:
        message = SipMessageInfo(status, method, phrase, headers or {}, self._now_ms(), sdp)
        self.signalling.record(message)

    async def _wait_until(self, call_ms: float) -> bool:
        """Sleep until ``call_ms``; False when the robot hung up meanwhile."""
        delay_s = (call_ms - self._now_ms()) / 1000.0 / self.speed
        if delay_s > 0 and not self._hangup_requested.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._hangup_requested.wait(), delay_s)
        return not self._hangup_requested.is_set()

    async def _tick(self, step: Callable[[float], bool]) -> bool:
        """Call ``step(call_ms)`` every 20 call-ms; False when the robot hung up first."""
        period_s = FRAME_MS / 1000.0 / self.speed
        deadline = self._loop.time()
        call_ms = self._now_ms()
        while not self._hangup_requested.is_set():
            if not step(call_ms):
                return True
            call_ms += FRAME_MS
            deadline += period_s
            delay_s = deadline - self._loop.time()
            if delay_s < -0.2:  # far behind (a stalled loop): resync instead of bursting
                deadline = self._loop.time()
            await asyncio.sleep(max(0.0, delay_s))
        return False

    async def _run(self) -> None:
        by = "local"
        try:
            if await self._wait_until(TRYING_MS):
                self._signal(100, "Trying")
            if await self._progress():
                by = "remote" if await self._tick(self._media_step) else "local"
                if by == "remote":
                    self._signal(None, "", "BYE")
        except Exception:
            log.exception("call %s: simulated network failed", self.call_id)
            by = "remote"
        finally:
            self._finish(by)

    async def _progress(self) -> bool:
        """Signalling up to the final response; True when the call was answered."""
        persona = self.persona
        if not await self._wait_until(SETUP_MS):
            return self._cancel(16, "Normal call clearing")
        if persona is None:
            return self._fail(unknown_number_response(self.number))
        if persona.announcement or persona.kind == PersonaKind.INVALID_NUMBER:
            self._signal(183, "Session Progress", sdp=True)
            self._state = CallState.EARLY_MEDIA
            self._emit("early_media")
            if not await self._tick(self._early_media_step(EarlyMedia(persona))):
                return self._cancel(16, "Normal call clearing")
        elif persona.ring_ms > 0:
            self._signal(180, "Ringing")
            self._state = CallState.RINGING
            self._emit("ringing")
            answer_ms = self._now_ms() + persona.ring_ms
            if not await self._wait_until(min(answer_ms, self.ring_timeout_ms)):
                return self._cancel(16, "Normal call clearing")
            if self.ring_timeout_ms < answer_ms:
                return self._cancel(19, "No answer from user")
        if persona.kind not in ANSWERING_KINDS:
            return self._fail(failure_response(persona))
        return self._pick_up(persona)

    def _pick_up(self, persona: Persona) -> bool:
        """200 OK: the call is answered and the persona's side of it starts."""
        self._signal(200, "OK", headers=answer_headers(self.number, persona), sdp=True)
        self._state = CallState.ANSWERED
        self._emit("answered")
        self.conversation = PersonaConversation(
            persona,
            self._speech,
            answered_ms=self._now_ms(),
            prompt_end_silence_ms=self.prompt_end_silence_ms,
            on_dtmf=lambda digit: self._emit("dtmf", digit=digit),
            listen=self._listen,
        )
        return True

    def _fail(self, response: tuple[int, str, dict[str, list[str]]]) -> bool:
        status, phrase, headers = response
        self._signal(status, phrase, headers=headers)
        self._emit("failed")
        return False

    def _cancel(self, cause: int, text: str) -> bool:
        """The caller gives up before answer: CANCEL (with its reason), then 487."""
        self._signal(None, "", "CANCEL", {"reason": [q850_reason(cause, text)]})
        self._signal(487, "Request Terminated")
        self._emit("failed" if cause == 19 else "hangup", by=None if cause == 19 else "local")
        return False

    def _finish(self, by: str) -> None:
        if self._state == CallState.ANSWERED:
            self.signalling.hangup_by = by
            self._emit("hangup", by=by)
        elif not self._final_emitted:  # the simulation itself broke before a final response
            self._emit("failed")
        self.signalling.ended_ms = self._now_ms()
        self._state = CallState.ENDED
        self._robot_frames.clear()
        self._drained.set()
        self._ended.set()
        self._audio.put_nowait(None)
        self._events.put_nowait(None)
        self._speech.clear()
        log.debug("call %s to %s ended by %s", self.call_id, self.number, by)

    # --- audio out --------------------------------------------------------------------------

    def _send(self, pcm: bytes, call_ms: float, *, answered: bool) -> None:
        if self._noise is not None:
            n = FRAME_BYTES // 2
            if self._noise_pos + n > len(self._noise):
                self._noise_pos = 0
            bed = self._noise[self._noise_pos : self._noise_pos + n]
            self._noise_pos += n
            mixed = np.frombuffer(pcm, dtype="<i2").astype(np.int32) + bed
            pcm = np.clip(mixed, -32768, 32767).astype("<i2").tobytes()
        if answered:
            self._sent.extend(pcm)
        if self._audio.qsize() >= MAX_QUEUED_FRAMES:
            self._audio.get_nowait()
            self.dropped_callee_frames += 1
        self._audio.put_nowait(AudioChunk(pcm, TELEPHONY_RATE_HZ, call_ms))

    def _early_media_step(self, media: EarlyMedia) -> Callable[[float], bool]:
        def step(call_ms: float) -> bool:
            frame = media.next_frame()
            if frame is not None:
                self._send(frame, call_ms, answered=False)
            return frame is not None

        return step

    # --- the answered call ------------------------------------------------------------------

    def _media_step(self, call_ms: float) -> bool:
        """One frame each way; False when the persona hangs up."""
        conversation = self.conversation
        assert conversation is not None
        robot_frame = self._robot_frames.popleft() if self._robot_frames else None
        if not self._robot_frames:
            self._drained.set()
        self._heard.extend(robot_frame or SILENCE_FRAME)
        frame = conversation.step(call_ms, robot_frame)
        if frame is None:
            return False
        self._send(frame, call_ms, answered=True)
        return True
