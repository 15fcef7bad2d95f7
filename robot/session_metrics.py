"""What call sessions tell the rest of the process about load: a per-engine observer and
process-wide counts of waits that missed their deadline.

A :class:`SessionObserver` (``CallEngine.observer``, handed to every session in
``SessionEngines.observer``) hears each turn's latency, each decode's wait for a decoding
thread and each late decode; admission control reads engine headroom from it. The default
observer does nothing. :data:`STALLS` counts late waits in the whole process, by kind.
"""

from __future__ import annotations

import threading
from typing import Protocol


class SessionObserver(Protocol):
    def on_turn_latency(self, ms: float) -> None:
        """End of callee speech -> first robot audio queued, for one turn."""
        ...

    def on_decode_wait(self, ms: float) -> None:
        """How long one utterance waited for a decoding thread (queue time, not decoding)."""
        ...

    def on_late_decode(self) -> None:
        """An utterance missed its decode deadline (the turn became "not understood")."""
        ...


class NullObserver:
    """The observer of an engine nobody watches."""

    def on_turn_latency(self, ms: float) -> None:
        pass

    def on_decode_wait(self, ms: float) -> None:
        pass

    def on_late_decode(self) -> None:
        pass


class StallCounts:
    """Waits in calls that missed their deadline, by kind (``decode``, ``verdict``,
    ``synthesis``, ``playback``); thread-safe, process-wide."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, kind: str) -> None:
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + 1

    def get(self, kind: str) -> int:
        with self._lock:
            return self._counts.get(kind, 0)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)


#: Late waits of every call in this process.
STALLS = StallCounts()
