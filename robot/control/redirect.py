"""``redirect`` and a ``gather``'s ``action_url``: fetch a call's next actions from a URL.

:class:`NextActions` asks the URL the way the routing request asks the number's
``routing_url`` (:func:`robot.control.routing.ask_for_actions`: the same signature with the
number's ``routing_secret``, the same budget, size, time and JSON-depth limits, one retry of a
refused connection, a 429 or a 503). The request is an event of type ``call.redirect`` whose
``data`` holds the routing request's fields (call id, from, to, time zone, local time, SIP
``X-`` headers) and what the call gathered so far: ``digits``, ``speech`` and ``confidence`` of
the latest ``gather``, every gather in ``gathers``, and ``redirect`` (1 for the first).
The answer has the routing answer's shape, ``{"actions": [...]}``, and its actions replace
whatever was left of the list.

A failure has one behaviour: a ``redirect.failed`` event (the URL, the index of the action in
its list and why: ``no complete answer within 4 s``, ``invalid answer:
actions[1].gather.timeout_s: ...``), then the call is hung up. At most
:data:`MAX_REDIRECTS` are followed per call; one more fails the same way, so a loop of
redirects ends with a clear event instead of running forever.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from models.webhook import EventType
from robot.control.actions import Action
from robot.control.routing import InboundCall, RoutingClient, RoutingFailure, ask_for_actions
from robot.crm.outbox import new_event_id
from robot.errors import CallrobotError

if TYPE_CHECKING:
    from robot.control.events import LegEvents
    from robot.control.runner import GatherResult

logger = logging.getLogger(__name__)

__all__ = ["MAX_REDIRECTS", "REDIRECT_EVENT_TYPE", "NextActions", "RedirectError"]

#: Redirects (and gather ``action_url`` requests) followed per call.
MAX_REDIRECTS = 10
#: ``type`` of a redirect request's body.
REDIRECT_EVENT_TYPE = "call.redirect"


class RedirectError(CallrobotError):
    """No usable actions came from a redirect; the message names the action and why."""


@dataclass
class NextActions:
    """Where an inbound call's ``redirect`` and gather ``action_url`` get their actions."""

    router: RoutingClient
    #: The called number's row (``routing_secret``, ``time_zone``...).
    number: Any
    call: InboundCall
    events: LegEvents | None = None
    max_redirects: int = MAX_REDIRECTS
    #: Redirects asked so far on this call.
    count: int = 0
    #: ``(url, "ok" or the error)`` per redirect, in order.
    followed: list[tuple[str, str]] = field(default_factory=list)

    async def fetch(
        self,
        url: str,
        method: str,
        gathers: list[GatherResult],
        *,
        index: int,
        check: Callable[[list[Action]], Awaitable[None]] | None = None,
    ) -> list[Action]:
        """The actions ``url`` answers for action ``index``; ``check`` refuses actions that
        cannot run. On failure: the ``redirect.failed`` event, then :class:`RedirectError`."""
        self.count += 1
        try:
            if self.count > self.max_redirects:
                raise RedirectError(
                    f"more than {self.max_redirects} redirects on one call (a redirect loop?)"
                )
            actions = await self._ask(url, method, gathers)
            if check is not None:
                await check(actions)
        except (RoutingFailure, CallrobotError) as e:
            reason = str(e)
            self.followed.append((url, reason))
            logger.warning("call %s: redirect %d failed: %s", self.call.call_id, self.count, e)
            if self.events is not None:
                self.events.emit(
                    EventType.REDIRECT_FAILED,
                    url=url,
                    action_index=index,
                    redirect=self.count,
                    error=reason[:500],
                )
            raise RedirectError(f"actions[{index}]: redirect to {url} failed: {reason}") from e
        self.followed.append((url, "ok"))
        return actions

    async def _ask(self, url: str, method: str, gathers: list[GatherResult]) -> list[Action]:
        event_id = new_event_id()
        attempts = itertools.count(1)
        extra = gathered_fields(gathers) | {"redirect": self.count}

        def body() -> bytes:
            return self.router.request_body(
                self.number,
                self.call,
                event_id,
                next(attempts),
                "redirect",
                event_type=REDIRECT_EVENT_TYPE,
                extra=extra,
            )

        routing = await ask_for_actions(
            self.router, url, self.number.routing_secret, event_id, body, method=method
        )
        return routing.actions


def gathered_fields(gathers: list[GatherResult]) -> dict[str, Any]:
    """What a call gathered, as sent with a redirect: the latest gather's ``digits``,
    ``speech`` and ``confidence`` (None before any), and all of them in ``gathers``."""
    last = gathers[-1] if gathers else None
    return {
        "digits": last.digits if last is not None else None,
        "speech": last.speech if last is not None else None,
        "confidence": last.confidence if last is not None else None,
        "gathers": [
            {"digits": g.digits, "reason": g.reason, "speech": g.speech, "confidence": g.confidence}
            for g in gathers
        ],
    }
