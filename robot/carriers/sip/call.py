"""One SIP call: the :class:`~robot.carriers.base.Call` protocol over SIP and RTP.

The call reports facts, never outcomes: every provisional and final response to its INVITE and
every BYE/CANCEL from the peer is folded into ``signalling`` with headers and times; the
voicemail signalling classifier turns that into an outcome. Control events and audio travel on
separate queues so a hang-up never waits behind audio frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from robot.audio import AudioChunk
from robot.carriers.base import CallEvent, CallState, Signalling
from robot.carriers.sip.clock import MediaClock
from robot.carriers.sip.dialog import Dialog, message_info, sipfrag_status, uri_address
from robot.carriers.sip.media import RtpSession
from robot.carriers.sip.message import SipMessage, address_uri, new_branch
from robot.carriers.sip.sdp import PCMA, PCMU, TELEPHONE_EVENT, SdpError, build_sdp, parse_sdp
from robot.carriers.sip.useragent import SipUserAgent
from robot.errors import CarrierError

log = logging.getLogger(__name__)

CANCEL_GRACE_S = 5.0
BYE_TIMEOUT_S = 5.0
TRANSFER_TIMEOUT_S = 30.0
MAX_AUTH_ATTEMPTS = 2
#: RFC 3264 section 6.1: how we answer each offered direction.
ANSWER_DIRECTION = {
    "sendrecv": "sendrecv",
    "sendonly": "recvonly",
    "recvonly": "sendonly",
    "inactive": "inactive",
}


@dataclass(frozen=True, slots=True)
class CallEndpoint:
    """Where and as whom a call talks: filled by the carrier from its configuration."""

    destination: tuple[str, int]  # next hop for every request (proxy or peer)
    local_host: str  # address written into Contact and SDP
    username: str | None = None
    password: str | None = None
    outbound_proxy: bool = False
    #: The carrier's shared 20 ms clock for RTP (None: the call paces its own stream).
    media_clock: MediaClock | None = None


LegDialler = Callable[[str], Awaitable["SipCall"]]


class SipCall:
    """A call leg placed (or received) by :class:`~robot.carriers.sip.carrier.SipCarrier`."""

    def __init__(
        self,
        ua: SipUserAgent,
        endpoint: CallEndpoint,
        dialog: Dialog,
        *,
        dial_leg: LegDialler | None = None,
    ) -> None:
        self._ua = ua
        self._endpoint = endpoint
        self._dialog = dialog
        self.call_id = dialog.call_id
        self.signalling = Signalling()
        self._state = CallState.DIALLING
        self._audio: asyncio.Queue[AudioChunk | None] = asyncio.Queue()
        self._events: asyncio.Queue[CallEvent | None] = asyncio.Queue()
        self.rtp = RtpSession(self._audio.put_nowait, self._digit_received, endpoint.media_clock)
        self._t0 = asyncio.get_running_loop().time()
        self._ended = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._invite: SipMessage | None = None
        self._ack: SipMessage | None = None
        self._cancel_sent = False
        self._session_id = secrets.randbits(31)
        self._sdp_version = 1
        self._last_sdp_content: tuple[object, ...] | None = None
        self._refer_result: asyncio.Future[int] | None = None
        self._dial_leg = dial_leg
        self._bridged: SipCall | None = None
        self._inbound_invite: tuple[SipMessage, tuple[str, int]] | None = None
        self._acked = asyncio.Event()
        self._finishing = False
        self._hanging_up = False

    # -- the Call protocol ----------------------------------------------------------------
    @property
    def state(self) -> CallState:
        return self._state

    async def audio(self) -> AsyncIterator[AudioChunk]:
        while (chunk := await self._audio.get()) is not None:
            yield chunk

    async def events(self) -> AsyncIterator[CallEvent]:
        while (event := await self._events.get()) is not None:
            yield event

    async def play(self, chunk: AudioChunk) -> None:
        if self._state is not CallState.ENDED:
            self.rtp.play(chunk)

    def stop_playback(self) -> float:
        return self.rtp.stop_playback()

    async def playback_done(self) -> None:
        waiter = asyncio.ensure_future(self.rtp.playback_done())
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait({waiter, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            ended.cancel()

    async def send_dtmf(self, digits: str) -> None:
        await self.rtp.send_dtmf(digits)

    async def hangup(self, reason: str | None = None) -> None:
        if self._state is CallState.ENDED:
            return
        if self._hanging_up:  # someone else is already ending the call: wait for it
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ended.wait(), BYE_TIMEOUT_S + CANCEL_GRACE_S + 1)
            return
        self._hanging_up = True
        if self._state is not CallState.ANSWERED:
            await self._end_unanswered()
            return
        await self._bye(reason)

    async def _bye(self, reason: str | None = None) -> None:
        """End an answered call from our side: BYE (bounded wait for its answer), then clean up."""
        text = (reason or "").replace('"', "'").replace("\r", " ").replace("\n", " ")
        headers = [("reason", f'Q.850;cause=16;text="{text}"')] if reason else []
        try:
            await self._dialog_request("BYE", headers=headers, timeout_s=BYE_TIMEOUT_S)
        except CarrierError as e:
            log.debug("BYE got no answer: %s", e)
        await self._finish("hangup", by="local")

    async def transfer(self, target: str, *, bridged: bool = False) -> None:
        """Blind: REFER the peer to ``target`` and end our leg once it accepted. Bridged: dial
        ``target`` and relay audio between the two legs until one hangs up. Either way the
        call has ended when this returns; a refused transfer raises and the call goes on."""
        if self._state is not CallState.ANSWERED:
            raise CarrierError("only an answered call can be transferred")
        if bridged:
            await self._bridge(target)
            return
        loop = asyncio.get_running_loop()
        self._refer_result = loop.create_future()
        refer_to = (
            target
            if target.startswith(("sip:", "sips:", "tel:"))
            else (f"sip:{target}@{self._endpoint.destination[0]}")
        )
        response = await self._dialog_request(
            "REFER",
            headers=[
                ("refer-to", f"<{refer_to}>"),
                ("referred-by", f"<{address_uri(self._dialog.local_uri)}>"),
            ],
        )
        if (response.status or 0) >= 300:
            raise CarrierError(
                f"the peer refused the transfer: {response.status} {response.reason_phrase}"
            )
        try:
            status = await asyncio.wait_for(self._refer_result, TRANSFER_TIMEOUT_S)
        except TimeoutError:
            status = 200  # accepted, no progress report: the peer owns the call now
        if status >= 300:
            raise CarrierError(f"the transfer failed at the far end: {status}")
        await self.hangup()

    async def _end_unanswered(self) -> None:
        """Hang up before answer; each direction knows how (CANCEL or a final response)."""
        await self._finish("failed", by="local")

    # -- in-dialog requests ----------------------------------------------------------------
    def _in_dialog(self, method: str, cseq: int | None = None) -> SipMessage:
        d = self._dialog
        if cseq is None:
            d.local_cseq += 1
            cseq = d.local_cseq
        uri = d.remote_target or (self._invite.uri if self._invite else "") or ""
        request = self._ua.new_request(
            method,
            uri,
            call_id=d.call_id,
            cseq=cseq,
            from_=d.local_header,
            to=d.remote_header,
            branch=new_branch(),
        )
        for route in d.route_set:
            request.add_header("route", route)
        if method != "ACK":
            request.add_header("contact", self._contact())
        return request

    async def _dialog_request(
        self, method: str, *, headers: list[tuple[str, str]] | None = None, timeout_s: float = 32.0
    ) -> SipMessage:
        request = self._in_dialog(method)
        for name, value in headers or []:
            request.add_header(name, value)
        return await self._ua.send_request(request, self._next_hop(), timeout_s=timeout_s)

    def _next_hop(self) -> tuple[str, int]:
        d = self._dialog
        if self._endpoint.outbound_proxy:
            return self._endpoint.destination
        try:
            if d.route_set:
                return uri_address(d.route_set[0].strip("<>").split(">")[0])
            if d.remote_target:
                return uri_address(d.remote_target)
        except CarrierError:
            pass
        return self._endpoint.destination

    def _on_message(self, message: SipMessage, source: tuple[str, int]) -> None:
        if message.status is not None:  # a retransmitted final response to our INVITE
            if message.cseq[1] == "INVITE" and self._invite is not None:
                if 200 <= message.status < 300 and self._ack is not None:
                    self._spawn(self._ua.send_stateless(self._ack, self._next_hop()))
                elif message.status >= 300:
                    self._spawn(
                        self._ua.send_ack(self._invite, message, self._endpoint.destination)
                    )
            return
        self._spawn(self._handle_request(message, source))

    async def _handle_request(self, request: SipMessage, source: tuple[str, int]) -> None:
        method = request.method
        tag = self._dialog.local_tag
        respond = self._ua.respond
        if method == "ACK":
            self._acked.set()
            if request.body:  # the answer to the offer we put in a 200 (offerless re-INVITE)
                with contextlib.suppress(SdpError, CarrierError):
                    self.rtp.set_remote(parse_sdp(request.body))
        elif method == "BYE":
            self.signalling.record(message_info(request, self._elapsed_ms()))
            await respond(request, source, 200, "OK", to_tag=tag)
            await self._finish("hangup", by="remote")
        elif method == "CANCEL":
            self.signalling.record(message_info(request, self._elapsed_ms()))
            await respond(request, source, 200, "OK", to_tag=tag)
            if self._inbound_invite is not None and self._state is not CallState.ANSWERED:
                invite, invite_source = self._inbound_invite
                await respond(invite, invite_source, 487, "Request Terminated", to_tag=tag)
                await self._finish("hangup", by="remote")
        elif method == "INVITE" and self._is_initial_invite(request):
            return  # a retransmission of the INVITE we are still answering
        elif method in ("INVITE", "UPDATE"):
            direction = "sendrecv"
            if request.body:
                try:
                    offer = parse_sdp(request.body)
                    self.rtp.set_remote(offer)
                except (SdpError, CarrierError) as e:
                    await respond(request, source, 488, "Not Acceptable Here", to_tag=tag)
                    log.debug("call %s: refused session change: %s", self.call_id, e)
                    return
                direction = ANSWER_DIRECTION.get(offer.direction, "sendrecv")
            elif method == "UPDATE":  # a session refresh without a new offer
                await respond(request, source, 200, "OK", to_tag=tag)
                return
            body = self._sdp(direction=direction)
            headers = [("contact", self._contact())]
            await respond(request, source, 200, "OK", to_tag=tag, headers=headers, body=body)
        elif method == "NOTIFY":
            await respond(request, source, 200, "OK", to_tag=tag)
            status = sipfrag_status(request.body)
            result = self._refer_result
            if status is not None and status >= 200 and result is not None and not result.done():
                result.set_result(status)
        elif method == "INFO":
            await respond(request, source, 200, "OK", to_tag=tag)
            for line in request.body.decode(errors="replace").splitlines():
                if line.lower().startswith("signal="):
                    self._digit_received(line.split("=", 1)[1].strip()[:1])
        elif method == "OPTIONS":
            await respond(request, source, 200, "OK", to_tag=tag)
        else:
            await respond(request, source, 501, "Not Implemented", to_tag=tag)

    def _is_initial_invite(self, request: SipMessage) -> bool:
        initial = self._inbound_invite
        return initial is not None and initial[0].top_via_branch == request.top_via_branch

    # -- helpers ---------------------------------------------------------------------------
    def _contact(self) -> str:
        _, port = self._ua.local_address
        user = self._endpoint.username or "callrobot"
        transport = (
            ""
            if self._ua.transport is None or not self._ua.transport.reliable
            else (";transport=tcp")
        )
        return f"<sip:{user}@{self._endpoint.local_host}:{port}{transport}>"

    def _sdp(
        self, payload_types: tuple[int, ...] | None = None, direction: str = "sendrecv"
    ) -> bytes:
        """Our session description: the offer (all codecs) or, once agreed, the answer."""
        agreed = self._state is CallState.ANSWERED or payload_types is not None
        pts = payload_types or ((self.rtp.payload_type,) if agreed else (PCMU, PCMA))
        dtmf = self.rtp.dtmf_payload_type if agreed else TELEPHONE_EVENT
        content = (pts, dtmf, direction)
        if self._last_sdp_content is not None and content != self._last_sdp_content:
            self._sdp_version += 1  # RFC 3264: a changed description gets a new version
        self._last_sdp_content = content
        return build_sdp(
            self._endpoint.local_host,
            self.rtp.local_port,
            self._session_id,
            self._sdp_version,
            pts,
            dtmf_payload_type=dtmf,
            direction=direction,
        )

    def _elapsed_ms(self) -> float:
        return (asyncio.get_running_loop().time() - self._t0) * 1000

    def _event(self, kind: str, digit: str | None = None, by: str | None = None) -> None:
        self._events.put_nowait(CallEvent(kind, self._elapsed_ms(), digit=digit, by=by))

    def _digit_received(self, digit: str) -> None:
        if digit:
            self._event("dtmf", digit=digit)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("call %s: background step failed: %r", self.call_id, task.exception())

    @property
    def pending_tasks(self) -> int:
        return len(self._tasks)

    async def cancel_tasks(self) -> None:
        """Stop whatever background step of this call is still running (carrier shutdown)."""
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _bridge(self, target: str) -> None:
        from robot.carriers.sip.bridge import bridge_calls

        if self._dial_leg is None:
            raise CarrierError("this call cannot place a second leg for a bridged transfer")
        self._bridged = await bridge_calls(self, target, self._dial_leg)

    async def _finish(self, kind: str, by: str | None) -> None:
        if self._finishing:
            await self._ended.wait()
            return
        self._finishing = True
        answered = self._state is CallState.ANSWERED
        self._state = CallState.ENDED
        self.signalling.ended_ms = self._elapsed_ms()
        if answered:
            self.signalling.hangup_by = by
        self._event(kind, by=by)
        self._ua.unregister_dialog(self.call_id)
        await self.rtp.close()
        self._audio.put_nowait(None)
        self._events.put_nowait(None)
        self._ended.set()

    async def wait_ended(self, timeout_s: float | None = None) -> None:
        await asyncio.wait_for(self._ended.wait(), timeout_s)
