"""What a simulated call remembers of its turn-taking, for tests and recordings.

Each robot prompt as the persona heard it, each line the persona said, and each barge-in with
how the robot reacted (all times in call ms).
:class:`~robot.carriers.sim_conversation.PersonaConversation` writes them;
:class:`~robot.carriers.sim_call.SimCall` shows them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class SpokenLine:
    """One thing the persona said: which robot prompt it answered and when (call ms)."""

    turn: int  # 0 = the hello or greeting, n = the answer to the robot's n-th prompt
    text: str
    start_ms: float
    end_ms: float | None = None
    barge_in: bool = False


@dataclass(slots=True)
class RobotPrompt:
    """One robot prompt as the persona heard it (call ms)."""

    start_ms: float
    last_speech_ms: float
    end_ms: float | None = None
    #: Robot speech in the prompt (pauses left out).
    speech_ms: float = 0.0


@dataclass(slots=True)
class BargeIn:
    """The persona talking over a robot prompt, and how the robot reacted (call ms)."""

    turn: int
    start_ms: float
    #: When the robot called ``stop_playback()`` (None: it talked on).
    robot_stopped_ms: float | None = None
    #: Robot speech heard from ``start_ms`` until the robot stopped or its prompt ended.
    talkover_ms: float = 0.0
    #: Robot speech heard after the robot stopped, while the persona was still talking.
    after_stop_ms: float = 0.0
    #: When the persona's line ended.
    end_ms: float | None = None
