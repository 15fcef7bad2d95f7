"""What the simulated network says: final responses per persona kind, Reason headers, early
media (SIT tones and announcements), and how a dialled string becomes a number.

Statuses and Q.850 causes are those a real network sends (RFC 3398, RFC 3326), so the
signalling classifier (:mod:`voicemail.signalling`) sees the sim exactly as it sees a trunk.
"""

from __future__ import annotations

from concurrent.futures import Future

from robot.audio import AudioChunk
from robot.carriers.personas import Persona, PersonaKind
from robot.carriers.sim_audio import (
    FRAME_BYTES,
    SILENCE_FRAME,
    persona_speech,
    sit_tones,
    speech_pcm,
)

CARRIER_HOST = "sim.callrobot.invalid"
DEFAULT_ANNOUNCEMENT = (
    "The number you have dialed is not in service. Please check the number and dial again."
)
#: kind -> (SIP status, reason phrase, Q.850 cause, cause text), as a real network answers.
FAILURES: dict[PersonaKind, tuple[int, str, int, str]] = {
    PersonaKind.BUSY: (486, "Busy Here", 17, "User busy"),
    PersonaKind.NO_ANSWER: (480, "Temporarily Unavailable", 19, "No answer from user"),
    PersonaKind.INVALID_NUMBER: (404, "Not Found", 1, "Unallocated number"),
    PersonaKind.UNAVAILABLE: (480, "Temporarily Unavailable", 20, "Subscriber absent"),
    PersonaKind.REJECTED: (603, "Decline", 21, "Call rejected"),
    PersonaKind.NETWORK_ERROR: (503, "Service Unavailable", 38, "Network out of order"),
}
SIP_PHRASES = {
    404: "Not Found", 408: "Request Timeout", 480: "Temporarily Unavailable",
    484: "Address Incomplete", 486: "Busy Here", 487: "Request Terminated",
    503: "Service Unavailable", 600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist",
}  # fmt: skip

Response = tuple[int, str, dict[str, list[str]]]


def q850_reason(cause: int, text: str = "") -> str:
    """A ``Reason`` header value (RFC 3326)."""
    return f"Q.850;cause={cause}" + (f';text="{text}"' if text else "")


def failure_response(persona: Persona) -> Response:
    """(status, phrase, headers) of the final response for a persona that does not answer."""
    status, phrase, cause, text = FAILURES[persona.kind]
    if persona.final_status:
        status, phrase = persona.final_status, SIP_PHRASES.get(persona.final_status, "")
    if persona.q850_cause:
        cause, text = persona.q850_cause, ""
    return status, phrase, {"reason": [q850_reason(cause, text)]}


def unknown_number_response(number: str) -> Response:
    """No persona: an unallocated number (404, cause 1) or a malformed one (484, cause 28)."""
    if number.startswith("+") and number[1:].isdigit():
        return 404, SIP_PHRASES[404], {"reason": [q850_reason(1, "Unallocated number")]}
    return 484, SIP_PHRASES[484], {"reason": [q850_reason(28, "Invalid number format")]}


def answer_headers(number: str, persona: Persona) -> dict[str, list[str]]:
    """Headers of the 200 OK; a carrier mailbox adds ``Diversion`` (RFC 5806)."""
    headers = {"contact": [f"<sip:{number}@{CARRIER_HOST}>"]}
    if persona.voicemail and persona.voicemail.diversion:
        headers["diversion"] = [f"<sip:{number}@{CARRIER_HOST}>;reason=no-answer"]
    return headers


class EarlyMedia:
    """The 183's audio: SIT tones (number not in service), then the announcement."""

    def __init__(self, persona: Persona) -> None:
        text = persona.announcement or DEFAULT_ANNOUNCEMENT
        self._speech: Future[AudioChunk] = persona_speech(persona.voice, text)
        sit = sit_tones() if persona.kind == PersonaKind.INVALID_NUMBER else b""
        self._buffer = bytearray(sit + SILENCE_FRAME * 10)
        self._speech_added = False

    def next_frame(self) -> bytes | None:
        """The next 20 ms frame; None once the announcement is over."""
        if not self._speech_added and len(self._buffer) < FRAME_BYTES and self._speech.done():
            self._speech_added = True
            self._buffer.extend(speech_pcm(self._speech) + SILENCE_FRAME * 15)
        if not self._buffer:
            if self._speech_added:
                return None
            self._buffer.extend(SILENCE_FRAME)  # the announcement is still being synthesized
        frame = bytes(self._buffer[:FRAME_BYTES]).ljust(FRAME_BYTES, b"\x00")
        del self._buffer[:FRAME_BYTES]
        return frame


def dialled_number(number: str) -> str:
    """``+12025550101``, ``sip:+12025550101@host`` or ``tel:+1-555-0101`` -> ``+12025550101``."""
    user = number.strip()
    for scheme in ("sip:", "sips:", "tel:"):
        if user.lower().startswith(scheme):
            user = user[len(scheme) :].split("@", 1)[0].split(";", 1)[0]
    return "".join(ch for ch in user if ch.isdigit() or ch == "+") or user
