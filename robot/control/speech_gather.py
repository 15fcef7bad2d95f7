"""``gather`` with ``speech``: keys or a spoken answer, whichever the caller gives first.

:class:`SpeechGatherer` listens to the leg while the gather waits: a VAD and the call
session's endpointer (:class:`~robot.speech.endpoint.Endpointer`) find the caller's answer,
and the recogniser transcribes it (Whisper by default, the call engine's recogniser for the
gather's ``language``), with the gather's ``hints`` as the phrases it should favour. The
gather ends on:

- a key: from then on it collects keys exactly like a gather without speech (``max_digits``,
  ``finish_on_key``, ``timeout_s`` between keys; the runner's own loop); speech is no longer
  listened to;
- the end of an utterance (``trailing_silence_ms`` of silence after speech, or
  ``max_utterance_ms`` of talk): ``reason: "speech"`` with the text and the recogniser's
  confidence (0..1); an utterance the recogniser heard as nothing is skipped;
- ``timeout_s`` without the caller starting to speak or pressing a key (the time does not
  run while the caller talks), or a hang-up.

The result (``speech`` and ``confidence``) is sent with the next request for actions: the
gather's ``action_url``, or the next ``redirect`` (:mod:`robot.control.redirect`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from robot.audio import AudioChunk
from robot.control.actions import Gather
from robot.speech.base import Recognizer, transcribe_async
from robot.speech.endpoint import Endpointer, EndpointerConfig, EndpointEventKind

if TYPE_CHECKING:
    from robot.control.runner import GatherResult, Leg
    from robot.engine import CallEngine

logger = logging.getLogger(__name__)

__all__ = ["SpeechGatherer"]


class SpeechGatherer:
    """Gathers spoken answers on call legs; one per process or call (it holds no call state)."""

    def __init__(
        self,
        recognizer: Callable[[str | None], Recognizer],
        vad_factory: Callable[[], Any],
        endpoint: EndpointerConfig | None = None,
    ) -> None:
        """``recognizer(language)``: the recogniser for a gather's language (None: default)."""
        self.recognizer = recognizer
        self.vad_factory = vad_factory
        self.endpoint = endpoint or EndpointerConfig()

    @classmethod
    def from_engine(cls, engine: CallEngine, language: str = "en") -> SpeechGatherer:
        """The call engine's recognisers and VAD, with its endpointing settings."""
        from robot.speech.endpoint import endpointer_config_from_settings
        from voicemail.vad import create_vad

        kind = engine.vad_kind
        threshold = engine.settings.speech.endpoint.vad_threshold

        def recognizer(wanted: str | None) -> Recognizer:
            return engine.registry.recognizer((wanted or language).split("-")[0].lower())

        return cls(
            recognizer,
            lambda: create_vad(kind, threshold=threshold),
            endpointer_config_from_settings(engine.settings.speech.endpoint),
        )

    async def gather(self, leg: Leg, action: Gather) -> GatherResult | str:
        """Wait for a key or an utterance on ``leg`` (see the module's description): the
        result, or the first key pressed (the gather then goes on with keys only)."""
        from robot.control.runner import GatherResult

        assert action.speech is not None
        recognizer = await asyncio.to_thread(self.recognizer, action.speech.language)
        vad = await asyncio.to_thread(self.vad_factory)
        endpointer = Endpointer(self.endpoint)
        found: asyncio.Queue[tuple[EndpointEventKind, AudioChunk | None]] = asyncio.Queue()

        def listen(frame: AudioChunk) -> None:
            for event in endpointer.feed(frame, vad.process(frame)):
                if event.kind in (EndpointEventKind.SPEECH_STARTED, EndpointEventKind.SPEECH_ENDED):
                    found.put_nowait((event.kind, event.audio))

        leg.listener = listen
        try:
            while True:
                speaking = endpointer.in_speech
                got = await self._next(leg, found, None if speaking else action.timeout_s)
                if got is None:
                    return GatherResult("", "timeout")
                if got == "hangup":
                    return GatherResult("", "hangup")
                if isinstance(got, str):  # a key: the runner collects keys from here
                    return got
                kind, audio = got
                if kind is not EndpointEventKind.SPEECH_ENDED or audio is None:
                    continue
                hints = tuple(action.speech.hints)
                transcript = await transcribe_async(recognizer, audio, hints=hints)
                if transcript.is_empty:
                    continue
                logger.debug("call %s: gather heard %r", leg.call.call_id, transcript.text)
                return GatherResult(
                    "", "speech", transcript.text.strip(), round(transcript.confidence, 3)
                )
        finally:
            leg.listener = None

    async def _next(
        self,
        leg: Leg,
        found: asyncio.Queue[tuple[EndpointEventKind, AudioChunk | None]],
        timeout_s: float | None,
    ) -> Any:
        """A key, an endpoint event, ``"hangup"``, or None when ``timeout_s`` passed."""
        key = asyncio.ensure_future(leg.digits.get())
        heard = asyncio.ensure_future(found.get())
        ended = asyncio.ensure_future(leg.ended.wait())
        waits = {key, heard, ended}
        try:
            done, _ = await asyncio.wait(
                waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in waits:
                task.cancel()
            await asyncio.gather(*waits, return_exceptions=True)
        if key in done and not key.cancelled():
            return key.result()
        if heard in done and not heard.cancelled():
            return heard.result()
        if ended in done:
            return "hangup"
        return None
