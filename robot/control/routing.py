"""The routing request of an inbound call: ask the customer's server what the call should do.

For a call to one of a tenant's numbers, :class:`RoutingClient` POSTs a signed request
(``Callrobot-Signature``, the same as CRM webhooks, keyed with the number's
``routing_secret``) to the number's ``routing_url``. The body is an event
``{"id", "type": "call.routing", "created_at", "data"}`` whose ``data`` holds the attempt,
call id, from, to, the number's time zone and local time, and the call's SIP ``X-`` headers.
The answer is ``{"actions": [...], "status_callback"?, "events"?}``.

Each URL gets one budget (:class:`RoutingBudget`: 1 s to connect, 4 s in all by default),
read with :func:`robot.http_limits.read_answer`'s size, time and JSON caps; a connection
error, 429 or 503 is tried once more within it. When the routing URL fails (no answer in
time, an error status, an invalid answer) the ``fallback_url`` is asked the same way, then
the number's ``default_actions`` run. Each fallback queues a ``routing.fallback_used`` event
in the outbox. Phone numbers are never logged above DEBUG.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy.engine import Engine

from models.transactions import DatabaseError, write_transaction
from models.types import utc_now
from models.webhook import EventType
from robot.control.actions import Action, parse_actions
from robot.crm.outbox import enqueue_event, event_body, new_event_id
from robot.crm.signing import EVENT_ID_HEADER, SIGNATURE_HEADER, sign
from robot.crm.urls import check_webhook_url
from robot.errors import CallrobotError, ValidationError
from robot.http_limits import AnswerError, AnswerUnreachableError, BoundedAnswer, read_answer
from robot.input_limits import InputLimits
from robot.windows import zone_info

logger = logging.getLogger(__name__)

__all__ = [
    "ROUTING_EVENT_TYPE",
    "STATUS_EVENTS",
    "InboundCall",
    "Routing",
    "RoutingBudget",
    "RoutingClient",
    "RoutingFailure",
    "ask_for_actions",
    "parse_routing_answer",
]

#: ``type`` of the routing request's body.
ROUTING_EVENT_TYPE = "call.routing"
USER_AGENT = "callrobot-routing/1"
#: Answers tried once more within the budget (besides connection errors).
RETRY_STATUSES = frozenset({429, 503})
#: Call progress events a routing answer may ask for at its ``status_callback``.
STATUS_EVENTS = frozenset(
    {
        "call.initiated",
        "call.ringing",
        "call.answered",
        "call.bridged",
        "call.completed",
        "gather.completed",
    }
)
#: SIP headers sent along: ``X-`` headers only, at most this many, each value cut at 256.
MAX_SIP_HEADERS = 32
_HEADER_NAME = re.compile(r"^X-[A-Za-z0-9\-]{1,64}$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RoutingBudget:
    """Time allowed to each URL (routing, then fallback), retry included."""

    #: Seconds to open the connection.
    connect_s: float = 1.0
    #: Seconds for the whole exchange, connection to last byte, both tries together.
    total_s: float = 4.0


@dataclass(frozen=True, slots=True)
class InboundCall:
    #: The call's id (also in the events about it).
    call_id: str
    from_number: str
    to_number: str
    #: The INVITE's headers; only ``X-`` headers are sent on.
    sip_headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= len(self.call_id) <= 40:
            raise ValidationError("call_id: 1 to 40 characters")

    def x_headers(self) -> dict[str, str]:
        picked = {k: v[:256] for k, v in self.sip_headers.items() if _HEADER_NAME.match(k)}
        return dict(list(picked.items())[:MAX_SIP_HEADERS])


@dataclass(frozen=True, slots=True)
class Routing:
    """What the call does, and where that came from."""

    actions: list[Action]
    #: ``routing_url``, ``fallback_url`` or ``default_actions``.
    source: str
    status_callback: str | None = None
    events: tuple[str, ...] = ()
    #: Why earlier sources failed, in order (URLs and reasons, no phone numbers).
    failures: tuple[str, ...] = ()


class RoutingFailure(CallrobotError):
    """One URL gave no usable answer; the message says why."""


class _AnswerShape(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actions: list[Any]
    status_callback: str | None = Field(default=None, min_length=1, max_length=2000)
    events: list[str] = Field(default_factory=list, max_length=len(STATUS_EVENTS))


def parse_routing_answer(data: Any, *, allow_private: bool) -> Routing:
    """A routing answer's JSON as a :class:`Routing`; ValidationError naming the field."""
    if not isinstance(data, dict):
        raise ValidationError("answer: expected a JSON object with actions")
    try:
        shape = _AnswerShape.model_validate(data)
    except PydanticValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "answer"
        raise ValidationError(f"{where}: {first['msg']}") from e
    actions = parse_actions(shape.actions, field="actions")
    callback = shape.status_callback
    if callback is not None:
        try:
            check_webhook_url(callback, allow_private=allow_private)
        except ValidationError as e:
            raise ValidationError(f"status_callback: {str(e).removeprefix('url: ')}") from e
    for index, name in enumerate(shape.events):
        if name not in STATUS_EVENTS:
            known = ", ".join(sorted(STATUS_EVENTS))
            raise ValidationError(f"events[{index}]: unknown event {name!r} (known: {known})")
    return Routing(actions, "", callback, tuple(dict.fromkeys(shape.events)))


class RoutingClient:
    """Routes inbound calls; one instance serves many calls (it shares ``client``)."""

    def __init__(
        self,
        engine: Engine,
        client: httpx.AsyncClient,
        *,
        budget: RoutingBudget | None = None,
        allow_private: bool | None = None,
        limits: InputLimits | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        from robot.config import get_settings

        settings = get_settings()
        self.engine = engine
        self.client = client
        self.budget = budget or RoutingBudget()
        self.allow_private = (
            settings.webhooks_allow_private if allow_private is None else allow_private
        )
        self.limits = limits or settings.input_limits
        self.clock = clock

    async def route(self, number: Any, call: InboundCall) -> Routing:
        """The actions for ``call`` to ``number`` (a ``phone_number`` row); never raises
        for a customer's server: the worst case is the number's default actions."""
        event_id = new_event_id()
        attempts = itertools.count(1)
        failures: list[str] = []
        sources = [(s, getattr(number, s)) for s in ("routing_url", "fallback_url")]
        for source, url in sources:
            if not url:
                continue
            try:
                routing = await self._ask(number, call, url, event_id, attempts, source)
            except RoutingFailure as e:
                failures.append(f"{source}: {e}")
                next_source = (
                    "fallback_url"
                    if source == "routing_url" and number.fallback_url
                    else "default_actions"
                )
                logger.warning(
                    "routing of call %s: %s failed (%s); using %s",
                    call.call_id,
                    source,
                    e,
                    next_source,
                )
                await self._record_fallback(number, call, source, next_source, str(e))
                continue
            return Routing(
                routing.actions,
                source,
                routing.status_callback,
                routing.events,
                tuple(failures),
            )
        actions = parse_actions(list(number.default_actions or []), field="default_actions")
        return Routing(actions, "default_actions", failures=tuple(failures))

    def request_body(
        self,
        number: Any,
        call: InboundCall,
        event_id: str,
        attempt: int,
        source: str,
        *,
        event_type: str = ROUTING_EVENT_TYPE,
        extra: Mapping[str, Any] | None = None,
    ) -> bytes:
        """The exact bytes POSTed for one attempt (signed as they are); ``extra`` fields
        (what the call gathered, for ``redirect``) are added to ``data``."""
        now = self.clock()
        data = {
            "attempt": attempt,
            "source": source,
            "call_id": call.call_id,
            "number_id": number.id,
            "from": call.from_number,
            "to": call.to_number,
            "time_zone": number.time_zone,
            "local_time": now.astimezone(zone_info(number.time_zone)).isoformat(),
            "sip_headers": call.x_headers(),
            **(extra or {}),
        }
        return event_body(event_id, event_type, now, data).encode("utf-8")

    async def _ask(
        self,
        number: Any,
        call: InboundCall,
        url: str,
        event_id: str,
        attempts: Iterator[int],
        source: str,
    ) -> Routing:
        """One URL's answer, with one retry within the budget; RoutingFailure otherwise."""
        return await ask_for_actions(
            self,
            url,
            number.routing_secret,
            event_id,
            lambda: self.request_body(number, call, event_id, next(attempts), source),
        )

    async def _record_fallback(
        self, number: Any, call: InboundCall, failed: str, used: str, reason: str
    ) -> None:
        data = {
            "call_id": call.call_id,
            "number_id": number.id,
            "number": number.number,
            "failed": failed,
            "used": used,
            "reason": reason[:500],
        }

        def write() -> None:
            with write_transaction(self.engine) as conn:
                enqueue_event(
                    conn,
                    tenant_id=number.tenant_id,
                    event_type=EventType.ROUTING_FALLBACK_USED,
                    data=data,
                    ordering_key=f"call:{call.call_id}"[:64],
                    dedupe_key=f"call:{call.call_id}:{EventType.ROUTING_FALLBACK_USED}:{failed}",
                )

        try:
            await asyncio.to_thread(write)
        except DatabaseError as e:
            # The call goes on with its fallback; only the report of it is lost.
            logger.error("routing of call %s: fallback event not recorded: %s", call.call_id, e)


async def ask_for_actions(
    router: RoutingClient,
    url: str,
    secret: str,
    event_id: str,
    next_body: Callable[[], bytes],
    *,
    method: str = "POST",
) -> Routing:
    """Ask one customer URL for actions (the routing request, ``redirect``, a ``gather``'s
    ``action_url``): a signed request whose body ``next_body`` builds for each try, read
    within ``router``'s budget and input limits; a connection error, 429 or 503 is tried
    once more within the budget. The answer is a routing answer (``{"actions": [...]}``).

    ``GET`` sends the event's fields as query parameters instead (after the URL's own), and
    signs the whole query string. Raises :class:`RoutingFailure` saying why (the URL, and
    for an invalid answer the field: ``actions[1].gather.timeout_s: ...``).
    """
    loop = asyncio.get_running_loop()
    budget = router.budget
    deadline = loop.time() + budget.total_s
    if not router.allow_private:  # resolved again now: the name may point elsewhere today
        try:
            async with asyncio.timeout(budget.total_s):
                await asyncio.to_thread(check_webhook_url, url, allow_private=False)
        except ValidationError as e:
            raise RoutingFailure(f"refused: {e}") from e
        except TimeoutError as e:
            raise RoutingFailure(f"{url}: the host did not resolve in time") from e
    for tries in (1, 2):
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise RoutingFailure(f"{url}: no answer within {budget.total_s:g} s")
        body = next_body()
        headers = {"User-Agent": USER_AGENT, EVENT_ID_HEADER: event_id}
        target = url
        request: dict[str, Any] = {"content": body}
        if method == "GET":
            target, request = f"{url}{'&' if '?' in url else '?'}{_query_of(body)}", {}
            signed = urlsplit(target).query  # the whole query, the URL's own fields too
            headers[SIGNATURE_HEADER] = sign(secret, signed.encode("ascii"))
        else:
            headers["Content-Type"] = "application/json"
            headers[SIGNATURE_HEADER] = sign(secret, body)
        try:
            answer = await read_answer(
                router.client,
                method,
                target,
                headers=headers,
                limits=router.limits,
                timeout_s=budget.total_s,
                deadline=deadline,
                connect_timeout_s=budget.connect_s,
                **request,
            )
        except AnswerUnreachableError as e:
            if tries == 1:
                continue
            raise RoutingFailure(_without_query(str(e), target, url)) from e
        except AnswerError as e:
            raise RoutingFailure(_without_query(str(e), target, url)) from e
        if answer.status_code in RETRY_STATUSES and tries == 1:
            continue
        return await _read(answer, url, router.allow_private)
    raise AssertionError("unreachable")  # pragma: no cover


def _query_of(body: bytes) -> str:
    """A request body's event as query parameters (``id``, ``type`` and ``data``'s fields;
    lists and objects as JSON)."""
    event = json.loads(body)
    params = {"id": event["id"], "type": event["type"]}
    for key, value in event["data"].items():
        if value is not None:
            params[key] = value if isinstance(value, str) else json.dumps(value)
    return urlencode(params)


def _without_query(message: str, target: str, url: str) -> str:
    return message.replace(target, url)  # the query holds phone numbers: never in a reason


async def _read(answer: BoundedAnswer, url: str, allow_private: bool) -> Routing:
    if not 200 <= answer.status_code < 300:
        raise RoutingFailure(f"{url}: HTTP {answer.status_code}")
    try:
        data = answer.json()
        return await asyncio.to_thread(parse_routing_answer, data, allow_private=allow_private)
    except (AnswerError, ValidationError) as e:
        message = str(e).removeprefix(f"{answer.url}: ")
        raise RoutingFailure(f"{url}: invalid answer: {message}") from e
