"""SIP message model, parser and serializer (RFC 3261 section 7, the subset a trunk needs).

``parse_message`` turns one datagram (or one framed TCP message) into a :class:`SipMessage`
or raises :class:`SipParseError`; nothing else escapes it. Compact header names
(``v f t i m l c k s e o r x u b``) are expanded to their long lower-case form.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from robot.errors import CarrierError
from robot.input_limits import InputLimits, setting_name

SIP_VERSION = "SIP/2.0"
MAGIC_COOKIE = "z9hG4bK"
#: The default message cap (``Settings.input_limits.sip_max_message_bytes`` sets it).
MAX_MESSAGE_BYTES = InputLimits().sip_max_message_bytes

COMPACT_HEADERS = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
    "o": "event",
    "r": "refer-to",
    "x": "session-expires",
    "u": "allow-events",
    "b": "referred-by",
}
#: Spelling used on the wire for headers whose name is not simply title-cased.
WIRE_NAMES = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "p-asserted-identity": "P-Asserted-Identity",
    "mime-version": "MIME-Version",
}
#: Headers whose value may be a comma-separated list of entries (RFC 3261 7.3.1).
LIST_HEADERS = frozenset(
    {
        "via",
        "route",
        "record-route",
        "contact",
        "reason",
        "diversion",
        "history-info",
        "allow",
        "supported",
        "require",
    }
)
REQUIRED_HEADERS = ("via", "from", "to", "call-id", "cseq")
_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~\-]+$")
_STATUS_LINE = re.compile(r"^SIP/2\.0 ([1-6][0-9][0-9])(?: (.*))?$")
_REQUEST_LINE = re.compile(r"^([A-Za-z0-9.!%*_+`'~\-]+) (\S+) SIP/2\.0$")


class SipParseError(CarrierError):
    """Bytes that are not a well-formed SIP message; the message says what is wrong."""


def wire_name(name: str) -> str:
    lower = name.lower()
    return WIRE_NAMES.get(lower, "-".join(p.capitalize() for p in lower.split("-")))


def new_branch() -> str:
    return MAGIC_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


def split_list_value(value: str) -> list[str]:
    """Split ``a, <sip:b,c>;x="y,z", d`` at commas outside quotes and angle brackets."""
    parts: list[str] = []
    depth = 0
    quoted = False
    start = 0
    for i, ch in enumerate(value):
        if ch == '"' and (i == 0 or value[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and not quoted and depth == 0:
            parts.append(value[start:i].strip())
            start = i + 1
    parts.append(value[start:].strip())
    return [p for p in parts if p]


def header_params(value: str) -> dict[str, str]:
    """Parameters after the address part: ``<sip:a@b>;tag=x;lr`` -> {"tag": "x", "lr": ""}."""
    rest = value[value.rfind(">") + 1 :] if ">" in value else value
    params: dict[str, str] = {}
    for piece in rest.split(";")[1:]:
        name, _, val = piece.partition("=")
        if name.strip():
            params[name.strip().lower()] = val.strip().strip('"')
    return params


def address_uri(value: str) -> str:
    """The URI inside a name-addr (``"Bob" <sip:bob@x>;tag=1`` -> ``sip:bob@x``)."""
    if "<" in value and ">" in value:
        return value[value.index("<") + 1 : value.index(">")].strip()
    return value.split(";")[0].strip()


@dataclass(slots=True)
class SipMessage:
    """A SIP request (``method`` and ``uri`` set) or response (``status`` set)."""

    method: str | None = None
    uri: str | None = None
    status: int | None = None
    reason_phrase: str = ""
    #: (lower-case long name, value) in wire order; list headers keep one entry per line.
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return self.method is not None

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        """Every value of a header, list headers split into their entries."""
        name = name.lower()
        out: list[str] = []
        for key, value in self.headers:
            if key == name:
                out.extend(split_list_value(value) if name in LIST_HEADERS else [value])
        return out

    def add_header(self, name: str, value: str) -> None:
        self.headers.append((name.lower(), value))

    def set_header(self, name: str, value: str) -> None:
        self.remove_header(name)
        self.add_header(name, value)

    def remove_header(self, name: str) -> None:
        name = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k != name]

    @property
    def call_id(self) -> str:
        return self.header("call-id") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        number, _, method = (self.header("cseq") or "").partition(" ")
        return int(number), method.strip().upper()

    @property
    def top_via_branch(self) -> str:
        vias = self.header_values("via")
        return header_params(vias[0]).get("branch", "") if vias else ""

    @property
    def from_tag(self) -> str:
        return header_params(self.header("from") or "").get("tag", "")

    @property
    def to_tag(self) -> str:
        return header_params(self.header("to") or "").get("tag", "")

    def to_bytes(self) -> bytes:
        if self.method is not None:
            start = f"{self.method} {self.uri} {SIP_VERSION}"
        else:
            start = f"{SIP_VERSION} {self.status} {self.reason_phrase}"
        lines = [start]
        lines.extend(f"{wire_name(k)}: {v}" for k, v in self.headers if k != "content-length")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body

    def summary(self) -> str:
        """A short description safe for INFO logs (no numbers or URIs)."""
        what = self.method if self.method else f"{self.status} {self.reason_phrase}"
        return f"{what} (CSeq {self.header('cseq')})"


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    for separator in (b"\r\n\r\n", b"\n\n"):
        index = data.find(separator)
        if index >= 0:
            return data[:index], data[index + len(separator) :]
    raise SipParseError("SIP message has no blank line ending its headers")


def parse_message(data: bytes, limits: InputLimits | None = None) -> SipMessage:
    """Parse one complete SIP message; raises :class:`SipParseError` and nothing else.

    A message longer than ``sip_max_message_bytes`` or with more header lines than
    ``sip_max_headers`` is refused before its headers are parsed.
    """
    limits = limits or _current_limits()
    if len(data) > limits.sip_max_message_bytes:
        raise SipParseError(
            f"SIP message of {len(data)} bytes exceeds {limits.sip_max_message_bytes} "
            f"(limit {setting_name('sip_max_message_bytes')})"
        )
    head_bytes, body = _split_head(data.lstrip(b"\r\n"))
    header_lines = head_bytes.count(b"\n")
    if header_lines > limits.sip_max_headers:
        raise SipParseError(
            f"SIP message has {header_lines} header lines, more than {limits.sip_max_headers} "
            f"(limit {setting_name('sip_max_headers')})"
        )
    try:
        head = head_bytes.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SipParseError(f"SIP headers are not UTF-8 (byte {e.start})") from e
    lines = head.replace("\r\n", "\n").split("\n")
    message = _parse_start_line(lines[0])
    for number, line in enumerate(_unfold(lines[1:]), start=2):
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not _TOKEN.match(name):
            raise SipParseError(f"SIP header line {number} is malformed: {line[:60]!r}")
        lower = name.lower()
        message.headers.append((COMPACT_HEADERS.get(lower, lower), value.strip()))
    for name in REQUIRED_HEADERS:
        if message.header(name) is None:
            raise SipParseError(f"SIP message lacks the {wire_name(name)} header")
    cseq = message.header("cseq") or ""
    parts = cseq.split()
    if len(parts) != 2 or not parts[0].isdigit() or not _TOKEN.match(parts[1]):
        raise SipParseError(f"SIP CSeq header is malformed: {cseq[:40]!r}")
    if int(parts[0]) >= 2**31:
        raise SipParseError("SIP CSeq number is out of range")
    if message.method is not None and parts[1].upper() != message.method:
        raise SipParseError(f"SIP CSeq method {parts[1]!r} differs from {message.method}")
    message.body = _checked_body(message, body)
    return message


def _parse_start_line(line: str) -> SipMessage:
    status = _STATUS_LINE.match(line)
    if status:
        return SipMessage(status=int(status.group(1)), reason_phrase=status.group(2) or "")
    request = _REQUEST_LINE.match(line)
    if request and ":" in request.group(2):
        return SipMessage(method=request.group(1).upper(), uri=request.group(2))
    raise SipParseError(f"SIP start line is malformed: {line[:60]!r}")


def _unfold(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not out:
                raise SipParseError("SIP header continuation line has no header before it")
            out[-1] += " " + line.strip()
        elif line:
            out.append(line)
    return out


def _checked_body(message: SipMessage, body: bytes) -> bytes:
    length_text = message.header("content-length")
    if length_text is None:
        return body
    if not length_text.isdigit():
        raise SipParseError(f"SIP Content-Length is not a number: {length_text[:20]!r}")
    length = int(length_text)
    if length > len(body):
        raise SipParseError(f"SIP body is {len(body)} bytes, Content-Length says {length}")
    return body[:length]


class StreamFramer:
    """Cut a TCP byte stream into complete SIP messages (Content-Length framing)."""

    def __init__(self, max_message_bytes: int | None = None) -> None:
        self._buffer = bytearray()
        self.max_bytes = max_message_bytes or _current_limits().sip_max_message_bytes

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer.extend(data)
        out: list[bytes] = []
        while True:
            while self._buffer[:2] == b"\r\n":  # keep-alive CRLFs between messages
                del self._buffer[:2]
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > self.max_bytes:
                    self._buffer.clear()
                    raise SipParseError("SIP stream has no header end within the size limit")
                return out
            head = bytes(self._buffer[:end])
            match = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)", head)
            length = int(match.group(1)) if match else 0
            total = end + 4 + length
            if total > self.max_bytes:
                self._buffer.clear()
                raise SipParseError(f"SIP stream message of {total} bytes exceeds the limit")
            if len(self._buffer) < total:
                return out
            out.append(bytes(self._buffer[:total]))
            del self._buffer[:total]


def _current_limits() -> InputLimits:
    from robot.config import get_settings

    return get_settings().input_limits
