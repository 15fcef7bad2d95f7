"""The SIP carrier: places calls through a trunk, optionally registers, accepts inbound calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import socket

from robot.carriers.sip.call import CallEndpoint, SipCall
from robot.carriers.sip.clock import MediaClock
from robot.carriers.sip.config import SipCarrierConfig
from robot.carriers.sip.dialog import Dialog, uri_address
from robot.carriers.sip.digest import DigestError, digest_response, parse_challenge
from robot.carriers.sip.inbound import InboundSipCall, IncomingCallHandler
from robot.carriers.sip.message import SipMessage, address_uri, header_params, new_tag
from robot.carriers.sip.outbound import OutboundSipCall
from robot.carriers.sip.useragent import SipUserAgent
from robot.errors import CarrierError

log = logging.getLogger(__name__)

REGISTER_RETRY_S = 30.0
CLOSE_TIMEOUT_S = 10.0


class SipCarrier:
    """Implements :class:`~robot.carriers.base.Carrier` over a SIP trunk."""

    def __init__(
        self, config: SipCarrierConfig, on_incoming: IncomingCallHandler | None = None
    ) -> None:
        self.config = config
        self._on_incoming = on_incoming
        self._ua = SipUserAgent(self._incoming if on_incoming is not None else None)
        self._media_clock = MediaClock()
        self._calls: dict[str, SipCall] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self._start_lock = asyncio.Lock()
        self._local_host = ""
        self._trunk: tuple[str, int] = (config.host, config.port)
        self._proxy: tuple[str, int] | None = None
        self._registration_call_id = secrets.token_hex(10) + "@callrobot"
        self.registered = asyncio.Event()
        #: Successful registrations so far (the first one and every refresh).
        self.registrations = 0

    @classmethod
    def from_url(cls, url: str, on_incoming: IncomingCallHandler | None = None) -> SipCarrier:
        return cls(SipCarrierConfig.from_url(url), on_incoming)

    async def start(self) -> None:
        async with self._start_lock:
            if self._started:
                return
            if self.config.outbound_proxy is not None:  # the trunk is then only a domain
                self._proxy = await resolve_address(*self.config.outbound_proxy)
            else:
                self._trunk = await resolve_address(self.config.host, self.config.port)
            next_hop = self._proxy or self._trunk
            self._local_host = self.config.resolved_local_host(next_hop[0])
            await self._ua.start(self.config.transport, self._local_host, self.config.local_port)
            self._started = True
            if self.config.register:
                self._spawn(self._keep_registered())

    @property
    def local_address(self) -> tuple[str, int]:
        return self._ua.local_address

    def _endpoint(self, direct_to: tuple[str, int] | None = None) -> CallEndpoint:
        proxy = self._proxy
        return CallEndpoint(
            destination=proxy or direct_to or self._trunk,
            local_host=self._local_host,
            username=self.config.username,
            password=self.config.password,
            outbound_proxy=proxy is not None,
            media_clock=self._media_clock,
        )

    def _domain(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    async def dial(
        self,
        number: str,
        *,
        caller_id: str | None = None,
        ring_timeout_s: float = 30.0,
        variables: dict[str, str] | None = None,
    ) -> SipCall:
        await self.start()
        if number.startswith(("sip:", "sips:")):
            request_uri = number
        else:
            clean = "".join(ch for ch in number if ch.isdigit() or ch in "+*#")
            if not clean:
                raise CarrierError(f"cannot dial {number!r}: no digits")
            request_uri = f"sip:{clean}@{self._domain()}"
            if self.config.transport == "tcp":
                request_uri += ";transport=tcp"
        caller = caller_id or self.config.caller_id or self.config.username or "callrobot"
        display = self.config.display_name
        local_uri = f"<sip:{caller}@{self._domain()}>"
        if display:
            local_uri = f'"{display}" {local_uri}'
        dialog = Dialog(
            call_id=f"{secrets.token_hex(12)}@{self._local_host}",
            local_uri=local_uri,
            local_tag=new_tag(),
            remote_uri=f"<{request_uri}>",
        )
        extra = [("p-asserted-identity", f"<sip:{caller}@{self._domain()}>")]
        extra += _header_variables(variables or {})
        # a SIP URI goes straight to its host unless an outbound proxy is configured
        direct_to = None
        if number.startswith(("sip:", "sips:")) and self._proxy is None:
            direct_to = await resolve_address(*uri_address(request_uri))
        call = OutboundSipCall(self._ua, self._endpoint(direct_to), dialog, dial_leg=self._dial_leg)
        self._calls[call.call_id] = call
        call.start_outbound(request_uri, ring_timeout_s, extra)
        log.info("dialling call %s", call.call_id)
        log.debug("call %s to %s", call.call_id, request_uri)
        return call

    async def _dial_leg(self, target: str) -> SipCall:
        return await self.dial(target)

    @property
    def active_calls(self) -> list[SipCall]:
        self._calls = {k: c for k, c in self._calls.items() if c.state != "ended"}
        return list(self._calls.values())

    @property
    def dropped_messages(self) -> int:
        """Malformed SIP messages received and dropped so far."""
        transport = self._ua.transport
        return transport.dropped_messages if transport is not None else 0

    def pending_tasks(self) -> int:
        """Background work still running: transactions, call steps, registration."""
        calls = sum(c.pending_tasks for c in self._calls.values())
        clock = 1 if self._media_clock.running else 0
        return calls + len(self._tasks) + self._ua.open_transactions + clock

    # -- inbound ---------------------------------------------------------------------------
    def _incoming(self, invite: SipMessage, source: tuple[str, int]) -> None:
        self._spawn(self._accept_incoming(invite, source))

    async def _accept_incoming(self, invite: SipMessage, source: tuple[str, int]) -> None:
        user = address_uri(invite.uri or "").partition(":")[2].partition("@")[0]
        if self.config.inbound_numbers and user not in self.config.inbound_numbers:
            await self._ua.respond(invite, source, 404, "Not Found", to_tag=new_tag())
            return
        log.info("inbound INVITE %s from %s:%d", invite.call_id, *source)
        call = InboundSipCall(self._ua, self._endpoint(), invite, source)
        self._calls[call.call_id] = call
        try:
            await call.setup()
            assert self._on_incoming is not None
            await self._on_incoming(call)
        except CarrierError as e:
            log.info("inbound call %s failed: %s", call.call_id, e)
            await call.hangup()

    # -- registration ----------------------------------------------------------------------
    async def _keep_registered(self) -> None:
        cseq = 0
        while True:
            cseq += 2
            try:
                expires = await self._register(cseq, self.config.register_expires_s)
            except CarrierError as e:
                log.warning("registration to the trunk failed: %s", e)
                self.registered.clear()
                await asyncio.sleep(REGISTER_RETRY_S)
                continue
            self.registered.set()
            self.registrations += 1
            await asyncio.sleep(max(5.0, expires * 0.8))

    async def _register(self, cseq: int, expires_s: int) -> int:
        """One REGISTER (answering one challenge); returns the granted expiry in seconds."""
        uri = f"sip:{self._domain()}"
        aor = f"<sip:{self.config.username or 'callrobot'}@{self._domain()}>"
        _, port = self._ua.local_address
        contact = f"<sip:{self.config.username or 'callrobot'}@{self._local_host}:{port}>"
        auth: list[tuple[str, str]] = []
        for attempt in range(2):
            request = self._ua.new_request(
                "REGISTER",
                uri,
                call_id=self._registration_call_id,
                cseq=cseq + attempt,
                from_=f"{aor};tag={new_tag()}",
                to=aor,
            )
            request.add_header("contact", contact)
            request.add_header("expires", str(expires_s))
            for name, value in auth:
                request.add_header(name, value)
            response = await self._ua.send_request(
                request, self._endpoint().destination, timeout_s=32.0
            )
            status = response.status or 0
            if 200 <= status < 300:
                return _granted_expiry(response, expires_s)
            if status in (401, 407) and attempt == 0 and self.config.username:
                name = "www-authenticate" if status == 401 else "proxy-authenticate"
                try:
                    challenge = parse_challenge(response.header(name) or "")
                except DigestError as e:
                    raise CarrierError(f"registrar challenge unusable: {e}") from e
                answer = digest_response(
                    challenge, self.config.username, self.config.password or "", "REGISTER", uri
                )
                auth = [("authorization" if status == 401 else "proxy-authorization", answer)]
                continue
            raise CarrierError(f"registrar answered {status} {response.reason_phrase}")
        raise CarrierError("registrar kept challenging our credentials")

    # -- lifecycle -------------------------------------------------------------------------
    def _spawn(self, coro: object) -> None:
        task = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Hang up every call, unregister, cancel background work and close sockets."""
        for call in list(self._calls.values()):
            with contextlib.suppress(CarrierError, TimeoutError):
                await asyncio.wait_for(call.hangup(), CLOSE_TIMEOUT_S)
            await call.cancel_tasks()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.config.register and self._started and self.registered.is_set():
            with contextlib.suppress(CarrierError):
                await asyncio.wait_for(self._register(10_000, 0), 5.0)
        self._calls.clear()
        await self._media_clock.close()
        if self._started:
            await self._ua.close()
        self._started = False


#: Call variables named ``sip_header_NAME`` are sent as SIP header ``NAME`` on the INVITE;
#: other variables (lead data) never leave the process.
HEADER_VARIABLE_PREFIX = "sip_header_"
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]+$")


def _header_variables(variables: dict[str, str]) -> list[tuple[str, str]]:
    headers = []
    for name, value in variables.items():
        if not name.startswith(HEADER_VARIABLE_PREFIX):
            continue
        header = name.removeprefix(HEADER_VARIABLE_PREFIX)
        if not _HEADER_NAME.match(header) or "\r" in value or "\n" in value:
            raise CarrierError(f"call variable {name!r} is not a valid SIP header")
        headers.append((header.lower(), value))
    return headers


RESOLVE_TIMEOUT_S = 5.0


async def resolve_address(host: str, port: int) -> tuple[str, int]:
    """Resolve a host name once, without blocking the event loop (A/AAAA, no SRV)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, family=socket.AF_INET, type=socket.SOCK_DGRAM),
            RESOLVE_TIMEOUT_S,
        )
    except (OSError, TimeoutError) as e:
        raise CarrierError(f"cannot resolve SIP host {host!r}: {e}") from e
    if not infos:
        raise CarrierError(f"SIP host {host!r} has no IPv4 address")
    address = infos[0][4]
    return str(address[0]), int(address[1])


def _granted_expiry(response: SipMessage, asked_s: int) -> int:
    """The registration time the registrar granted: Contact ``expires`` param, else Expires."""
    for contact in response.header_values("contact"):
        value = header_params(contact).get("expires", "")
        if value.isdigit():
            return int(value)
    granted = response.header("expires") or ""
    return int(granted) if granted.isdigit() else asked_s
