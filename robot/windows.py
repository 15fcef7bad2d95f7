"""Calling windows: when a lead may be called, in the lead's own local time.

A :class:`CallingWindow` gives local opening hours per weekday and excluded dates (holidays).
Times are wall-clock times in each zone, converted with :mod:`zoneinfo`, so a window stays
09:00-20:00 local across DST changes. A number that maps to several zones (a Russian mobile
number maps to eleven) is called only when the window is open in every candidate zone.

JSON form (campaign ``calling_window``, lead override)::

    {"hours": {"mon": "09:00-20:00", "sat": "10:00-14:00", "sun": null},
     "excluded_dates": ["2026-12-25"]}

Weekdays left out of ``hours`` keep the default 09:00-20:00; ``null`` closes the day.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from robot.errors import ValidationError

logger = logging.getLogger(__name__)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_HOURS_MIN = (9 * 60, 20 * 60)
MINUTES_PER_DAY = 24 * 60
#: How far ahead an opening is searched for before a window counts as never opening.
HORIZON_DAYS = 400
UNKNOWN_ZONE = "Etc/Unknown"


@lru_cache(maxsize=1024)
def zone_info(name: str) -> ZoneInfo:
    """The IANA zone ``name``; a clear error when it does not exist."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ValidationError(f"unknown time zone {name!r}") from e


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _parse_hhmm(text: str, where: str) -> int:
    try:
        hours_text, minutes_text = text.strip().split(":")
        hours, minutes = int(hours_text), int(minutes_text)
    except ValueError as e:
        raise ValidationError(f"{where}: expected HH:MM, got {text!r}") from e
    total = hours * 60 + minutes
    if not (0 <= minutes < 60 and 0 <= total <= MINUTES_PER_DAY):
        raise ValidationError(f"{where}: {text!r} is not a time of day")
    return total


def _format_hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class CallingWindow:
    """Local opening hours per weekday (Monday first, minutes since midnight) and holidays."""

    hours: tuple[tuple[int, int] | None, ...] = (DEFAULT_HOURS_MIN,) * 7
    excluded_dates: frozenset[date] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if len(self.hours) != 7:
            raise ValidationError("calling_window.hours: need one entry per weekday")
        for day, span in zip(WEEKDAYS, self.hours, strict=True):
            if span is not None and not (0 <= span[0] < span[1] <= MINUTES_PER_DAY):
                raise ValidationError(
                    f"calling_window.hours.{day}: opening must be before closing, got "
                    f"{_format_hhmm(span[0])}-{_format_hhmm(span[1])}"
                )

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any] | None, where: str = "calling_window"
    ) -> CallingWindow:
        """Read the JSON form; errors name the offending field."""
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValidationError(f"{where}: expected an object, got {type(data).__name__}")
        unknown = set(data) - {"hours", "excluded_dates"}
        if unknown:
            raise ValidationError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        hours: list[tuple[int, int] | None] = [DEFAULT_HOURS_MIN] * 7
        given = data.get("hours") or {}
        if not isinstance(given, Mapping):
            raise ValidationError(f"{where}.hours: expected an object of weekday: 'HH:MM-HH:MM'")
        for day, spec in given.items():
            key = str(day).lower()[:3]
            if key not in WEEKDAYS:
                raise ValidationError(f"{where}.hours.{day}: not a weekday (mon..sun)")
            if spec is None or spec == "closed":
                hours[WEEKDAYS.index(key)] = None
                continue
            if not isinstance(spec, str) or spec.count("-") != 1:
                raise ValidationError(f"{where}.hours.{day}: expected 'HH:MM-HH:MM', got {spec!r}")
            start_text, end_text = spec.split("-")
            start = _parse_hhmm(start_text, f"{where}.hours.{day}")
            end = _parse_hhmm(end_text, f"{where}.hours.{day}")
            hours[WEEKDAYS.index(key)] = (start, end)
        excluded: set[date] = set()
        for i, text in enumerate(data.get("excluded_dates") or []):
            try:
                excluded.add(date.fromisoformat(str(text)))
            except ValueError as e:
                raise ValidationError(
                    f"{where}.excluded_dates[{i}]: expected YYYY-MM-DD, got {text!r}"
                ) from e
        try:
            return cls(tuple(hours), frozenset(excluded))
        except ValidationError as e:
            raise ValidationError(str(e).replace("calling_window", where, 1)) from e

    def to_dict(self) -> dict[str, Any]:
        return {
            "hours": {
                day: None if span is None else f"{_format_hhmm(span[0])}-{_format_hhmm(span[1])}"
                for day, span in zip(WEEKDAYS, self.hours, strict=True)
            },
            "excluded_dates": sorted(d.isoformat() for d in self.excluded_dates),
        }

    def _span_utc(self, day: date, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
        span = self.hours[day.weekday()]
        if span is None or day in self.excluded_dates:
            return None
        return _local_to_utc(day, span[0], zone), _local_to_utc(day, span[1], zone)

    def is_open(self, at: datetime, zone: ZoneInfo) -> bool:
        """Whether calls may start at instant ``at`` in ``zone``."""
        local = at.astimezone(zone)
        span = self.hours[local.weekday()]
        if span is None or local.date() in self.excluded_dates:
            return False
        second_of_day = local.hour * 3600 + local.minute * 60 + local.second
        return span[0] * 60 <= second_of_day < span[1] * 60

    def next_opening(self, after: datetime, zone: ZoneInfo) -> datetime | None:
        """The first instant >= ``after`` when the window is open in ``zone`` (UTC).

        ``after`` itself when the window is open then; ``None`` when it never opens within
        :data:`HORIZON_DAYS`.
        """
        first_day = after.astimezone(zone).date()
        for offset in range(HORIZON_DAYS + 1):
            span = self._span_utc(first_day + timedelta(days=offset), zone)
            if span is None or span[1] <= after:
                continue
            return max(span[0], after).astimezone(UTC)
        return None

    def next_opening_in_all(self, after: datetime, zones: Iterable[ZoneInfo]) -> datetime | None:
        """The first instant >= ``after`` when the window is open in every zone at once."""
        zone_list = list(zones)
        moment = after.astimezone(UTC)
        for _ in range(4 * HORIZON_DAYS):
            openings = [self.next_opening(moment, z) for z in zone_list]
            if any(o is None for o in openings):
                return None
            latest = max(o for o in openings if o is not None)
            if latest == moment:
                return moment
            moment = latest
        return None


def _local_to_utc(day: date, minute_of_day: int, zone: ZoneInfo) -> datetime:
    """Wall-clock ``minute_of_day`` on ``day`` in ``zone`` as a UTC instant.

    A time inside a spring-forward gap maps to the first instant after the gap; an ambiguous
    time in a fall-back hour maps to its first occurrence.
    """
    if minute_of_day >= MINUTES_PER_DAY:
        day, minute_of_day = day + timedelta(days=1), minute_of_day - MINUTES_PER_DAY
    local = datetime.combine(day, dtime(minute_of_day // 60, minute_of_day % 60), tzinfo=zone)
    return local.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ZoneResolution:
    """The candidate zones of a lead and where they came from ("lead", "number", "campaign")."""

    zones: tuple[str, ...]
    source: str

    @property
    def joined(self) -> str:
        return ",".join(self.zones)


def zones_for_parsed(parsed: Any, number_type: int | None = None) -> tuple[str, ...]:
    """Zones phonenumbers' geographic data gives for a parsed number (empty when unknown).

    Pass ``number_type`` when it is already known: working it out is the costly part.
    """
    import phonenumbers
    from phonenumbers import timezone as number_timezones

    if number_type is None:
        number_type = phonenumbers.number_type(parsed)
    if number_type == phonenumbers.PhoneNumberType.UNKNOWN:
        return ()
    if phonenumbers.is_number_type_geographical(number_type, parsed.country_code):
        found = number_timezones.time_zones_for_geographical_number(parsed)
    else:
        found = _country_zones(parsed.country_code)
    known = _known_zones()
    return tuple(z for z in found if z != UNKNOWN_ZONE and z in known)


@lru_cache(maxsize=512)
def _country_zones(country_code: int) -> tuple[str, ...]:
    import phonenumbers
    from phonenumbers import timezone as number_timezones

    example = phonenumbers.PhoneNumber(country_code=country_code, national_number=0)
    return tuple(number_timezones._country_level_time_zones_for_number(example))


def zones_from_number(number_e164: str) -> tuple[str, ...]:
    """Zones phonenumbers' geographic data gives for an E.164 number (empty when unknown)."""
    import phonenumbers

    try:
        parsed = phonenumbers.parse(number_e164, None)
    except phonenumbers.NumberParseException:
        return ()
    return zones_for_parsed(parsed)


def resolve_time_zones(
    number_e164: str,
    explicit: str | None,
    campaign_default: str,
    number_zones: tuple[str, ...] | None = None,
) -> ZoneResolution:
    """Explicit zone if given, else the number's zones, else the campaign default.

    ``number_zones`` saves the lookup when the caller already has the number's zones.
    """
    if explicit:
        zone_info(explicit)
        return ZoneResolution((explicit,), "lead")
    zones = zones_from_number(number_e164) if number_zones is None else number_zones
    if zones:
        return ZoneResolution(zones, "number")
    zone_info(campaign_default)
    return ZoneResolution((campaign_default,), "campaign")


@dataclass(frozen=True, slots=True)
class WindowCheck:
    """Whether a lead may be called now and, if not, when and why not."""

    open: bool
    next_opening: datetime | None
    reason: str


def check_window(window: CallingWindow, at: datetime, zone_names: Iterable[str]) -> WindowCheck:
    """Check ``window`` at ``at`` for every candidate zone and explain the verdict."""
    names = list(zone_names)
    zones = [zone_info(n) for n in names]
    closed = [n for n, z in zip(names, zones, strict=True) if not window.is_open(at, z)]
    if not closed:
        return WindowCheck(True, at, "window open")
    opening = window.next_opening_in_all(at, zones)
    several = f" (number maps to {len(names)} zones; all must be open)" if len(names) > 1 else ""
    shown = ", ".join(closed[:3]) + (f" and {len(closed) - 3} more" if len(closed) > 3 else "")
    if opening is None:
        return WindowCheck(False, None, f"window never opens in {shown}{several}")
    return WindowCheck(False, opening, f"window closed in {shown}{several}")
