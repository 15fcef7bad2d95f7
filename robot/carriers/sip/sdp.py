"""SDP offer/answer for one G.711 audio stream (RFC 4566, RFC 3264)."""

from __future__ import annotations

from dataclasses import dataclass, field

from robot.errors import CarrierError

PCMU = 0
PCMA = 8
TELEPHONE_EVENT = 101
PTIME_MS = 20
#: Static payload types we can decode, in our order of preference.
SUPPORTED_AUDIO = {PCMU: "PCMU", PCMA: "PCMA"}


class SdpError(CarrierError):
    """A session description is malformed or offers nothing we can use."""


@dataclass(slots=True)
class MediaDescription:
    """What one side said about its audio stream."""

    address: str
    port: int
    payload_types: list[int]
    #: payload type -> encoding name in upper case ("PCMU", "TELEPHONE-EVENT").
    encodings: dict[int, str] = field(default_factory=dict)
    direction: str = "sendrecv"
    ptime_ms: int = PTIME_MS

    def audio_codec(self) -> int | None:
        """The first offered payload type we can decode (the peer's preference wins)."""
        for pt in self.payload_types:
            name = self.encodings.get(pt, SUPPORTED_AUDIO.get(pt, ""))
            if name in ("PCMU", "PCMA"):
                return PCMU if name == "PCMU" else PCMA
        return None

    def dtmf_payload_type(self) -> int | None:
        for pt in self.payload_types:
            if self.encodings.get(pt) == "TELEPHONE-EVENT":
                return pt
        return None

    @property
    def on_hold(self) -> bool:
        return self.direction in ("sendonly", "inactive") or self.address == "0.0.0.0"


def build_sdp(
    address: str,
    rtp_port: int,
    session_id: int,
    version: int,
    payload_types: tuple[int, ...] = (PCMU, PCMA),
    dtmf_payload_type: int | None = TELEPHONE_EVENT,
    direction: str = "sendrecv",
) -> bytes:
    """An offer (or an answer, with the chosen payload types) for one audio stream."""
    pts = [*payload_types] + ([dtmf_payload_type] if dtmf_payload_type is not None else [])
    lines = [
        "v=0",
        f"o=callrobot {session_id} {version} IN IP4 {address}",
        "s=callrobot",
        f"c=IN IP4 {address}",
        "t=0 0",
        f"m=audio {rtp_port} RTP/AVP {' '.join(str(pt) for pt in pts)}",
    ]
    for pt in payload_types:
        lines.append(f"a=rtpmap:{pt} {SUPPORTED_AUDIO[pt]}/8000")
    if dtmf_payload_type is not None:
        lines.append(f"a=rtpmap:{dtmf_payload_type} telephone-event/8000")
        lines.append(f"a=fmtp:{dtmf_payload_type} 0-16")
    lines.append(f"a=ptime:{PTIME_MS}")
    lines.append(f"a={direction}")
    return ("\r\n".join(lines) + "\r\n").encode()


def parse_sdp(body: bytes) -> MediaDescription:
    """The first audio stream of a session description."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SdpError(f"SDP is not UTF-8 (byte {e.start})") from e
    session_address: str | None = None
    media: MediaDescription | None = None
    media_address: str | None = None
    session_direction = "sendrecv"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        kind, eq, value = line.partition("=")
        if not eq or len(kind) != 1:
            raise SdpError(f"SDP line {number} is malformed: {line[:60]!r}")
        if kind == "m":
            if media is not None:
                break  # only the first audio stream matters
            media = _parse_media_line(value, number)
        elif kind == "c":
            parts = value.split()
            if len(parts) < 3:
                raise SdpError(f"SDP line {number}: connection line needs 3 fields")
            if media is None:
                session_address = parts[2].split("/")[0]
            else:
                media_address = parts[2].split("/")[0]
        elif kind == "a":
            name, _, arg = value.partition(":")
            if name in ("sendrecv", "sendonly", "recvonly", "inactive"):
                if media is None:
                    session_direction = name
                else:
                    media.direction = name
            elif media is not None and name == "rtpmap":
                _parse_rtpmap(media, arg, number)
            elif media is not None and name == "ptime" and arg.strip().isdigit():
                media.ptime_ms = int(arg.strip())
    if media is None:
        raise SdpError("SDP has no audio media line")
    address = media_address or session_address
    if address is None:
        raise SdpError("SDP has no connection address")
    media.address = address
    if media.direction == "sendrecv" and session_direction != "sendrecv":
        media.direction = session_direction
    return media


def _parse_media_line(value: str, number: int) -> MediaDescription:
    parts = value.split()
    if len(parts) < 4 or parts[0] != "audio":
        raise SdpError(f"SDP line {number}: expected 'm=audio PORT RTP/AVP PT...'")
    if not parts[1].isdigit() or not 0 <= int(parts[1]) <= 65535:
        raise SdpError(f"SDP line {number}: media port {parts[1][:10]!r} is invalid")
    if not all(p.isdigit() and int(p) < 128 for p in parts[3:]):
        raise SdpError(f"SDP line {number}: payload types must be numbers below 128")
    return MediaDescription(
        address="", port=int(parts[1]), payload_types=[int(p) for p in parts[3:]]
    )


def _parse_rtpmap(media: MediaDescription, arg: str, number: int) -> None:
    pt_text, _, encoding = arg.partition(" ")
    if not pt_text.isdigit() or not encoding:
        raise SdpError(f"SDP line {number}: rtpmap is malformed")
    media.encodings[int(pt_text)] = encoding.split("/")[0].strip().upper()
