"""Dialog state shared by both call directions (RFC 3261 section 12) and small helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from robot.carriers.base import SipMessageInfo
from robot.carriers.sip.message import SipMessage, address_uri, header_params
from robot.errors import CarrierError

_URI_HOST = re.compile(r"^sips?:(?:[^@;>]*@)?(\[[^\]]+\]|[^:;>?]+)(?::(\d+))?", re.IGNORECASE)


def uri_address(uri: str, default_port: int = 5060) -> tuple[str, int]:
    """Host and port of a SIP URI (``sip:bob@10.0.0.1:5070;transport=udp`` -> (10.0.0.1, 5070))."""
    match = _URI_HOST.match(uri.strip())
    if not match:
        raise CarrierError(f"not a SIP URI: {uri[:60]!r}")
    return match.group(1).strip("[]"), int(match.group(2) or default_port)


def message_info(message: SipMessage, at_ms: float) -> SipMessageInfo:
    """What the signalling classifier sees of one message: status, headers and time."""
    headers: dict[str, list[str]] = {}
    for name, _ in message.headers:
        if name not in headers:
            headers[name] = message.header_values(name)
    content_type = (message.header("content-type") or "").lower()
    return SipMessageInfo(
        status=message.status,
        method=message.method,
        reason_phrase=message.reason_phrase,
        headers=headers,
        at_ms=at_ms,
        has_sdp=bool(message.body) and "application/sdp" in content_type,
    )


@dataclass(slots=True)
class Dialog:
    """Identifiers and routing of one dialog, from our side."""

    call_id: str
    local_uri: str  # our From (outbound) / To (inbound), as a name-addr without tag
    local_tag: str
    remote_uri: str
    remote_tag: str = ""
    remote_target: str = ""
    route_set: list[str] = field(default_factory=list)
    local_cseq: int = 1
    remote_cseq: int = 0

    @property
    def local_header(self) -> str:
        return f"{self.local_uri};tag={self.local_tag}"

    @property
    def remote_header(self) -> str:
        return f"{self.remote_uri};tag={self.remote_tag}" if self.remote_tag else self.remote_uri

    def confirm_from_response(self, response: SipMessage) -> None:
        """Take the remote tag, target and route set from a 2xx to our INVITE."""
        self.remote_tag = response.to_tag
        contact = response.header_values("contact")
        if contact:
            self.remote_target = address_uri(contact[0])
        self.route_set = list(reversed(response.header_values("record-route")))

    def confirm_from_request(self, request: SipMessage) -> None:
        """Take the remote side from an INVITE we received (we are the UAS)."""
        self.remote_tag = request.from_tag
        contact = request.header_values("contact")
        if contact:
            self.remote_target = address_uri(contact[0])
        self.route_set = request.header_values("record-route")
        self.remote_cseq = request.cseq[0]

    def matches(self, message: SipMessage, *, outbound: bool) -> bool:
        tag = message.to_tag if outbound == (message.status is not None) else message.from_tag
        return not self.remote_tag or not tag or tag == self.remote_tag


def sipfrag_status(body: bytes) -> int | None:
    """Status code of a ``message/sipfrag`` NOTIFY body (``SIP/2.0 200 OK``)."""
    match = re.match(rb"\s*SIP/2\.0 (\d{3})", body)
    return int(match.group(1)) if match else None


def tag_of(value: str) -> str:
    return header_params(value).get("tag", "")
