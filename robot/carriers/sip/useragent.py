"""The SIP user agent core: client and server transactions over one transport.

Client transactions follow RFC 3261 section 17.1: over UDP an INVITE is retransmitted at
T1, 2*T1, ... until a provisional response arrives (timer A) and given up after 64*T1
(timer B); other requests back off up to T2 (timers E/F). A non-2xx final response to an
INVITE is acknowledged here with the INVITE's branch; a 2xx belongs to the dialog, which
sends its own ACK. Server side, a retransmitted request gets the cached response again.
Requests are handed to the dialog that owns their Call-ID, or to the out-of-dialog handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable

from robot.carriers.sip.message import SipMessage, new_branch, new_tag
from robot.carriers.sip.transport import Address, SipTransport, open_transport
from robot.errors import CarrierError

log = logging.getLogger(__name__)

T1_S = 0.5
T2_S = 4.0
TRANSACTION_TIMEOUT_S = 64 * T1_S
USER_AGENT = "callrobot"
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, NOTIFY, REFER, INFO, UPDATE"
RESPONSE_CACHE_SIZE = 256

DialogHandler = Callable[[SipMessage, Address], None]
ProvisionalHandler = Callable[[SipMessage], None]


class SipTimeoutError(CarrierError):
    """A request got no final response within 64*T1."""


class _ClientTransaction:
    def __init__(self, request: SipMessage, on_provisional: ProvisionalHandler | None) -> None:
        self.request = request
        self.on_provisional = on_provisional
        self.final: asyncio.Future[SipMessage] = asyncio.get_running_loop().create_future()
        self.got_provisional = False


class SipUserAgent:
    """Owns the transport, the transactions and the routing of messages to dialogs."""

    def __init__(self, out_of_dialog: DialogHandler | None = None) -> None:
        self.transport: SipTransport | None = None
        self._clients: dict[tuple[str, str], _ClientTransaction] = {}
        self._dialogs: dict[str, DialogHandler] = {}
        self._responses: OrderedDict[tuple[str, str], tuple[SipMessage, Address]] = OrderedDict()
        self._out_of_dialog = out_of_dialog
        self._background: set[asyncio.Future[object]] = set()
        #: ACKs of non-2xx final responses by INVITE branch, for retransmitted responses.
        self._acks: OrderedDict[str, tuple[SipMessage, Address]] = OrderedDict()

    async def start(self, protocol: str, host: str, port: int) -> None:
        self.transport = await open_transport(protocol, host, port, self._received)

    @property
    def local_address(self) -> Address:
        if self.transport is None:
            raise CarrierError("the SIP user agent is not started")
        return self.transport.local_address

    def via(self, branch: str) -> str:
        assert self.transport is not None
        host, port = self.transport.local_address
        return f"SIP/2.0/{self.transport.protocol} {host}:{port};branch={branch};rport"

    def new_request(
        self,
        method: str,
        uri: str,
        *,
        call_id: str,
        cseq: int,
        from_: str,
        to: str,
        branch: str | None = None,
    ) -> SipMessage:
        request = SipMessage(method=method, uri=uri)
        request.add_header("via", self.via(branch or new_branch()))
        request.add_header("max-forwards", "70")
        request.add_header("from", from_)
        request.add_header("to", to)
        request.add_header("call-id", call_id)
        request.add_header("cseq", f"{cseq} {method}")
        request.add_header("user-agent", USER_AGENT)
        return request

    def register_dialog(self, call_id: str, handler: DialogHandler) -> None:
        self._dialogs[call_id] = handler

    def unregister_dialog(self, call_id: str) -> None:
        self._dialogs.pop(call_id, None)
        for key in [k for k, t in self._clients.items() if t.request.call_id == call_id]:
            transaction = self._clients.pop(key)
            if not transaction.final.done():
                transaction.final.cancel()

    @property
    def open_transactions(self) -> int:
        return len(self._clients)

    # -- client side ----------------------------------------------------------------------
    async def send_request(
        self,
        request: SipMessage,
        destination: Address,
        on_provisional: ProvisionalHandler | None = None,
        timeout_s: float = TRANSACTION_TIMEOUT_S,
    ) -> SipMessage:
        """Send a request and return its final response (retransmitting over UDP)."""
        assert self.transport is not None
        key = (request.top_via_branch, request.method or "")
        transaction = _ClientTransaction(request, on_provisional)
        self._clients[key] = transaction
        try:
            await self.transport.send(request, destination)
            interval = T1_S
            deadline = asyncio.get_running_loop().time() + timeout_s
            while True:
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    raise SipTimeoutError(f"no final response to {request.method} in {timeout_s} s")
                wait_s = remaining if self.transport.reliable else min(interval, remaining)
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(transaction.final), wait_s)
                if self.transport.reliable:
                    continue
                if request.method == "INVITE" and transaction.got_provisional:
                    interval = remaining  # timer A stops once the peer answered provisionally
                    continue
                await self.transport.send(request, destination)
                interval = min(interval * 2, T2_S) if request.method != "INVITE" else interval * 2
        finally:
            if self._clients.get(key) is transaction:
                del self._clients[key]
            if not transaction.final.done():
                transaction.final.cancel()

    async def send_ack(
        self, invite: SipMessage, response: SipMessage, destination: Address
    ) -> None:
        """ACK for a non-2xx final response: same branch, To with the response's tag."""
        assert self.transport is not None
        ack = SipMessage(method="ACK", uri=invite.uri)
        ack.add_header("via", invite.header_values("via")[0])
        ack.add_header("max-forwards", "70")
        ack.add_header("from", invite.header("from") or "")
        ack.add_header("to", response.header("to") or "")
        ack.add_header("call-id", invite.call_id)
        ack.add_header("cseq", f"{invite.cseq[0]} ACK")
        for route in invite.header_values("route"):
            ack.add_header("route", route)
        self._acks[invite.top_via_branch] = (ack, destination)
        while len(self._acks) > RESPONSE_CACHE_SIZE:
            self._acks.popitem(last=False)
        await self.transport.send(ack, destination)

    async def send_stateless(self, message: SipMessage, destination: Address) -> None:
        assert self.transport is not None
        await self.transport.send(message, destination)

    # -- server side ----------------------------------------------------------------------
    async def respond(
        self,
        request: SipMessage,
        source: Address,
        status: int,
        reason: str,
        *,
        to_tag: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str = "application/sdp",
    ) -> SipMessage:
        assert self.transport is not None
        response = SipMessage(status=status, reason_phrase=reason)
        for via in request.header_values("via"):
            response.add_header("via", via)
        response.add_header("from", request.header("from") or "")
        to = request.header("to") or ""
        if to_tag and status > 100 and "tag=" not in to:
            to = f"{to};tag={to_tag}"
        response.add_header("to", to)
        response.add_header("call-id", request.call_id)
        response.add_header("cseq", request.header("cseq") or "")
        response.add_header("user-agent", USER_AGENT)
        if 100 < status < 300:  # a response that may set up a dialog keeps the proxies' route
            for route in request.header_values("record-route"):
                response.add_header("record-route", route)
        for name, value in headers or []:
            response.add_header(name, value)
        if body:
            response.add_header("content-type", content_type)
            response.body = body
        key = (request.top_via_branch, request.method or "")
        self._responses[key] = (response, source)
        while len(self._responses) > RESPONSE_CACHE_SIZE:
            self._responses.popitem(last=False)
        await self.transport.send(response, source)
        return response

    def _received(self, message: SipMessage, source: Address) -> None:
        if message.is_request:
            self._received_request(message, source)
        else:
            self._received_response(message, source)

    def _received_response(self, response: SipMessage, source: Address) -> None:
        key = (response.top_via_branch, response.cseq[1])
        transaction = self._clients.get(key)
        status = response.status or 0
        if transaction is None:
            handler = self._dialogs.get(response.call_id)
            if handler is not None and status >= 200:
                handler(response, source)  # a retransmitted final response
            elif status >= 300 and key[0] in self._acks:  # our ACK was lost: send it again
                self._spawn(self._resend(*self._acks[key[0]]))
            return
        if status < 200:
            transaction.got_provisional = True
            if transaction.on_provisional is not None:
                transaction.on_provisional(response)
        elif not transaction.final.done():
            transaction.final.set_result(response)

    def _received_request(self, request: SipMessage, source: Address) -> None:
        method = request.method or ""
        cached = self._responses.get((request.top_via_branch, method))
        if cached is not None and method != "ACK":
            self._spawn(self._resend(cached[0], source))
            return
        handler = self._dialogs.get(request.call_id)
        if handler is not None:
            handler(request, source)
        elif method == "ACK":
            return
        elif method == "OPTIONS":
            self._spawn(
                self.respond(
                    request,
                    source,
                    200,
                    "OK",
                    to_tag=new_tag(),
                    headers=[("allow", ALLOW), ("accept", "application/sdp")],
                )
            )
        elif method == "INVITE" and self._out_of_dialog is not None:
            self._out_of_dialog(request, source)
        elif method in ("BYE", "CANCEL", "NOTIFY", "INFO", "UPDATE", "REFER"):
            self._spawn(
                self.respond(
                    request, source, 481, "Call/Transaction Does Not Exist", to_tag=new_tag()
                )
            )
        elif method == "INVITE":
            self._spawn(
                self.respond(request, source, 480, "Temporarily Unavailable", to_tag=new_tag())
            )
        else:
            self._spawn(
                self.respond(
                    request,
                    source,
                    405,
                    "Method Not Allowed",
                    to_tag=new_tag(),
                    headers=[("allow", ALLOW)],
                )
            )

    async def _resend(self, response: SipMessage, destination: Address) -> None:
        assert self.transport is not None
        await self.transport.send(response, destination)

    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Future[object]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("SIP background send failed: %s", task.exception())

    async def close(self) -> None:
        for transaction in self._clients.values():
            if not transaction.final.done():
                transaction.final.cancel()
        self._clients.clear()
        for task in list(self._background):
            task.cancel()
        for task in list(self._background):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.transport is not None:
            await self.transport.close()
            self.transport = None
