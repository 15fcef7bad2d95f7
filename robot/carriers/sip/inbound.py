"""Calls that arrive (we are the UAS): the seam where inbound scripts and call control plug in.

The carrier answers a new INVITE with 100 Trying and 180 Ringing, then hands an
:class:`InboundSipCall` to the application's handler, which decides with :meth:`answer` or
:meth:`reject`. After ``answer`` the call behaves exactly like an outbound one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from robot.carriers.base import CallState
from robot.carriers.sip.call import CallEndpoint, SipCall
from robot.carriers.sip.dialog import Dialog, message_info
from robot.carriers.sip.message import SipMessage, address_uri, new_tag
from robot.carriers.sip.sdp import MediaDescription, SdpError, parse_sdp
from robot.carriers.sip.useragent import T1_S, T2_S, TRANSACTION_TIMEOUT_S, SipUserAgent
from robot.errors import CarrierError

log = logging.getLogger(__name__)

IncomingCallHandler = Callable[["InboundSipCall"], Awaitable[None]]


class InboundSipCall(SipCall):
    def __init__(
        self, ua: SipUserAgent, endpoint: CallEndpoint, invite: SipMessage, source: tuple[str, int]
    ) -> None:
        dialog = Dialog(
            call_id=invite.call_id,
            local_uri=(invite.header("to") or "").split(";tag=")[0],
            local_tag=new_tag(),
            remote_uri=(invite.header("from") or "").split(";tag=")[0],
        )
        dialog.confirm_from_request(invite)
        super().__init__(ua, endpoint, dialog)
        self._inbound_invite = (invite, source)
        self._offer: MediaDescription | None = None
        self._early_media_sent = False

    @property
    def called_uri(self) -> str:
        return self._inbound_invite[0].uri or "" if self._inbound_invite else ""

    @property
    def caller_uri(self) -> str:
        return address_uri(self._dialog.remote_uri)

    @property
    def sip_headers(self) -> dict[str, str]:
        """The INVITE's headers by name as sent (the first value of each)."""
        invite = self._inbound_invite[0] if self._inbound_invite else None
        headers: dict[str, str] = {}
        for name, value in invite.headers if invite is not None else []:
            headers.setdefault(name, value)
        return headers

    async def setup(self) -> None:
        """Bind media, take the offer and tell the caller we are ringing."""
        assert self._inbound_invite is not None
        invite, source = self._inbound_invite
        self._ua.register_dialog(self.call_id, self._on_message)
        self.signalling.record(message_info(invite, 0.0))
        await self.rtp.open(self._endpoint.local_host)
        if invite.body:
            try:
                self._offer = parse_sdp(invite.body)
            except SdpError as e:
                await self.reject(488, "Not Acceptable Here")
                raise CarrierError(f"inbound INVITE has unusable SDP: {e}") from e
        await self._ua.respond(invite, source, 100, "Trying")
        await self._ua.respond(invite, source, 180, "Ringing", to_tag=self._dialog.local_tag)
        self._state = CallState.RINGING
        self._event("ringing")

    async def answer(self) -> None:
        """Send 200 OK with our SDP answer and wait for the caller's ACK."""
        if self._inbound_invite is None or self._state is not CallState.RINGING:
            raise CarrierError("only a ringing inbound call can be answered")
        invite, source = self._inbound_invite
        if self._offer is None or self._offer.audio_codec() is None:
            await self.reject(488, "Not Acceptable Here")
            raise CarrierError("the caller offered no G.711 codec")
        self.rtp.set_remote(self._offer)
        self._state = CallState.ANSWERED
        body = self._sdp((self.rtp.payload_type,))
        headers = [("contact", self._contact())]
        interval = T1_S
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TRANSACTION_TIMEOUT_S
        while not self._acked.is_set():
            await self._ua.respond(
                invite, source, 200, "OK", to_tag=self._dialog.local_tag, headers=headers, body=body
            )
            wait_s = deadline - loop.time()
            if self._ua.transport is not None and not self._ua.transport.reliable:
                wait_s = min(interval, wait_s)
            if wait_s <= 0:
                break
            try:
                await asyncio.wait_for(self._acked.wait(), wait_s)
            except TimeoutError:
                interval = min(interval * 2, T2_S)
        if not self._acked.is_set():
            await self._finish("failed", by=None)
            raise CarrierError("the caller never acknowledged our answer")
        self._event("answered")

    async def early_media(self) -> bool:
        """Send 183 Session Progress with our SDP answer while the call still rings: audio
        played from now reaches the caller before the answer (a dialled party's early media).
        False when the caller offered no usable codec (the call then just rings)."""
        if self._inbound_invite is None or self._state is not CallState.RINGING:
            return False
        if self._offer is None or self._offer.audio_codec() is None:
            return False
        if not self._early_media_sent:
            invite, source = self._inbound_invite
            self.rtp.set_remote(self._offer)
            body = self._sdp((self.rtp.payload_type,))
            headers = [("contact", self._contact())]
            await self._ua.respond(
                invite,
                source,
                183,
                "Session Progress",
                to_tag=self._dialog.local_tag,
                headers=headers,
                body=body,
            )
            self._early_media_sent = True
        return True

    async def reject(self, status: int = 486, reason: str = "Busy Here") -> None:
        if self._inbound_invite is None or self._state in (CallState.ANSWERED, CallState.ENDED):
            return
        invite, source = self._inbound_invite
        await self._ua.respond(invite, source, status, reason, to_tag=self._dialog.local_tag)
        await self._finish("failed", by="local")

    async def _end_unanswered(self) -> None:
        await self.reject(480, "Temporarily Unavailable")
