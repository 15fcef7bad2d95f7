"""Dates and times said on the phone, resolved against "now" in the callee's time zone.

"tomorrow at five", "in two hours", "next monday morning", "friday at 3 pm", "after six",
"on the 15th", "december 3rd at noon", "end of the week". Wall-clock times are built with the
time zone of ``now`` (zoneinfo), so they stay right across daylight-saving changes; "in N
minutes/hours" is elapsed time. An hour said without am/pm becomes the reading that falls
between 08:00 and 21:00 and in the future, since nobody asks to be called at 5 am.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal

from dialogues.numbers import NumberSpan, Token, find_numbers, tokenize

#: Time used for a day part or a date said without a time ("monday" -> 10:00).
PART_OF_DAY = {
    "morning": time(10, 0), "afternoon": time(14, 0), "evening": time(18, 0),
    "tonight": time(19, 0), "night": time(19, 0), "lunch": time(12, 0),
    "lunchtime": time(12, 0), "noon": time(12, 0), "midday": time(12, 0),
    "midnight": time(0, 0),
}  # fmt: skip
DEFAULT_TIME = time(10, 0)
EARLIEST_CALL_MINUTE = 8 * 60
LATEST_CALL_MINUTE = 21 * 60

_WEEKDAYS = {name: i for i, name in enumerate(calendar.day_name[i].lower() for i in range(7))}
_WEEKDAYS.update({"tues": 1, "weds": 2, "thurs": 3})
_MONTHS = {calendar.month_name[i].lower(): i for i in range(1, 13)}
_MONTHS.update({calendar.month_abbr[i].lower(): i for i in range(1, 13) if i not in (3, 5)})
_MONTHS["sept"] = 9
_TIME_CUES = {
    "at", "around", "about", "after", "by", "before", "until", "till", "from", "round", "between",
}  # fmt: skip
_VAGUE = {"like", "about", "around", "approximately", "roughly", "maybe", "um", "uh", "just"}
_FROM_NOW = (["from", "now"], ["from", "today"])
_PM_PARTS = {"afternoon", "evening", "tonight", "night"}
_UNIT_MINUTES = {
    "minute": 1, "minutes": 1, "min": 1, "mins": 1, "hour": 60, "hours": 60, "hr": 60,
    "hrs": 60, "day": 1440, "days": 1440, "week": 10080, "weeks": 10080,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class When:
    """What a phrase says: a day, a time of day, and the moment they make together."""

    day: date | None
    time_of_day: time | None
    moment: datetime | None
    start: int  # character span of the words used
    end: int


@dataclass
class _Parse:
    words: list[str]
    tokens: list[Token]
    numbers: dict[int, NumberSpan]
    used: set[int]

    def word(self, index: int) -> str:
        return self.words[index] if 0 <= index < len(self.words) else ""

    def has(self, *phrase: str) -> int:
        """Index where ``phrase`` starts, or -1."""
        size = len(phrase)
        for i in range(len(self.words) - size + 1):
            if tuple(self.words[i : i + size]) == phrase:
                return i
        return -1

    def take(self, first: int, last: int) -> None:
        self.used.update(range(first, last + 1))


def _small_int(span: NumberSpan | None, low: int, high: int) -> int | None:
    if span is None or span.scaled or not span.is_integer:
        return None
    value = int(span.value)
    return value if low <= value <= high else None


def _relative(parse: _Parse) -> timedelta | None:
    """ "in two hours", "in half an hour", "a week from now", "in 20 minutes"."""
    for index, word in enumerate(parse.words):
        minutes = _UNIT_MINUTES.get(word)
        if minutes is None:
            continue
        before = parse.word(index - 1)
        count: Decimal | None = None
        first = index - 1
        if before in ("a", "an", "one"):
            count = Decimal(1)
            if parse.word(index - 2) == "half":
                count, first = Decimal("0.5"), index - 2
        else:
            span = next((s for s in parse.numbers.values() if s.last == index - 1), None)
            if span is not None and not span.ordinal:
                count, first = span.value, span.first
        if count is None:
            continue
        while parse.word(first - 1) in _VAGUE:  # "in like an hour", "in about 20 minutes"
            first -= 1
        lead = parse.word(first - 1)
        after = parse.words[index + 1 : index + 3]
        given = lead == "me" and parse.word(first - 2) == "give"  # "give me an hour"
        if lead not in ("in", "within") and not given and after not in _FROM_NOW:
            continue
        last = index
        if parse.words[index + 1 : index + 4] == ["and", "a", "half"]:
            count += Decimal("0.5")
            last = index + 3
        if after in _FROM_NOW:
            last = index + 2
        parse.take(first - 1 if lead in ("in", "within") else first, last)
        return timedelta(minutes=float(count * minutes))
    return None


def _day(parse: _Parse, today: date) -> date | None:
    words = parse.words
    if (i := parse.has("day", "after", "tomorrow")) >= 0:
        parse.take(i - (parse.word(i - 1) == "the"), i + 2)
        return today + timedelta(days=2)
    for word, offset in (("tomorrow", 1), ("tomorow", 1), ("tmrw", 1), ("today", 0)):
        if word in words:
            parse.take(words.index(word), words.index(word))
            return today + timedelta(days=offset)
    if "tonight" in words:
        return today
    for phrase, weekday in ((("end", "of", "the", "week"), 4), (("end", "of", "week"), 4)):
        if (i := parse.has(*phrase)) >= 0:
            parse.take(i, i + len(phrase) - 1)
            return today + timedelta(days=(weekday - today.weekday()) % 7)
    if (i := parse.has("end", "of", "the", "month")) >= 0:
        parse.take(i, i + 3)
        return today.replace(day=calendar.monthrange(today.year, today.month)[1])
    for index, word in enumerate(words):
        if word in _WEEKDAYS:
            modifier = parse.word(index - 1)
            ahead = (_WEEKDAYS[word] - today.weekday()) % 7
            if ahead == 0 and modifier != "this":
                ahead = 7
            if parse.has("next", "week") >= 0 and ahead + today.weekday() < 7:
                ahead += 7
            parse.take(index - (modifier in ("next", "this", "on", "coming")), index)
            return today + timedelta(days=ahead)
        if word in ("weekend",):
            parse.take(index, index)
            ahead = (5 - today.weekday()) % 7 if today.weekday() != 6 else 0
            return today + timedelta(days=ahead + (7 if parse.word(index - 1) == "next" else 0))
    if (i := parse.has("next", "week")) >= 0:
        parse.take(i, i + 1)
        return today + timedelta(days=7 - today.weekday())
    month_day = _month_day(parse, today)
    if month_day is not None:
        return month_day
    for index, span in parse.numbers.items():
        day = _small_int(span, 1, 31)
        digit_ordinal = span.ordinal and parse.tokens[index].text[0].isdigit()
        if day is None or not span.ordinal or index in parse.used:
            continue
        if not digit_ordinal and parse.word(index - 1) != "the":
            continue
        if parse.word(span.last + 1) in ("one", "option", "choice"):  # "the third one"
            continue
        parse.take(index - (parse.word(index - 1) == "the"), span.last)
        candidate = _valid_date(today.year, today.month, day)
        if candidate is None or candidate < today:
            year, month = (
                (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)
            )
            candidate = _valid_date(year, month, day)
        return candidate
    return None


def _month_day(parse: _Parse, today: date) -> date | None:
    for index, word in enumerate(parse.words):
        month = _MONTHS.get(word)
        if month is None:
            continue
        after = index + 1 + (parse.word(index + 1) == "the")
        span = parse.numbers.get(after)
        first, last = index, after
        if span is None or _small_int(span, 1, 31) is None:  # "the third of december"
            back = index - 1 - (parse.word(index - 1) == "of")
            span = next((s for s in parse.numbers.values() if s.last == back), None)
            first, last = (
                (span.first - (parse.word(span.first - 1) == "the"), index) if span else (0, 0)
            )
        day = _small_int(span, 1, 31)
        if span is None or day is None:
            continue
        parse.take(first, max(last, span.last))
        candidate = _valid_date(today.year, month, day)
        if candidate is not None and candidate < today:
            candidate = _valid_date(today.year + 1, month, day)
        return candidate
    return None


def _valid_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _part_of_day(parse: _Parse) -> str | None:
    for index, word in enumerate(parse.words):
        if word in PART_OF_DAY:
            if word == "lunch" and parse.word(index - 1) == "after":
                parse.take(index - 1, index)
                return "after_lunch"
            lead = index - (parse.word(index - 1) in ("this", "at", "the", "by", "around"))
            lead -= parse.words[max(lead - 1, 0) : lead] in (["in"], ["at"])
            parse.take(max(lead, 0), index)
            return word
    if (i := parse.has("after", "work")) >= 0:
        parse.take(i, i + 1)
        return "after_work"
    return None


def _clock(parse: _Parse) -> tuple[int, int, str | None] | None:
    """(hour, minute, "am"/"pm"/None) of an explicit clock time."""
    for index, span in sorted(parse.numbers.items()):
        hour = _small_int(span, 0, 23)
        if hour is None or span.ordinal or index in parse.used:
            continue
        before, first, last = parse.word(index - 1), index, span.last
        minute = 0
        if before == "past" and parse.word(index - 2) in ("half", "quarter"):
            minute, first = (30 if parse.word(index - 2) == "half" else 15), index - 2
        elif before in ("to", "till", "of") and parse.word(index - 2) == "quarter":
            hour, minute, first = (hour - 1) % 24, 45, index - 2
        after = last + 1
        if (
            parse.word(after) == ":"
            and (m := _small_int(parse.numbers.get(after + 1), 0, 59)) is not None
        ):
            minute, last = m, parse.numbers[after + 1].last
        elif (
            parse.word(after) == "oh"
            and (m := _small_int(parse.numbers.get(after + 1), 0, 9)) is not None
        ):
            minute, last = m, after + 1
        elif (m := _small_int(parse.numbers.get(after), 10, 59)) is not None and minute == 0:
            minute, last = m, parse.numbers[after].last
        meridiem = None
        following = parse.words[last + 1 : last + 3]
        if following[:1] in (["am"], ["pm"]):
            meridiem, last = following[0], last + 1
        elif following in (["a", "m"], ["p", "m"]):
            meridiem, last = following[0] + "m", last + 2
        elif following[:1] in (["oclock"], ["o'clock"]):
            last += 1
        cued = parse.word(first - 1) in _TIME_CUES or first != index or last != span.last
        if not cued and not (first > 0 and parse.word(first - 1) in _WEEKDAYS):
            continue
        if meridiem is not None and not 1 <= hour <= 12:
            continue
        parse.take(first - (parse.word(first - 1) in _TIME_CUES), last)
        return hour, minute, meridiem
    return None


def _hour_readings(hour: int, meridiem: str | None, part: str | None) -> list[int]:
    if meridiem == "am" or part == "morning":
        return [hour % 12]
    if meridiem == "pm" or part in _PM_PARTS or part in ("after_work",):
        return [hour % 12 + 12]
    if hour == 0 or hour > 12:
        return [hour]
    return [hour % 12, hour % 12 + 12] if hour != 12 else [12]


def _at(day: date, clock: time, zone: tzinfo) -> datetime:
    """Wall-clock ``clock`` on ``day`` in ``zone``; a time skipped by DST moves forward."""
    local = datetime.combine(day, clock, tzinfo=zone)
    return local.astimezone(UTC).astimezone(local.tzinfo)


def resolve(text: str, now: datetime) -> When | None:
    """What day/time ``text`` names, resolved against tz-aware ``now``; None if it names none."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tokens = tokenize(text)
    parse = _Parse(
        [t.text for t in tokens], tokens, {s.first: s for s in find_numbers(tokens)}, set()
    )
    zone = now.tzinfo
    now = now.replace(second=0, microsecond=0)
    offset = _relative(parse)
    if offset is not None and offset < timedelta(days=1):
        moment = (now.astimezone(UTC) + offset).astimezone(zone)
        return _when(parse, moment.date(), moment.timetz().replace(tzinfo=None), moment)
    today = now.date() + (offset or timedelta(0))
    day = today if offset is not None else _day(parse, now.date())
    part = _part_of_day(parse)
    clock = _clock(parse)
    if clock is None:
        named = {"after_lunch": time(13, 0), "after_work": time(18, 0)}.get(part or "")
        clock_time = named or (PART_OF_DAY[part] if part else None)
        if day is None and clock_time is None:
            return None
        if day is None and clock_time is not None:
            later_today = _at(now.date(), clock_time, zone) > now
            day = now.date() if later_today else now.date() + timedelta(days=1)
        assert day is not None
        if clock_time is None:
            if day <= now.date():
                return _when(parse, day, None, None)
            clock_time = DEFAULT_TIME
        return _when(parse, day, clock_time, _at(day, clock_time, zone))
    hour, minute, meridiem = clock
    candidates: list[datetime] = []
    for candidate_day in [day] if day else [now.date(), now.date() + timedelta(days=1)]:
        for reading in _hour_readings(hour, meridiem, part):
            candidates.append(_at(candidate_day, time(reading, minute), zone))
    future = [c for c in candidates if c > now] or candidates
    plausible = [
        c for c in future if EARLIEST_CALL_MINUTE <= c.hour * 60 + c.minute <= LATEST_CALL_MINUTE
    ]
    moment = min(plausible or future)
    return _when(parse, moment.date(), moment.timetz().replace(tzinfo=None), moment)


def _when(parse: _Parse, day: date | None, clock: time | None, moment: datetime | None) -> When:
    used = sorted(parse.used) or [0]
    tokens = parse.tokens
    start = tokens[used[0]].start if tokens else 0
    end = tokens[used[-1]].end if tokens else 0
    return When(day, clock, moment, start, end)
