"""Runs a list of actions on a call: say, play, pause, gather, hangup, and dial with a bridge.

:class:`ActionRunner` works on any :class:`~robot.carriers.base.Call` (the ``sim`` carrier's
or a SIP call). Each leg's control events and audio are read by background tasks from the
start, so a key pressed while a prompt plays waits for the next ``gather``, a hang-up
stops the action under way at once, and audio never piles up unread. ``dial`` rings every
target through the carrier; the first to answer (hearing its ``whisper`` and pressing its
``confirm`` key when asked) is bridged: each leg's audio is played into the other until one
side hangs up or ``time_limit_s`` passes. While the targets ring the caller hears ringback
(:mod:`robot.control.tones`), never silence, unless a target sends early media (a 183 with
audio: an announcement, its own ringback): the caller then hears that instead. The caller's
leg then goes on with the next action; the end of the list hangs up. An inbound caller's leg
handed in still ringing (:class:`~robot.control.ringing.Ringing`) is answered just before the
first action that needs it; a ``dial`` with ``answer_on_bridge`` keeps it ringing until a
target is bridged, and a list that ends while it still rings refuses it with a SIP final
response (486, 480...) instead of answering it. ``play`` of a ``media_id`` loads the tenant's
upload through the runner's :class:`MediaLoader` (an id the tenant has not uploaded refuses
the whole list before anything plays); of a ``url`` it fetches the file
(:mod:`robot.control.media_url`), skipped, the list going on, when that fails. With
``events`` (:class:`~robot.control.events.LegEvents`) every leg reports its progress
(initiated, ringing, answered, DTMF, bridged, completed) and each ``dial`` its
``dial.completed``. ``conference`` (given the process's
:class:`~robot.control.conference_rooms.ConferenceRooms` and the call's tenant) puts the call in
the named room until it leaves it (the room ends, a kick, a hang-up), then goes on.
``redirect`` and a gather's ``action_url`` replace the rest of the list with the actions a URL
answers (:mod:`robot.control.redirect`); ``robot`` runs a dialogue script on the call
(:mod:`robot.control.robot_leg`); a ``gather`` with ``speech`` also listens
(:mod:`robot.control.speech_gather`).

``record`` (the caller's message) and ``dial``'s ``record`` (the bridge) are recorded by
:mod:`robot.control.recorder`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Protocol

from models.webhook import EventType
from robot.audio import TELEPHONY_RATE_HZ, AudioChunk
from robot.carriers.base import Call, Carrier
from robot.control.actions import (
    Action,
    ActionError,
    Conference,
    Dial,
    Gather,
    Hangup,
    Pause,
    Play,
    Record,
    Redirect,
    RobotScript,
    Say,
)
from robot.control.dialling import DialResult, run_dial
from robot.control.events import LegEvents
from robot.control.leg import Leg
from robot.control.media_store import missing_media
from robot.control.media_url import UrlMedia, shared_url_media
from robot.control.recorder import RecordingResult, record_caller
from robot.control.redirect import NextActions, RedirectError
from robot.control.ringing import Ringing, refusal
from robot.errors import CallrobotError
from robot.speaking import PromptSource

if TYPE_CHECKING:
    from robot.control.conference_rooms import ConferenceRooms
    from robot.control.robot_leg import RobotResult, RobotScripts
    from robot.control.speech_gather import SpeechGatherer

logger = logging.getLogger(__name__)

__all__ = [
    "ActionRunner",
    "DialResult",
    "GatherResult",
    "Leg",
    "RunResult",
    "UnsupportedActionError",
]

RUNNABLE = (Say, Play, Pause, Gather, Hangup, Dial, Conference, Record, Redirect, RobotScript)


class MediaLoader(Protocol):
    """Where ``play`` finds its audio (:class:`robot.control.media_store.StoredMedia`)."""

    async def missing(self, media_ids: Collection[str]) -> set[str]:
        """The ids of ``media_ids`` that cannot be played (unknown, another tenant's)."""
        ...

    async def load(self, play: Play) -> AudioChunk | None:
        """The audio ``play`` names; None when there is none to play (it is skipped)."""
        ...


class UnsupportedActionError(CallrobotError):
    """The list holds an action this runner cannot run yet; the message names its index."""


@dataclass(frozen=True, slots=True)
class GatherResult:
    digits: str
    #: ``finish_key``, ``max_digits``, ``timeout``, ``hangup`` or ``speech``.
    reason: str
    #: What the caller said (a gather with ``speech``), and the recogniser's confidence 0..1.
    speech: str | None = None
    confidence: float | None = None


@dataclass
class RunResult:
    #: ``hangup`` (an action), ``remote`` (the caller hung up), ``end_of_list``,
    #: ``redirect_failed`` or ``robot`` (the script hung up).
    ended_by: str = "end_of_list"
    #: Index of the last action started (in the list fetched last, after a redirect).
    last_index: int = -1
    gathers: list[GatherResult] = field(default_factory=list)
    dials: list[DialResult] = field(default_factory=list)
    #: Per ``conference`` action: why the call left the room (``conference_ended``,
    #: ``kicked``, ``hangup``...).
    conferences: list[str] = field(default_factory=list)
    #: Per ``robot`` action: how its script ended.
    robots: list[RobotResult] = field(default_factory=list)
    #: Per ``record`` action: the message stored, or None (nothing recorded).
    recordings: list[RecordingResult | None] = field(default_factory=list)


def _needs(action: Action) -> tuple[str, str] | None:
    """``(attribute, message)``: what ``action`` needs of the runner to run, if anything."""
    if isinstance(action, Redirect) or (isinstance(action, Gather) and action.action_url):
        return "next_actions", f"{action.kind} needs a call with a routing URL's number"
    if isinstance(action, Gather) and action.speech is not None:
        return "speech", "gather with speech needs a speech recogniser"
    if isinstance(action, RobotScript):
        return "robots", "robot needs the call engine and the tenant's scripts"
    if isinstance(action, Play) and action.media_id is not None:
        return "media", "play with media_id needs the tenant's uploaded media"
    return None


def _keeps_ringing(action: Action) -> bool:
    """Whether a caller who still rings may go on ringing through ``action``."""
    return isinstance(action, Hangup) or (isinstance(action, Dial) and action.answer_on_bridge)


def _silence(ms: int) -> AudioChunk:
    return AudioChunk(bytes(2 * (TELEPHONY_RATE_HZ * ms // 1000)), TELEPHONY_RATE_HZ)


class ActionRunner:
    """Plays actions on one answered call; ``carrier`` places the legs of ``dial``."""

    def __init__(
        self,
        call: Call,
        voice: PromptSource,
        *,
        carrier: Carrier | None = None,
        media: MediaLoader | None = None,
        conferences: ConferenceRooms | None = None,
        tenant_id: int | None = None,
        events: LegEvents | None = None,
        leg: Leg | None = None,
        next_actions: NextActions | None = None,
        robots: RobotScripts | None = None,
        speech: SpeechGatherer | None = None,
        ringing: Ringing | None = None,
        urls: UrlMedia | None = None,
    ) -> None:
        """``leg``: the call's :class:`Leg` when its caller already reads it (else a new one
        reporting to ``events``). ``next_actions`` serves ``redirect`` and ``action_url``,
        ``robots`` the ``robot`` action, ``speech`` a gather with ``speech``. ``ringing``: the
        call still rings (an inbound call) and is answered when its actions need it. ``urls``
        fetches ``play`` of a ``url`` (the process's shared cache when not given)."""
        self.leg = leg if leg is not None else Leg(call, events)
        self.voice = voice
        self.carrier = carrier
        self.media = media
        self.conferences = conferences
        self.tenant_id = tenant_id
        self.next_actions = next_actions
        self.robots = robots
        self.speech = speech
        self.ringing = ringing
        self.urls = urls

    async def run(self, actions: list[Action]) -> RunResult:
        """Run ``actions`` in order until a hang-up (either side) or the end of the list."""
        try:
            await self.check(actions)
            return await self._run(actions)
        finally:
            await self.leg.close()

    async def check(self, actions: list[Action]) -> None:
        """Refuse ``actions`` when one cannot run (the error names its index): an action this
        runner lacks the means for, or a ``play`` of media the tenant has not uploaded."""
        self._check(actions)
        plays = [(i, a) for i, a in enumerate(actions) if isinstance(a, Play) and a.media_id]
        if not plays:
            return
        assert self.media is not None  # _check refused the list otherwise
        missing = await self.media.missing({str(a.media_id) for _, a in plays})
        problems = missing_media(actions, missing)
        if problems:
            raise ActionError(problems)

    async def say(self, text: str) -> bool:
        """Say ``text`` on the call; False when the call ended first."""
        return await self._say(self.leg, text)

    async def dial(self, dial: Dial) -> DialResult:
        """Run one ``dial`` (ring, ringback, whisper, bridge) on the call; the call stays up."""
        if self.carrier is None:
            raise UnsupportedActionError("dial needs a carrier")
        return await run_dial(self, dial)

    def _check(self, actions: list[Action]) -> None:
        for index, action in enumerate(actions):
            if not isinstance(action, RUNNABLE):
                raise UnsupportedActionError(f"actions[{index}]: {action.kind} cannot be run yet")
            needs = _needs(action)
            if needs is not None and getattr(self, needs[0]) is None:
                raise UnsupportedActionError(f"actions[{index}]: {needs[1]}")
            if isinstance(action, Dial) and self.carrier is None:
                raise UnsupportedActionError(f"actions[{index}]: dial needs a carrier")
            if isinstance(action, Conference) and (
                self.conferences is None or self.tenant_id is None
            ):
                raise UnsupportedActionError(
                    f"actions[{index}]: conference needs the conference rooms and a tenant"
                )

    async def _run(self, actions: list[Action]) -> RunResult:
        result = RunResult()
        index = 0
        while index < len(actions):
            action = actions[index]
            if self.leg.ended.is_set():
                result.ended_by = "remote"
                break
            result.last_index = index
            needs_answer = self.ringing is not None and not _keeps_ringing(action)
            if needs_answer and not await self._pick_up():
                result.ended_by = "remote"
                break
            if isinstance(action, Hangup):
                await self._end(result)
                result.ended_by = "hangup"
                break
            try:
                following = await self._run_one(action, result, index)
            except RedirectError:
                result.ended_by = "redirect_failed"
                break
            if following is not None:  # a redirect: its actions replace the rest of the list
                actions, index = following, 0
                continue
            if isinstance(action, RobotScript) and result.robots[-1].hung_up:
                result.ended_by = "remote" if result.robots[-1].caller_hung_up else "robot"
                break
            index += 1
        else:
            if self.leg.ended.is_set():
                result.ended_by = "remote"
        await self._end(result)
        return result

    async def _pick_up(self) -> bool:
        """Answer the caller who still rings; False when the caller is gone."""
        ringing, self.ringing = self.ringing, None
        if ringing is None:
            return True
        if self.leg.ended.is_set():
            return False
        try:
            await ringing.answer()
        except CallrobotError as e:
            logger.info("call %s: could not answer: %s", self.leg.call.call_id, e)
            return False
        return True

    async def _end(self, result: RunResult) -> None:
        """Hang up; a caller who still rings is refused with what the last dial met."""
        ringing, self.ringing = self.ringing, None
        if ringing is None or ringing.reject is None or self.leg.ended.is_set():
            await self.leg.hangup()
            return
        status, reason = refusal(result.dials[-1].outcomes if result.dials else ())
        with contextlib.suppress(CallrobotError):
            await ringing.reject(status, reason)

    async def _run_one(self, action: Action, result: RunResult, index: int) -> list[Action] | None:
        """Run one action; a list of actions when they replace the rest (a redirect)."""
        if isinstance(action, Redirect):
            assert self.next_actions is not None
            return await self.next_actions.fetch(
                action.url, action.method, result.gathers, index=index, check=self.check
            )
        if isinstance(action, RobotScript):
            assert self.robots is not None
            result.robots.append(await self.robots.run(self.leg, action, index))
        elif isinstance(action, Gather) and action.action_url is not None:
            result.gathers.append(await self._gather(self.leg, action))
            if self.leg.ended.is_set():
                return None
            assert self.next_actions is not None
            return await self.next_actions.fetch(
                action.action_url, "POST", result.gathers, index=index, check=self.check
            )
        elif isinstance(action, Say):
            await self._say(self.leg, action.text)
        elif isinstance(action, Play):
            await self._play(action, index)
        elif isinstance(action, Pause):
            await self.leg.play(_silence(action.ms))
        elif isinstance(action, Gather):
            result.gathers.append(await self._gather(self.leg, action))
        elif isinstance(action, Dial):
            result.dials.append(await run_dial(self, action))
        elif isinstance(action, Conference):
            result.conferences.append(await self._conference(action))
        elif isinstance(action, Record):
            result.recordings.append(await record_caller(self.leg, action))
        return None

    async def _say(self, leg: Leg, text: str) -> bool:
        chunk = await asyncio.to_thread(self.voice.synthesize, text)
        return await leg.play(chunk)

    async def _play(self, action: Play, index: int) -> None:
        """A ``url`` that cannot be fetched or played is skipped (:mod:`.media_url` logs why)
        with a ``play.failed`` event."""
        if action.url is not None:
            urls = self.urls or shared_url_media()
            chunk = await urls.load(
                str(action.url), self.leg.call.call_id, partial(self._play_failed, index)
            )
            if chunk is None:
                return
        else:
            chunk = None if self.media is None else await self.media.load(action)
        if chunk is None:
            logger.warning("call %s: play skipped (nothing to play)", self.leg.call.call_id)
            return
        for _ in range(action.loop):
            if not await self.leg.play(chunk):
                return

    def _play_failed(self, index: int, url: str, reason: str) -> None:
        if self.leg.events is not None:
            self.leg.events.emit(
                EventType.PLAY_FAILED, url=url, action_index=index, error=reason[:500]
            )

    async def _gather(self, leg: Leg, action: Gather) -> GatherResult:
        digits = ""
        if action.speech is not None and leg is self.leg:
            assert self.speech is not None
            heard = await self.speech.gather(leg, action)
            if not isinstance(heard, str):
                return heard
            if heard == action.finish_on_key:  # a key first: keys only from here
                return GatherResult(digits, "finish_key")
            digits = heard
        while len(digits) < action.max_digits:
            try:
                async with asyncio.timeout(action.timeout_s):
                    got, key = await leg.until_ended(leg.digits.get())
            except TimeoutError:
                return GatherResult(digits, "timeout")
            if not got:
                return GatherResult(digits, "hangup")
            if key == action.finish_on_key:
                return GatherResult(digits, "finish_key")
            digits += key
        return GatherResult(digits, "max_digits")

    async def _conference(self, action: Conference) -> str:
        """Stay in the named room until leaving it; the reason it was left."""
        from robot.control.conference import MemberOptions

        assert self.conferences is not None and self.tenant_id is not None
        room = self.conferences.named(self.tenant_id, action.name, record=action.record)
        options = MemberOptions(
            muted=action.muted,
            start_on_enter=action.start_on_enter,
            end_on_exit=action.end_on_exit,
            beep=action.beep,
        )
        member = room.conference.add(self.leg.call, options, read_audio=False)
        self.leg.listener = member.push
        try:
            await self.leg.until_ended(member.left.wait())
        finally:
            self.leg.listener = None
            if room.conference.members.get(member.id) is member:
                room.conference.remove(member.id, "hangup")
        return member.left_reason or "hangup"
