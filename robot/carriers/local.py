"""The ``local://`` carrier: talk to the robot through this machine's microphone and speaker.

For trying a script by voice without a telephone line. "Dialling" connects at once (the
person at the microphone is the callee); their voice is captured, resampled to 8 kHz and
handed to the call in 20 ms frames; the robot's audio is resampled to the device rate and
played in real time. A call ends when the robot hangs up or the call is cancelled (Ctrl-C).
One call at a time: there is one sound card.

The sound card sits behind :class:`SoundDevice`; :class:`PyAudioDevice` is the real one
(``pip install 'callrobot[local]'``, which needs PortAudio: ``apt-get install
portaudio19-dev``). Both device directions block, so each runs in its own thread: reading
paces the callee side, writing paces the robot side.

    callrobot call local:// --script dialogues/scripts/lead_qualification.yaml
    local://?rate=16000&input=2&output=2        # device rate, PortAudio device indexes
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from robot.audio import FRAME_MS, TELEPHONY_RATE_HZ, AudioChunk, StreamResampler
from robot.carriers.base import (
    CallEvent,
    CallState,
    Signalling,
    SipMessageInfo,
    check_dtmf,
    queued_audio,
    queued_events,
)
from robot.errors import CarrierError, ConfigError, MissingExtraError

log = logging.getLogger(__name__)

DEFAULT_DEVICE_RATE_HZ = 16000
_FRAME_BYTES_8K = TELEPHONY_RATE_HZ * FRAME_MS // 1000 * 2


class SoundDevice(Protocol):
    """A full-duplex sound card: 16-bit mono PCM at ``rate``; both calls block."""

    rate: int

    def read(self, frames: int) -> bytes:
        """Capture ``frames`` samples (blocks until they are there)."""
        ...

    def write(self, pcm: bytes) -> None:
        """Play ``pcm`` (blocks while the device buffer is full)."""
        ...

    def close(self) -> None: ...


class PyAudioDevice:
    """The default input and output devices through PortAudio."""

    def __init__(
        self,
        rate: int = DEFAULT_DEVICE_RATE_HZ,
        input_index: int | None = None,
        output_index: int | None = None,
    ) -> None:
        try:
            import pyaudio
        except ImportError as e:
            raise MissingExtraError("the local:// carrier", "local", "pyaudio") from e
        self.rate = rate
        self._audio = pyaudio.PyAudio()
        frames = rate * FRAME_MS // 1000
        try:
            self._input = self._audio.open(
                format=pyaudio.paInt16,
                channels=1,
                rate=rate,
                input=True,
                frames_per_buffer=frames,
                input_device_index=input_index,
            )
            self._output = self._audio.open(
                format=pyaudio.paInt16,
                channels=1,
                rate=rate,
                output=True,
                frames_per_buffer=frames,
                output_device_index=output_index,
            )
        except OSError as e:
            self._audio.terminate()
            raise CarrierError(
                f"local:// cannot open the sound device at {rate} Hz ({e}); list devices with "
                "python -m pyaudio or pick them with local://?input=N&output=N"
            ) from e

    def read(self, frames: int) -> bytes:
        data: bytes = self._input.read(frames, exception_on_overflow=False)
        return data

    def write(self, pcm: bytes) -> None:
        self._output.write(pcm)

    def close(self) -> None:
        for stream in (self._input, self._output):
            try:
                stream.stop_stream()
                stream.close()
            except OSError:  # already gone with the device
                pass
        self._audio.terminate()


class LocalCall:
    """The one call of a :class:`LocalCarrier` (implements :class:`robot.carriers.base.Call`)."""

    def __init__(self, number: str, device: SoundDevice) -> None:
        self.call_id = uuid.uuid4().hex
        self.number = number
        self.signalling = Signalling()
        self._device = device
        self._state = CallState.DIALLING
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._events: asyncio.Queue[CallEvent | None] = asyncio.Queue()
        self._audio: asyncio.Queue[AudioChunk | None] = asyncio.Queue()
        self._robot: deque[bytes] = deque()
        self._robot_lock = threading.Lock()
        self._drained = asyncio.Event()
        self._drained.set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ended = False
        #: DTMF digits the robot asked to send (a sound card has no keypad to send them to).
        self.dtmf_sent = ""
        #: (target, bridged) for every transfer the robot asked for.
        self.transfers: list[tuple[str, bool]] = []

    # --- the Call protocol -----------------------------------------------------------------

    @property
    def state(self) -> CallState:
        return self._state

    def audio(self) -> AsyncIterator[AudioChunk]:
        return queued_audio(self._audio)

    def events(self) -> AsyncIterator[CallEvent]:
        return queued_events(self._events)

    async def play(self, chunk: AudioChunk) -> None:
        if self._ended:
            return
        frames = [f.pcm for f in chunk.resampled(TELEPHONY_RATE_HZ).frames(FRAME_MS)]
        if not frames:
            return
        with self._robot_lock:
            self._robot.extend(frames)
        self._drained.clear()

    def stop_playback(self) -> float:
        with self._robot_lock:
            dropped = len(self._robot) * FRAME_MS
            self._robot.clear()
        self._drained.set()
        return float(dropped)

    async def playback_done(self) -> None:
        await self._drained.wait()

    async def send_dtmf(self, digits: str) -> None:
        check_dtmf(digits)
        self.dtmf_sent += digits

    async def transfer(self, target: str, *, bridged: bool = False) -> None:
        if self._state != CallState.ANSWERED:
            raise CarrierError(f"cannot transfer call {self.call_id}: it is {self._state}")
        self.transfers.append((target, bridged))
        log.info("local call: a transfer was asked for; a sound card cannot transfer")
        if not bridged:
            await self.hangup("transferred")

    async def hangup(self, reason: str | None = None) -> None:
        self._end("local")
        await asyncio.gather(*(asyncio.to_thread(t.join) for t in self._threads))
        self._device.close()

    # --- running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect at once: ringing, then answered, then audio both ways."""
        self._state = CallState.RINGING
        self._record(180, "Ringing")
        self._emit("ringing")
        self._state = CallState.ANSWERED
        self._record(200, "OK")
        self._emit("answered")
        for target, name in ((self._capture, "capture"), (self._playout, "playout")):
            thread = threading.Thread(target=target, name=f"local-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _now_ms(self) -> float:
        return (self._loop.time() - self._t0) * 1000.0

    def _record(self, status: int, phrase: str) -> None:
        info = SipMessageInfo(status=status, method=None, reason_phrase=phrase, at_ms=0.0)
        info.at_ms = self._now_ms()
        self.signalling.record(info)

    def _emit(self, kind: str, *, by: str | None = None) -> None:
        self._events.put_nowait(CallEvent(kind, self._now_ms(), by=by))

    def _end(self, by: str) -> None:
        if self._ended:
            return
        self._ended = True
        self._stop.set()
        self._state = CallState.ENDED
        self.signalling.hangup_by = by
        self.signalling.ended_ms = self._now_ms()
        self._emit("hangup", by=by)
        self._audio.put_nowait(None)
        self.stop_playback()

    def _from_thread(self, callback: Callable[..., Any], *args: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop closed under us: nobody is listening any more
            self._stop.set()

    def _capture(self) -> None:
        to_8k = StreamResampler(self._device.rate, TELEPHONY_RATE_HZ)
        frames = self._device.rate * FRAME_MS // 1000
        pending = b""
        try:
            while not self._stop.is_set():
                pending += to_8k.process(self._device.read(frames))
                while len(pending) >= _FRAME_BYTES_8K and not self._stop.is_set():
                    frame, pending = pending[:_FRAME_BYTES_8K], pending[_FRAME_BYTES_8K:]
                    self._from_thread(self._deliver, frame)
        except Exception as e:  # the device went away: the call is over
            log.warning("local call: the microphone failed (%s)", e.__class__.__name__)
            self._from_thread(self._end, "remote")

    def _deliver(self, frame: bytes) -> None:
        if not self._ended:
            self._audio.put_nowait(AudioChunk(frame, TELEPHONY_RATE_HZ, self._now_ms()))

    def _playout(self) -> None:
        to_device = StreamResampler(TELEPHONY_RATE_HZ, self._device.rate)
        silence = b"\x00" * _FRAME_BYTES_8K
        try:
            while not self._stop.is_set():
                with self._robot_lock:
                    frame = self._robot.popleft() if self._robot else None
                    drained = not self._robot
                self._device.write(to_device.process(frame or silence))
                if frame is not None and drained:
                    self._from_thread(self._drained.set)
        except Exception as e:
            log.warning("local call: the speaker failed (%s)", e.__class__.__name__)
            self._from_thread(self._end, "remote")


class LocalCarrier:
    """Calls through a sound card (see the module docstring)."""

    def __init__(self, device_factory: Callable[[], SoundDevice] | None = None) -> None:
        self._device_factory = device_factory or PyAudioDevice
        self._call: LocalCall | None = None

    @classmethod
    def from_url(cls, url: str) -> LocalCarrier:
        """``local://?rate=16000&input=N&output=N``."""
        query = parse_qs(urlsplit(url).query)
        unknown = set(query) - {"rate", "input", "output"}
        if unknown:
            raise ConfigError(f"local carrier URL {url!r}: unknown option {sorted(unknown)[0]!r}")

        def number(name: str) -> int | None:
            value = query.get(name, [None])[0]
            if value is None:
                return None
            try:
                return int(value)
            except ValueError as e:
                raise ConfigError(f"local carrier URL {url!r}: {name} must be a number") from e

        rate = number("rate") or DEFAULT_DEVICE_RATE_HZ
        if not 8000 <= rate <= 192000:
            raise ConfigError(f"local carrier URL {url!r}: rate must be 8000 to 192000 Hz")
        input_index, output_index = number("input"), number("output")
        return cls(lambda: PyAudioDevice(rate, input_index, output_index))

    async def dial(
        self,
        number: str,
        *,
        caller_id: str | None = None,
        ring_timeout_s: float = 30.0,
        variables: dict[str, str] | None = None,
    ) -> LocalCall:
        if self._call is not None and self._call.state != CallState.ENDED:
            raise CarrierError("local:// has one sound card: a call is already in progress")
        device = await asyncio.to_thread(self._device_factory)
        call = LocalCall(number, device)
        self._call = call
        call.start()
        return call

    async def close(self) -> None:
        if self._call is not None and self._call.state != CallState.ENDED:
            await self._call.hangup("closed")
