"""Early decoding: start recognizing when the callee *may* have finished, not when it's certain.

The endpointer announces ``maybe_ended`` after a short silence (~250 ms) and ``speech_ended``
after the full trailing silence (~600 ms). :class:`EarlyDecoder` starts the recognizer on
``maybe_ended``; if the callee goes on talking (``speech_resumed``) that result is discarded,
otherwise it is the final one, since both events carry the same utterance audio (speech up to
the last voiced frame plus a fixed tail). The endpoint silence and the decoding then overlap,
which is most of the robot's reaction time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from robot.audio import AudioChunk
from robot.speech.base import Recognizer, Transcript, transcribe_async
from robot.speech.endpoint import EndpointEvent, EndpointEventKind

log = logging.getLogger(__name__)


class EarlyDecoder:
    """Feeds endpoint events; returns the utterance's transcript on ``speech_ended``."""

    def __init__(self, recognizer: Recognizer, hints: Sequence[str] = ()) -> None:
        self.recognizer = recognizer
        self.hints = tuple(hints)
        self._pending: asyncio.Task[Transcript] | None = None
        self._pending_audio: AudioChunk | None = None
        #: How many early results were used / thrown away (for metrics and tests).
        self.reused = 0
        self.discarded = 0

    def _discard(self) -> None:
        if self._pending is not None:
            self._pending.cancel()  # the executor thread finishes, its result is ignored
            self.discarded += 1
        self._pending = None
        self._pending_audio = None

    async def on_event(self, event: EndpointEvent) -> Transcript | None:
        """Handle one endpoint event; a :class:`Transcript` comes back only at the end."""
        if event.kind is EndpointEventKind.MAYBE_ENDED and event.audio is not None:
            self._discard()
            self._pending_audio = event.audio
            self._pending = asyncio.create_task(
                transcribe_async(self.recognizer, event.audio, hints=self.hints)
            )
            return None
        if event.kind is EndpointEventKind.SPEECH_RESUMED:
            self._discard()
            return None
        if event.kind is not EndpointEventKind.SPEECH_ENDED or event.audio is None:
            return None
        pending, early_audio = self._pending, self._pending_audio
        self._pending = self._pending_audio = None
        if pending is not None and early_audio is not None and early_audio.pcm == event.audio.pcm:
            self.reused += 1
            return await pending
        if pending is not None:
            pending.cancel()
            self.discarded += 1
        log.debug("early result unusable; decoding the final utterance")
        return await transcribe_async(self.recognizer, event.audio, hints=self.hints)

    def close(self) -> None:
        """Drop any decoding still running (hang-up)."""
        self._discard()
