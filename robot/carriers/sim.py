"""The simulated telephone network: the embedded default carrier.

``SimCarrier.dial(number)`` finds the persona answering ``number`` (see
:mod:`robot.carriers.personas`) and returns a :class:`~robot.carriers.sim_call.SimCall` that
behaves like a real call: SIP/Q.850 signalling for the persona's kind, early media, and once
answered a real-time exchange of 20 ms frames with the persona (see
:mod:`robot.carriers.sim_call`).

``speed`` 2.0 runs the network at twice real time (tests). One asyncio task per call; it ends
at hang-up, and :meth:`SimCarrier.close` ends every call still up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from robot.carriers.base import CallState
from robot.carriers.persona_loader import load_personas
from robot.carriers.personas import Persona
from robot.carriers.sim_call import SimCall
from robot.carriers.sim_conversation import Listener
from robot.carriers.sim_network import dialled_number
from robot.errors import CarrierError, ConfigError

log = logging.getLogger(__name__)

#: Ended calls a carrier keeps in ``calls`` for inspection (their audio stays in memory).
KEEP_ENDED_CALLS = 64
#: Robot silence that ends a prompt. A robot synthesizing sentence by sentence on a busy
#: machine leaves gaps of 0.6-1.3 s after a short first sentence ("Great."); a person waits
#: for the question, so the persona does too (an answer not yet begun also waits).
DEFAULT_PROMPT_END_SILENCE_MS = 1000.0


class SimCarrier:
    """The simulated network (implements :class:`robot.carriers.base.Carrier`).

    ``personas``: who answers which number (default: the bundled personas, or those in
    ``persona_dirs``). ``speed``: 1.0 = real time; 2.0 runs calls twice as fast (tests).
    ``listen``: how callees understand prompts (default: they transcribe them; ``sim_ears``).
    """

    def __init__(
        self,
        personas: Sequence[Persona] | None = None,
        *,
        persona_dirs: Sequence[str | Path] = (),
        speed: float = 1.0,
        prompt_end_silence_ms: float = DEFAULT_PROMPT_END_SILENCE_MS,
        seed: int = 0,
        listen: Listener | None = None,
    ) -> None:
        if not speed > 0:
            raise ConfigError(f"sim carrier speed must be positive, got {speed}")
        if personas is None:
            personas = load_personas(*persona_dirs)
        self.personas = list(personas)
        self._by_number = {n: p for p in self.personas for n in p.numbers}
        self.speed = speed
        self.prompt_end_silence_ms = prompt_end_silence_ms
        self._seed = seed
        #: How callees understand prompts (default: they transcribe them; see ``sim_ears``).
        self.listen = listen
        #: Calls still up, then the most recent ended ones (for inspection after the fact).
        self.calls: list[SimCall] = []
        self._dialled = 0
        self._closed = False

    def persona_for(self, number: str) -> Persona | None:
        return self._by_number.get(dialled_number(number))

    async def dial(
        self,
        number: str,
        *,
        caller_id: str | None = None,
        ring_timeout_s: float = 30.0,
        variables: dict[str, str] | None = None,
    ) -> SimCall:
        if self._closed:
            raise CarrierError("the sim carrier is closed")
        dialled = dialled_number(number)
        persona = self._by_number.get(dialled)
        call = SimCall(
            dialled,
            persona,
            speed=self.speed,
            ring_timeout_ms=ring_timeout_s * 1000.0,
            prompt_end_silence_ms=self.prompt_end_silence_ms,
            seed=self._seed + self._dialled,
            listen=self.listen,
        )
        self._dialled += 1
        ended = [c for c in self.calls if c.state == CallState.ENDED]
        if len(ended) >= KEEP_ENDED_CALLS:  # forget the oldest ended calls and their audio
            forget = {id(c) for c in ended[: len(ended) - KEEP_ENDED_CALLS + 1]}
            self.calls = [c for c in self.calls if id(c) not in forget]
        self.calls.append(call)
        call.start()
        log.debug("dial %s -> persona %s", dialled, persona.name if persona else None)
        return call

    async def close(self) -> None:
        self._closed = True
        await asyncio.gather(*(call.hangup() for call in self.calls))
