"""SIP transports over asyncio: UDP datagrams and TCP streams.

A transport parses what arrives and hands each :class:`SipMessage` with its source address to
one handler. Malformed input never crashes it: it is logged at DEBUG and dropped (UDP) or the
connection is closed (TCP, whose framing is then lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

from robot.carriers.sip.message import SipMessage, SipParseError, StreamFramer, parse_message
from robot.errors import CarrierError

log = logging.getLogger(__name__)

Address = tuple[str, int]
MessageHandler = Callable[[SipMessage, Address], None]
CONNECT_TIMEOUT_S = 5.0
#: Room for bursts of responses (many calls set up at once): UDP has no flow control and
#: a provisional response that overflows the socket buffer is never retransmitted.
UDP_BUFFER_BYTES = 2 * 1024 * 1024


class SipTransport:
    """What the user agent needs from a transport."""

    protocol = "UDP"
    reliable = False

    def __init__(self, handler: MessageHandler) -> None:
        self._handler = handler
        self.local_address: Address = ("0.0.0.0", 0)
        self.dropped_messages = 0

    async def send(self, message: SipMessage, address: Address) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def _deliver(self, data: bytes, address: Address) -> None:
        try:
            message = parse_message(data)
        except SipParseError as e:
            self.dropped_messages += 1
            log.debug("dropping malformed SIP message from %s:%s: %s", *address[:2], e)
            return
        try:
            self._handler(message, address)
        except CarrierError as e:
            log.debug("SIP message from %s:%s rejected: %s", *address[:2], e)
        except Exception:  # a bug in handling one message must not close the socket
            log.warning(
                "SIP %s from %s:%s could not be handled",
                message.summary(),
                *address[:2],
                exc_info=True,
            )


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, owner: UdpSipTransport) -> None:
        self._owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if data.strip(b"\r\n"):  # CRLF keep-alives carry nothing
            self._owner._deliver(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("SIP UDP socket error: %s", exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._owner._closed.set()


class UdpSipTransport(SipTransport):
    protocol = "UDP"
    reliable = False

    def __init__(self, handler: MessageHandler) -> None:
        super().__init__(handler)
        self._udp: asyncio.DatagramTransport | None = None
        self._closed = asyncio.Event()

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(host, port)
            )
        except OSError as e:
            raise CarrierError(f"cannot bind SIP UDP port {host}:{port}: {e}") from e
        self._udp = udp
        _enlarge_buffers(udp.get_extra_info("socket"))
        sockname = udp.get_extra_info("sockname")
        self.local_address = (sockname[0], sockname[1])

    async def send(self, message: SipMessage, address: Address) -> None:
        if self._udp is None or self._udp.is_closing():
            raise CarrierError("SIP UDP transport is closed")
        self._udp.sendto(message.to_bytes(), address)

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
            await asyncio.wait_for(self._closed.wait(), 1.0)  # the socket is really closed


class TcpSipTransport(SipTransport):
    """Listens for inbound connections and opens outbound ones on demand, one per peer."""

    protocol = "TCP"
    reliable = True

    def __init__(self, handler: MessageHandler) -> None:
        super().__init__(handler)
        self._server: asyncio.Server | None = None
        self._writers: dict[Address, asyncio.StreamWriter] = {}
        self._readers: set[asyncio.Task[None]] = set()
        self._connect_lock = asyncio.Lock()

    async def start(self, host: str, port: int) -> None:
        try:
            self._server = await asyncio.start_server(self._accepted, host, port)
        except OSError as e:
            raise CarrierError(f"cannot listen on SIP TCP port {host}:{port}: {e}") from e
        sockname = self._server.sockets[0].getsockname()
        self.local_address = (sockname[0], sockname[1])

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        await self._read_loop((peer[0], peer[1]), reader, writer)

    def _track(
        self, address: Address, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers[address] = writer
        task = asyncio.create_task(self._read_loop(address, reader, writer))
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)

    async def _read_loop(
        self, address: Address, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._writers[address] = writer
        framer = StreamFramer()
        try:
            while data := await reader.read(65536):
                for raw in framer.feed(data):
                    self._deliver(raw, address)
        except SipParseError as e:
            log.debug("closing SIP TCP connection from %s:%s: %s", *address, e)
        except (ConnectionError, OSError) as e:
            log.debug("SIP TCP connection %s:%s failed: %s", *address, e)
        finally:
            if self._writers.get(address) is writer:
                del self._writers[address]
            writer.close()

    async def _writer_for(self, address: Address) -> asyncio.StreamWriter:
        async with self._connect_lock:
            existing = self._writers.get(address)
            if existing is not None and not existing.is_closing():
                return existing
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(address[0], address[1]), CONNECT_TIMEOUT_S
                )
            except (OSError, TimeoutError) as e:
                raise CarrierError(
                    f"cannot connect to SIP peer {address[0]}:{address[1]}: {e}"
                ) from e
            self._track(address, reader, writer)
            return writer

    async def send(self, message: SipMessage, address: Address) -> None:
        writer = await self._writer_for(address)
        writer.write(message.to_bytes())
        try:
            await writer.drain()
        except (ConnectionError, OSError) as e:
            raise CarrierError(f"SIP TCP send to {address[0]}:{address[1]} failed: {e}") from e

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers.values()):
            writer.close()
        for task in list(self._readers):
            task.cancel()
        for task in list(self._readers):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
        self._writers.clear()


async def open_transport(
    protocol: str, host: str, port: int, handler: MessageHandler
) -> SipTransport:
    """Bind a UDP or TCP transport on ``host:port`` (port 0 picks a free one)."""
    transport: UdpSipTransport | TcpSipTransport
    if protocol.lower() == "udp":
        transport = UdpSipTransport(handler)
    elif protocol.lower() == "tcp":
        transport = TcpSipTransport(handler)
    else:
        raise CarrierError(f"SIP transport {protocol!r} is not supported (use udp or tcp)")
    await transport.start(host, port)
    return transport


def _enlarge_buffers(sock: socket.socket | None) -> None:
    if sock is None:
        return
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, UDP_BUFFER_BYTES)
        except OSError as e:  # the kernel caps it at net.core.[rw]mem_max; that is fine
            log.debug("cannot enlarge the SIP socket buffer: %s", e)
