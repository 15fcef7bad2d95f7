"""Dates and times said on the phone, resolved in the lead's time zone (DST-correct)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dialogues.slots import extract_date, extract_datetime, extract_time
from dialogues.when import resolve

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
# Wednesday 25 November 2026, 14:30 in New York.
NOW = datetime(2026, 11, 25, 14, 30, tzinfo=NEW_YORK)


def ny(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow at five", ny(11, 26, 17)),  # 5 am is no time for a call
        ("can you call me back tomorrow at five", ny(11, 26, 17)),
        ("Tomorrow at 5 a.m.", ny(11, 26, 5)),  # said explicitly, so taken
        ("tomorrow at nine", ny(11, 26, 9)),
        ("tomorrow at nine in the evening", ny(11, 26, 21)),
        ("in two hours", ny(11, 25, 16, 30)),
        ("in 20 minutes", ny(11, 25, 14, 50)),
        ("in half an hour", ny(11, 25, 15, 0)),
        ("in an hour and a half", ny(11, 25, 16, 0)),
        ("call me in like an hour", ny(11, 25, 15, 30)),
        ("next monday morning", ny(11, 30, 10)),
        ("monday at nine in the morning", ny(11, 30, 9)),
        ("this evening", ny(11, 25, 18)),
        ("tonight", ny(11, 25, 19)),
        ("around seven tonight", ny(11, 25, 19)),
        ("friday at 3 pm", ny(11, 27, 15)),
        ("friday afternoon", ny(11, 27, 14)),
        ("after six", ny(11, 25, 18)),
        ("at 5:30", ny(11, 25, 17, 30)),
        ("five thirty tomorrow", ny(11, 26, 17, 30)),
        ("half past ten", ny(11, 26, 10, 30)),  # 10:30 today is past, 22:30 too late
        ("quarter to four tomorrow", ny(11, 26, 15, 45)),
        ("at noon", ny(11, 26, 12)),  # noon today has passed
        ("after lunch tomorrow", ny(11, 26, 13)),
        ("at 11", ny(11, 26, 11)),
        ("at 17:45", ny(11, 25, 17, 45)),
        ("on the 15th", ny(12, 15, 10)),  # the 15th of this month has passed
        ("on the 28th", ny(11, 28, 10)),
        ("the second at 10 am", ny(12, 2, 10)),
        ("december 3rd at noon", ny(12, 3, 12)),
        ("the third of december", ny(12, 3, 10)),
        ("may 5th", ny(5, 5, 10, year=2027)),  # past this year: next year
        ("end of the week", ny(11, 27, 10)),
        ("end of the month", ny(11, 30, 10)),
        ("next week", ny(11, 30, 10)),
        ("next week on tuesday", ny(12, 1, 10)),
        ("this wednesday at 4", ny(11, 25, 16)),
        ("wednesday", ny(12, 2, 10)),  # said on a wednesday: the next one
        ("the weekend", ny(11, 28, 10)),
        ("in three days", ny(11, 28, 10)),
        ("a week from now", ny(12, 2, 10)),
        ("the day after tomorrow at 8", ny(11, 27, 8)),
        ("um maybe like thursday at two", ny(11, 26, 14)),
        ("give me an hour", ny(11, 25, 15, 30)),
        ("in a couple of hours", ny(11, 25, 16, 30)),
        ("an hour from now", ny(11, 25, 15, 30)),
        ("tomorrow between 2 and 4", ny(11, 26, 14)),
        ("tomorrow afternoon at 3", ny(11, 26, 15)),
        ("next tuesday at ten thirty", ny(12, 1, 10, 30)),
        ("at six thirty in the evening", ny(11, 25, 18, 30)),
        ("the 3rd at 4:15 pm", ny(12, 3, 16, 15)),
        ("3 pm", ny(11, 25, 15)),
        ("5 o'clock", ny(11, 25, 17)),
        ("around 5ish", ny(11, 25, 17)),
        ("call me at 9 tonight", ny(11, 25, 21)),
        ("jan 2nd", ny(1, 2, 10, year=2027)),
        ("on friday the 27th", ny(11, 27, 10)),
        ("tomorrow at 1", ny(11, 26, 13)),
    ],
)
def test_datetime_phrases(text: str, expected: datetime) -> None:
    result = extract_datetime(text, NOW)
    assert result == expected
    assert result is not None and result.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text",
    ["", "hello", "i have two kids", "later", "i may call you", "the third one", "today"],
)
def test_no_datetime(text: str) -> None:
    assert extract_datetime(text, NOW) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on the 15th", date(2026, 12, 15)),
        ("today", date(2026, 11, 25)),
        ("tomorrow", date(2026, 11, 26)),
        ("next friday", date(2026, 11, 27)),
        ("december 24", date(2026, 12, 24)),
        ("in two hours", date(2026, 11, 25)),
        ("nothing", None),
    ],
)
def test_date_phrases(text: str, expected: date | None) -> None:
    assert extract_date(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("at five", time(17, 0)),
        ("5 pm", time(17, 0)),
        ("eight thirty in the morning", time(8, 30)),
        ("quarter past nine", time(9, 15)),
        ("noon", time(12, 0)),
        ("in the evening", time(18, 0)),
        ("on the 15th", time(10, 0)),
        ("tomorrow", time(10, 0)),
        ("no idea", None),
    ],
)
def test_time_phrases(text: str, expected: time | None) -> None:
    assert extract_time(text, NOW) == expected


def test_result_is_in_the_time_zone_of_now() -> None:
    now = datetime(2026, 11, 25, 14, 30, tzinfo=BERLIN)
    result = extract_datetime("tomorrow at five", now)
    assert result == datetime(2026, 11, 26, 17, 0, tzinfo=BERLIN)
    assert result is not None and result.tzinfo is BERLIN


def test_wall_clock_time_across_spring_forward() -> None:
    # Saturday 7 March 2026, 15:00 EST; clocks go forward on Sunday 8 March at 02:00.
    now = datetime(2026, 3, 7, 15, 0, tzinfo=NEW_YORK)
    result = extract_datetime("tomorrow at five", now)
    assert result == datetime(2026, 3, 8, 17, 0, tzinfo=NEW_YORK)
    assert result is not None and result.utcoffset() == timedelta(hours=-4)
    utc = ZoneInfo("UTC")
    assert result.astimezone(utc) - now.astimezone(utc) == timedelta(hours=25)  # not 26


def test_elapsed_time_across_spring_forward() -> None:
    now = datetime(2026, 3, 8, 1, 30, tzinfo=NEW_YORK)  # EST, 30 minutes before the change
    result = extract_datetime("in two hours", now)
    assert result is not None
    assert result.astimezone(ZoneInfo("UTC")) - now.astimezone(ZoneInfo("UTC")) == timedelta(
        hours=2
    )
    assert (result.hour, result.minute, result.utcoffset()) == (4, 30, timedelta(hours=-4))


def test_time_skipped_by_spring_forward_moves_forward() -> None:
    now = datetime(2026, 3, 7, 12, 0, tzinfo=NEW_YORK)
    result = extract_datetime("tomorrow at 2:30 am", now)  # 02:30 does not exist that night
    assert result == datetime(2026, 3, 8, 3, 30, tzinfo=NEW_YORK)


def test_wall_clock_time_across_fall_back() -> None:
    # Saturday 31 October 2026, EDT; New York clocks go back on Sunday 1 November.
    now = datetime(2026, 10, 31, 16, 0, tzinfo=NEW_YORK)
    result = extract_datetime("monday morning", now)
    assert result == datetime(2026, 11, 2, 10, 0, tzinfo=NEW_YORK)
    assert result is not None and result.utcoffset() == timedelta(hours=-5)
    assert now.utcoffset() == timedelta(hours=-4)


def test_requires_an_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve("tomorrow", datetime(2026, 11, 25, 14, 30))


def test_span_covers_the_words_used() -> None:
    text = "yeah so um call me back next monday morning please"
    when = resolve(text, NOW)
    assert when is not None
    assert text[when.start : when.end] == "next monday morning"
