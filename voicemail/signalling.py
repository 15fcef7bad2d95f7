"""Turn what the network said (SIP status, Reason, Diversion, History-Info) into a call outcome.

Rules, in order (DESIGN.md):

1. A ``Reason: Q.850;cause=N`` header (RFC 3326, RFC 6432) wins over the SIP status when its
   cause is in :data:`Q850_OUTCOMES`. A ``Reason: SIP;cause=N`` header counts next, mapped like
   a status. Causes outside the tables (16 normal clearing, ...) fall through.
2. Otherwise the final status maps as in RFC 3398 (:data:`SIP_STATUS_OUTCOMES`).
3. A 2xx answer carrying ``Diversion`` (RFC 5806) with reason no-answer/user-busy/unavailable/
   out-of-service, or ``History-Info`` (RFC 7044) with an RFC 4458 ``cause=`` of no-reply,
   busy, not reachable or unknown, or retargeted to a voicemail URI, is ``machine``: the
   network forwarded the call to its voicemail. Unconditional forwarding (302) alone is not,
   since it usually reaches another person.
4. A plain 2xx is ``answered``: only the audio detector can tell human from machine.

Parsing is tolerant: any spacing, case, quoting, several values per header or several headers;
values that cannot be read are skipped, never raised on.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import unquote

from robot.carriers.base import CallOutcome, Signalling

logger = logging.getLogger(__name__)

ANSWERED = "answered"

#: Q.850 cause -> outcome (DESIGN.md).
Q850_OUTCOMES: dict[int, CallOutcome] = {
    **dict.fromkeys((1, 2, 3, 22, 26, 28), CallOutcome.INVALID_NUMBER),
    17: CallOutcome.BUSY,
    **dict.fromkeys((18, 19, 31), CallOutcome.NO_ANSWER),
    20: CallOutcome.UNAVAILABLE,
    21: CallOutcome.REJECTED,
    **dict.fromkeys((27, 34, 38, 41, 42, 47, 102), CallOutcome.NETWORK_ERROR),
}

#: Final SIP status -> outcome (RFC 3398 section 8.2.6.1, as in DESIGN.md).
SIP_STATUS_OUTCOMES: dict[int, CallOutcome] = {
    **dict.fromkeys((404, 410, 484, 485, 604), CallOutcome.INVALID_NUMBER),
    **dict.fromkeys((486, 600), CallOutcome.BUSY),
    **dict.fromkeys((408, 480), CallOutcome.NO_ANSWER),
    **dict.fromkeys((403, 603), CallOutcome.REJECTED),
    **dict.fromkeys((500, 502, 503, 504), CallOutcome.NETWORK_ERROR),
    487: CallOutcome.CANCELLED,
}

#: Diversion ``reason=`` values (RFC 5806) that mean "forwarded to voicemail".
MACHINE_DIVERSION_REASONS = frozenset({"no-answer", "user-busy", "unavailable", "out-of-service"})
#: History-Info ``cause=`` values (RFC 4458): 404 unknown/not available, 408 no reply,
#: 486 busy, 503 mobile subscriber not reachable, 480/487 deflection (to voicemail, in practice).
MACHINE_HISTORY_CAUSES = frozenset({404, 408, 480, 486, 487, 503})
_VOICEMAIL_URI = re.compile(r"(?i)(voice[-_]?mail|\bvm\b|mailbox|sip:vm[@\d])")


@dataclass(frozen=True, slots=True)
class ReasonValue:
    """One value of a ``Reason`` header: protocol (``Q.850``/``SIP``), cause and text."""

    protocol: str
    cause: int | None
    text: str = ""


@dataclass(frozen=True, slots=True)
class SignallingVerdict:
    """The classifier's answer: an outcome (or ``answered``), the Q.850 cause used, and why."""

    outcome: str
    q850: int | None
    reason: str
    #: Weaker observations that do not decide on their own (e.g. ``answered without ringing``).
    hints: tuple[str, ...] = field(default=())

    @property
    def is_final(self) -> bool:
        """True when the call's outcome is known without listening to the audio."""
        return self.outcome != ANSWERED


def split_header_values(header: str) -> list[str]:
    """Split a header on commas that are outside quotes and ``<...>``."""
    values: list[str] = []
    current: list[str] = []
    quoted = False
    angle = 0
    escaped = False
    for ch in header:
        if escaped:
            current.append(ch)
            escaped = False
            continue
        if ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            angle += 1
        elif not quoted and ch == ">":
            angle = max(0, angle - 1)
        elif ch == "," and not quoted and angle == 0:
            values.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    values.append("".join(current).strip())
    return [v for v in values if v]


def _split_params(value: str) -> list[str]:
    """Split on semicolons outside quotes and ``<...>``."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    angle = 0
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            angle += 1
        elif not quoted and ch == ">":
            angle = max(0, angle - 1)
        elif ch == ";" and not quoted and angle == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _params(parts: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in parts:
        name, _, raw = part.partition("=")
        key = name.strip().lower()
        if key and key not in out:
            out[key] = raw.strip().strip('"').strip()
    return out


def _as_int(text: str | None) -> int | None:
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d{1,3})\s*", text)
    return int(match.group(1)) if match else None


def parse_reason_headers(headers: Iterable[str]) -> list[ReasonValue]:
    """Every readable value of one or more ``Reason`` headers, in order."""
    found: list[ReasonValue] = []
    for header in headers:
        for value in split_header_values(str(header)):
            parts = _split_params(value)
            if not parts:
                continue
            protocol = parts[0].strip().strip('"').upper().replace(" ", "")
            if protocol in ("Q850", "Q.850"):
                protocol = "Q.850"
            params = _params(parts[1:])
            cause = _as_int(params.get("cause"))
            found.append(ReasonValue(protocol, cause, params.get("text", "")))
    return found


def _bracketed_uri(value: str) -> str:
    start, end = value.find("<"), value.rfind(">")
    return value[start + 1 : end].strip() if 0 <= start < end else value.strip()


def diversion_reasons(headers: Iterable[str]) -> list[tuple[str, str]]:
    """``(uri, reason)`` for each ``Diversion`` entry (reason lower-cased, may be empty)."""
    entries = []
    for header in headers:
        for value in split_header_values(str(header)):
            parts = _split_params(value)
            if parts:
                uri = _bracketed_uri(parts[0])
                entries.append((uri, _params(parts[1:]).get("reason", "").lower()))
    return entries


def history_causes(headers: Iterable[str]) -> list[tuple[str, int | None]]:
    """``(uri, cause)`` for each ``History-Info`` entry: RFC 4458 ``cause=`` URI parameter,
    or the cause of an embedded ``?Reason=SIP;cause=N`` header."""
    entries = []
    for header in headers:
        for value in split_header_values(str(header)):
            decoded = unquote(_bracketed_uri(value))
            match = re.search(r"(?i)[;?&]\s*cause\s*=\s*\"?(\d{1,3})", decoded)
            entries.append((decoded, int(match.group(1)) if match else None))
    return entries


def _diversion_to_voicemail(signalling: Signalling) -> str | None:
    for uri, reason in diversion_reasons(signalling.diversion):
        if reason in MACHINE_DIVERSION_REASONS:
            return f"diverted to voicemail: Diversion reason={reason}"
        if _VOICEMAIL_URI.search(uri):
            return "diverted to voicemail: Diversion to a voicemail URI"
    for uri, cause in history_causes(signalling.history_info):
        if cause in MACHINE_HISTORY_CAUSES:
            return f"diverted to voicemail: History-Info cause={cause}"
        if _VOICEMAIL_URI.search(uri.split("?", 1)[0]):
            return "diverted to voicemail: History-Info target is a voicemail URI"
    return None


def _hints(signalling: Signalling) -> tuple[str, ...]:
    hints = []
    if signalling.answer_ms is not None and not any(
        s in (180, 183) for s in signalling.provisional
    ):
        hints.append(f"answered without ringing after {signalling.answer_ms:.0f} ms")
    if signalling.early_media:
        hints.append("early media before answer")
    return tuple(hints)


def classify_signalling(signalling: Signalling) -> SignallingVerdict:
    """Classify a call from its signalling alone (see the module docstring for the rules)."""
    status = signalling.final_status
    reasons = parse_reason_headers(signalling.reason)
    q850_values = [r for r in reasons if r.protocol == "Q.850" and r.cause is not None]
    hints = _hints(signalling)
    for value in q850_values:
        outcome = Q850_OUTCOMES.get(value.cause or 0)
        if outcome is not None:
            text = f" ({value.text})" if value.text else ""
            return SignallingVerdict(
                outcome.value, value.cause, f"Q.850 cause {value.cause}{text}", hints
            )
    q850 = q850_values[0].cause if q850_values else None
    for value in reasons:
        if value.protocol == "SIP" and value.cause is not None:
            outcome = SIP_STATUS_OUTCOMES.get(value.cause)
            if outcome is not None:
                return SignallingVerdict(
                    outcome.value, q850, f"Reason SIP cause {value.cause}", hints
                )
    if status is None:
        return SignallingVerdict(CallOutcome.FAILED.value, q850, "no final response", hints)
    if 200 <= status < 300:
        diverted = _diversion_to_voicemail(signalling)
        if diverted:
            return SignallingVerdict(CallOutcome.MACHINE.value, q850, diverted, hints)
        return SignallingVerdict(ANSWERED, q850, f"SIP {status} answered", hints)
    outcome = SIP_STATUS_OUTCOMES.get(status)
    if outcome is None:
        outcome = CallOutcome.NETWORK_ERROR if 500 <= status < 600 else CallOutcome.FAILED
    return SignallingVerdict(outcome.value, q850, f"SIP {status}", hints)


def signalling_from_headers(
    status: int | None,
    *,
    reason: Iterable[str] = (),
    diversion: Iterable[str] = (),
    history_info: Iterable[str] = (),
) -> Signalling:
    """Build a :class:`Signalling` record from a status and raw header values (CLI, tests)."""
    return Signalling(
        final_status=status,
        reason=list(reason),
        diversion=list(diversion),
        history_info=list(history_info),
        provisional=[180],
    )
