"""Outbound calls (we are the UAC): INVITE with offer, auth, early media, answer, CANCEL."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from robot.carriers.base import CallState
from robot.carriers.sip.call import CANCEL_GRACE_S, MAX_AUTH_ATTEMPTS, SipCall
from robot.carriers.sip.dialog import message_info
from robot.carriers.sip.digest import DigestError, digest_response, parse_challenge
from robot.carriers.sip.message import SipMessage
from robot.carriers.sip.sdp import SdpError, parse_sdp
from robot.errors import CarrierError

log = logging.getLogger(__name__)


class OutboundSipCall(SipCall):
    """A call we place: sends the INVITE and follows it to a final response."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Provisional responses already recorded (copies come back for retransmitted INVITEs).
        self._seen_provisional: set[tuple[object, ...]] = set()

    async def _end_unanswered(self) -> None:
        """Hang up before answer: CANCEL the INVITE and wait for its final response."""
        await self._send_cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ended.wait(), CANCEL_GRACE_S + 1)
        await self._finish("failed", by="local")

    # -- outbound ------------------------------------------------------------------------
    def start_outbound(
        self, request_uri: str, ring_timeout_s: float, extra_headers: list[tuple[str, str]]
    ) -> None:
        self._spawn(self._run_outbound(request_uri, ring_timeout_s, extra_headers))

    async def _run_outbound(
        self, request_uri: str, ring_timeout_s: float, extra_headers: list[tuple[str, str]]
    ) -> None:
        try:
            await self.rtp.open(self._endpoint.local_host)
            self._ua.register_dialog(self.call_id, self._on_message)
            await self._invite_until_final(request_uri, ring_timeout_s, extra_headers)
        except (CarrierError, OSError) as e:
            log.info("call %s failed: %s", self.call_id, e)
            await self._finish("failed", by=None)
        except asyncio.CancelledError:
            await self._finish("failed", by="local")
            raise

    def _make_invite(self, request_uri: str, extra: list[tuple[str, str]]) -> SipMessage:
        d = self._dialog
        invite = self._ua.new_request(
            "INVITE",
            request_uri,
            call_id=d.call_id,
            cseq=d.local_cseq,
            from_=d.local_header,
            to=d.remote_header,
        )
        invite.add_header("contact", self._contact())
        invite.add_header("allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER, UPDATE")
        for name, value in extra:
            invite.add_header(name, value)
        invite.add_header("content-type", "application/sdp")
        invite.body = self._sdp()
        return invite

    async def _invite_until_final(
        self, request_uri: str, ring_timeout_s: float, extra: list[tuple[str, str]]
    ) -> None:
        loop = asyncio.get_running_loop()
        ring_deadline = loop.time() + ring_timeout_s
        auth_headers: list[tuple[str, str]] = []
        for _attempt in range(MAX_AUTH_ATTEMPTS + 1):
            invite = self._make_invite(request_uri, extra + auth_headers)
            self._invite = invite
            request = self._ua.send_request(invite, self._endpoint.destination, self._provisional)
            task = asyncio.ensure_future(request)
            try:
                done, _ = await asyncio.wait({task}, timeout=max(0.0, ring_deadline - loop.time()))
                if not done:
                    await self._send_cancel()
                    done, _ = await asyncio.wait({task}, timeout=CANCEL_GRACE_S)
                if not done:
                    raise CarrierError("the peer answered neither the INVITE nor its CANCEL")
                response = task.result()
            finally:
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, CarrierError):
                        await task
            status = response.status or 0
            self.signalling.record(message_info(response, self._elapsed_ms()))
            if 200 <= status < 300:
                await self._answered(response)
                return
            await self._ua.send_ack(invite, response, self._endpoint.destination)
            if status in (401, 407) and not self._cancel_sent and self._endpoint.username:
                auth_headers = self._authorization(response, invite)
                if auth_headers:
                    self._dialog.local_cseq += 1
                    continue
            break
        await self._finish("failed", by=None)

    def _authorization(self, response: SipMessage, invite: SipMessage) -> list[tuple[str, str]]:
        status = response.status
        challenge_name = "www-authenticate" if status == 401 else "proxy-authenticate"
        answer_name = "authorization" if status == 401 else "proxy-authorization"
        value = response.header(challenge_name)
        if value is None:
            return []
        try:
            challenge = parse_challenge(value)
        except DigestError as e:
            log.info("call %s: cannot answer the challenge: %s", self.call_id, e)
            return []
        credentials = digest_response(
            challenge,
            self._endpoint.username or "",
            self._endpoint.password or "",
            "INVITE",
            invite.uri or "",
        )
        return [(answer_name, credentials)]

    def _provisional(self, response: SipMessage) -> None:
        if self._state is CallState.ENDED:
            return
        key = (response.status, response.to_tag, response.cseq, response.body)
        if key in self._seen_provisional:  # a copy sent again for a retransmitted INVITE
            return
        self._seen_provisional.add(key)
        self.signalling.record(message_info(response, self._elapsed_ms()))
        status = response.status or 0
        if response.body and "sdp" in (response.header("content-type") or "").lower():
            try:
                self.rtp.set_remote(parse_sdp(response.body))
            except (SdpError, CarrierError) as e:
                log.debug("call %s: unusable early media SDP: %s", self.call_id, e)
            else:
                if self._state is not CallState.EARLY_MEDIA:
                    self._state = CallState.EARLY_MEDIA
                    self._event("early_media")
                return
        if status in (180, 183) and self._state is CallState.DIALLING:
            self._state = CallState.RINGING
            self._event("ringing")

    async def _answered(self, response: SipMessage) -> None:
        assert self._invite is not None
        self._dialog.confirm_from_response(response)
        ack = self._in_dialog("ACK", cseq=self._invite.cseq[0])
        self._ack = ack
        await self._ua.send_stateless(ack, self._next_hop())
        if response.body:
            try:
                self.rtp.set_remote(parse_sdp(response.body))
            except (SdpError, CarrierError) as e:
                self._state = CallState.ANSWERED
                log.info("call %s: unusable answer SDP: %s", self.call_id, e)
                await self._bye("unusable SDP")
                return
        if self.rtp.remote is None:  # neither the 200 nor a 183 carried an SDP answer
            self._state = CallState.ANSWERED
            log.info("call %s: answered without an SDP answer", self.call_id)
            await self._bye("no SDP answer")
            return
        if self._cancel_sent:  # the 200 crossed our CANCEL: end the call properly
            self._state = CallState.ANSWERED
            await self._bye()
            return
        self._state = CallState.ANSWERED
        self._event("answered")

    async def _send_cancel(self) -> None:
        if self._cancel_sent or self._invite is None:
            return
        self._cancel_sent = True
        invite = self._invite
        cancel = SipMessage(method="CANCEL", uri=invite.uri)
        cancel.add_header("via", invite.header_values("via")[0])
        cancel.add_header("max-forwards", "70")
        for name in ("from", "to", "call-id"):
            cancel.add_header(name, invite.header(name) or "")
        cancel.add_header("cseq", f"{invite.cseq[0]} CANCEL")
        self._spawn(self._cancel_transaction(cancel))

    async def _cancel_transaction(self, cancel: SipMessage) -> None:
        with contextlib.suppress(CarrierError):
            await self._ua.send_request(
                cancel, self._endpoint.destination, timeout_s=CANCEL_GRACE_S
            )
