"""Reading answers from customers' servers with a size cap, a total time cap and a JSON cap.

A customer's server (a CRM receiving webhooks, a Rasa server, and for call control the
routing webhook and ``redirect``) may be slow, broken or hostile. :func:`read_answer` gives
it one budget for the whole exchange, connect to last byte: a server that sends one byte a
second is cut at the deadline, a body past ``max_bytes`` is refused as soon as it crosses the
cap, and :meth:`BoundedAnswer.json` refuses JSON nested deeper than allowed. Every failure is
an :class:`AnswerError` subclass saying which limit was hit.

The total deadline is an ``asyncio`` timeout around the whole request, so cancellation
closes the connection wherever it is (even while headers trickle in). Blocking callers use
:class:`BlockingAnswerReader`, which runs the same coroutine on its own event-loop thread.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx

from robot.errors import CallrobotError, ValidationError
from robot.input_limits import InputLimits, setting_name
from robot.json_limits import loads_bounded

__all__ = [
    "AnswerError",
    "AnswerJsonError",
    "AnswerTimeoutError",
    "AnswerTooLargeError",
    "AnswerUnreachableError",
    "BlockingAnswerReader",
    "BoundedAnswer",
    "read_answer",
]


class AnswerError(CallrobotError):
    """A customer's server did not give a usable answer within the limits."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url


class AnswerTimeoutError(AnswerError):
    """The whole answer did not arrive before the deadline."""


class AnswerTooLargeError(AnswerError):
    """The answer's body is larger than allowed."""


class AnswerJsonError(AnswerError):
    """The answer is not JSON, or is nested deeper than allowed."""


class AnswerUnreachableError(AnswerError):
    """The server could not be reached or broke the connection."""


@dataclass(frozen=True, slots=True)
class BoundedAnswer:
    url: str
    status_code: int
    headers: httpx.Headers
    body: bytes = b""
    #: True when reading stopped at the cap (only with ``truncate=True``).
    truncated: bool = False
    #: Limits the answer was read under (for :meth:`json`).
    limits: InputLimits = field(default_factory=InputLimits)

    def json(self, max_depth: int | None = None) -> Any:
        """The body as JSON; :class:`AnswerJsonError` when malformed or nested too deep."""
        depth = max_depth if max_depth is not None else self.limits.answer_max_json_depth
        try:
            return loads_bounded(
                self.body,
                max_depth=depth,
                source="answer",
                setting=setting_name("answer_max_json_depth"),
            )
        except ValidationError as e:
            raise AnswerJsonError(self.url, str(e)) from e


async def read_answer(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    limits: InputLimits | None = None,
    timeout_s: float | None = None,
    deadline: float | None = None,
    connect_timeout_s: float | None = None,
    max_bytes: int | None = None,
    truncate: bool = False,
    **request: Any,
) -> BoundedAnswer:
    """Send one request and read its answer within ``timeout_s`` total and ``max_bytes``.

    ``timeout_s`` and ``max_bytes`` default to the ``answer_*`` input limits. A caller that
    spent part of its time budget already passes ``deadline`` (event-loop time) too: the
    request ends there, and errors still state the whole ``timeout_s``. With
    ``connect_timeout_s`` a connection not made within it fails sooner, as unreachable. With
    ``truncate=True`` a longer body is cut at ``max_bytes`` instead of refused (an answer
    whose body does not matter, like a webhook's). Raises :class:`AnswerTimeoutError`,
    :class:`AnswerTooLargeError` or :class:`AnswerUnreachableError`.
    """
    limits = limits or _current_limits()
    total_s = timeout_s if timeout_s is not None else limits.answer_timeout_s
    cap = max_bytes if max_bytes is not None else limits.answer_max_bytes
    loop = asyncio.get_running_loop()
    end = deadline if deadline is not None else loop.time() + total_s
    left_s = max(end - loop.time(), 0.001)
    connect_s = min(connect_timeout_s, left_s) if connect_timeout_s is not None else left_s
    timeout = httpx.Timeout(left_s, connect=connect_s)
    try:
        async with asyncio.timeout_at(end):
            async with client.stream(method, url, timeout=timeout, **request) as response:
                body, cut = await _read_capped(response, url, cap, truncate)
                return BoundedAnswer(url, response.status_code, response.headers, body, cut, limits)
    except TimeoutError as e:  # asyncio's deadline, whatever the request was doing
        raise AnswerTimeoutError(url, f"no complete answer within {total_s:g} s") from e
    except httpx.ConnectTimeout as e:
        if connect_s >= left_s:
            raise AnswerTimeoutError(url, f"no complete answer within {total_s:g} s") from e
        raise AnswerUnreachableError(url, f"no connection within {connect_s:g} s") from e
    except httpx.TimeoutException as e:
        raise AnswerTimeoutError(url, f"no complete answer within {total_s:g} s") from e
    except httpx.HTTPError as e:
        raise AnswerUnreachableError(url, f"{e.__class__.__name__}: {e}") from e


async def _read_capped(
    response: httpx.Response, url: str, cap: int, truncate: bool
) -> tuple[bytes, bool]:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap and not truncate:
        raise AnswerTooLargeError(url, _too_large(f"declares {declared} bytes", cap))
    received = bytearray()
    async for chunk in response.aiter_bytes():
        received += chunk
        if len(received) > cap:
            if truncate:
                return bytes(received[:cap]), True
            raise AnswerTooLargeError(url, _too_large(f"sent more than {cap} bytes", cap))
    return bytes(received), False


def _too_large(what: str, cap: int) -> str:
    return f"the answer {what}; at most {cap} are read (limit {setting_name('answer_max_bytes')})"


class BlockingAnswerReader:
    """:func:`read_answer` for blocking code: one event-loop thread and one client, reused.

    ``close()`` (or ``with``) stops the thread. Each call blocks its caller until the answer
    is read or refused; the deadline holds however the server behaves.
    """

    def __init__(self, **client_options: Any) -> None:
        self._client_options = client_options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> BlockingAnswerReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="answer-reader", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def _read(self, method: str, url: str, options: dict[str, Any]) -> BoundedAnswer:
        if self._client is None:
            self._client = httpx.AsyncClient(**self._client_options)
        return await read_answer(self._client, method, url, **options)

    def read(self, method: str, url: str, **options: Any) -> BoundedAnswer:
        """Like :func:`read_answer` (same options), blocking."""
        loop = self._start()
        return asyncio.run_coroutine_threadsafe(self._read(method, url, options), loop).result()

    def close(self) -> None:
        with self._lock:
            loop, thread, client = self._loop, self._thread, self._client
            self._loop = self._thread = self._client = None
        if loop is None:
            return
        if client is not None:
            asyncio.run_coroutine_threadsafe(client.aclose(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join()
        loop.close()


def _current_limits() -> InputLimits:
    from robot.config import get_settings

    return get_settings().input_limits
