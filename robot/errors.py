"""One error hierarchy for the whole project.

Backends translate library exceptions into these (``raise ... from e``); the CLI and the API
map them to exit codes and HTTP problems in one place each.
"""

from __future__ import annotations

from dataclasses import dataclass


class CallrobotError(Exception):
    """Root of every error callrobot raises on purpose."""


class ConfigError(CallrobotError):
    """A setting is missing, unsafe or malformed."""


class MissingExtraError(CallrobotError):
    """An optional dependency is not installed."""

    def __init__(self, what: str, extra: str, package: str | None = None) -> None:
        hint = f"pip install 'callrobot[{extra}]'"
        if package:
            hint += f" (or: pip install {package})"
        super().__init__(f"{what} needs an optional dependency: {hint}")
        self.extra = extra


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """One problem in a user-supplied file, located precisely (1-based line and column)."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class ScriptError(CallrobotError):
    """A dialogue script is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[SourceProblem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.column))
        super().__init__("\n".join(str(p) for p in self.problems))


class NotFoundError(CallrobotError):
    """A resource does not exist (or belongs to another tenant)."""


class ValidationError(CallrobotError):
    """Input is malformed; the message names the field, row or line."""


class QuotaExceededError(CallrobotError):
    """A per-tenant cap (``quotas.*``: running campaigns, queued calls, recordings, keys)."""


class EngineError(CallrobotError):
    """A speech, NLU or VAD engine failed."""


class CarrierError(CallrobotError):
    """A telephony carrier failed or a peer misbehaved."""


class DeliveryError(CallrobotError):
    """A webhook delivery failed."""
