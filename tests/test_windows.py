"""Calling windows: local hours, DST changes, several zones per number, zone resolution."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from robot.errors import ValidationError
from robot.windows import (
    CallingWindow,
    check_window,
    resolve_time_zones,
    zone_info,
    zones_from_number,
)

NEW_YORK = zone_info("America/New_York")
LONDON = zone_info("Europe/London")
MOSCOW = zone_info("Europe/Moscow")
VLADIVOSTOK = zone_info("Asia/Vladivostok")
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_default_window_is_nine_to_eight_local_every_day() -> None:
    window = CallingWindow()
    # 2026-06-01 is a Monday; New York is UTC-4 in summer.
    assert not window.is_open(utc(2026, 6, 1, 12, 59, 59), NEW_YORK)  # 08:59:59 local
    assert window.is_open(utc(2026, 6, 1, 13, 0), NEW_YORK)  # 09:00 local
    assert window.is_open(utc(2026, 6, 1, 23, 59), NEW_YORK)  # 19:59 local
    assert not window.is_open(utc(2026, 6, 2, 0, 0), NEW_YORK)  # 20:00 local: closed
    assert window.is_open(utc(2026, 6, 7, 13, 0), NEW_YORK)  # Sunday too


def test_opening_follows_spring_forward_in_new_york() -> None:
    window = CallingWindow()
    # DST starts Sunday 2026-03-08 at 02:00 local: 09:00 is 14:00Z the day before, 13:00Z after.
    assert window.next_opening(utc(2026, 3, 7, 3, 0), NEW_YORK) == utc(2026, 3, 7, 14, 0)
    assert window.next_opening(utc(2026, 3, 8, 1, 0), NEW_YORK) == utc(2026, 3, 8, 13, 0)
    # Closing also moves: 20:00 EDT on the 8th is 00:00Z on the 9th.
    assert window.is_open(utc(2026, 3, 8, 23, 59), NEW_YORK)
    assert not window.is_open(utc(2026, 3, 9, 0, 0), NEW_YORK)


def test_opening_follows_fall_back_in_london() -> None:
    window = CallingWindow()
    # BST ends Sunday 2026-10-25: 09:00 local is 08:00Z on Saturday and 09:00Z on Sunday.
    assert window.next_opening(utc(2026, 10, 24, 0, 0), LONDON) == utc(2026, 10, 24, 8, 0)
    assert window.next_opening(utc(2026, 10, 24, 20, 0), LONDON) == utc(2026, 10, 25, 9, 0)
    assert not window.is_open(utc(2026, 10, 25, 8, 30), LONDON)


def test_window_opening_inside_the_dst_gap_opens_after_the_gap() -> None:
    window = CallingWindow.from_dict({"hours": {"sun": "02:30-05:00"}})
    # 02:30 does not exist on 2026-03-08 in New York; the first instant after is 03:00 EDT.
    opening = window.next_opening(utc(2026, 3, 8, 5, 0), NEW_YORK)
    assert opening == utc(2026, 3, 8, 7, 30)
    assert opening is not None and window.is_open(opening, NEW_YORK)


def test_closed_days_and_excluded_dates_are_skipped() -> None:
    window = CallingWindow.from_dict(
        {"hours": {"sat": None, "sun": "closed"}, "excluded_dates": ["2026-06-08"]}
    )
    # Friday 2026-06-05 after closing -> Saturday, Sunday closed, Monday the 8th excluded.
    assert window.next_opening(utc(2026, 6, 5, 19, 0), LONDON) == utc(2026, 6, 9, 8, 0)
    assert not window.is_open(utc(2026, 6, 8, 10, 0), LONDON)


def test_several_zones_need_the_window_open_in_all_of_them() -> None:
    window = CallingWindow()
    # Moscow (UTC+3) is open 06:00-17:00Z, Vladivostok (UTC+10) 23:00-10:00Z: common 06-10Z.
    zones = ["Europe/Moscow", "Asia/Vladivostok"]
    check = check_window(window, utc(2026, 6, 1, 11, 0), zones)
    assert not check.open
    assert check.next_opening == utc(2026, 6, 2, 6, 0)
    assert "Asia/Vladivostok" in check.reason and "all must be open" in check.reason
    assert check_window(window, utc(2026, 6, 2, 9, 59), zones).open
    assert not check_window(window, utc(2026, 6, 2, 5, 59), zones).open


def test_zones_that_are_never_open_together_give_no_opening() -> None:
    window = CallingWindow.from_dict({"hours": dict.fromkeys(WEEK, "09:00-10:00")})
    assert window.next_opening_in_all(utc(2026, 6, 1, 0, 0), [MOSCOW, VLADIVOSTOK]) is None
    check = check_window(window, utc(2026, 6, 1, 0, 0), ["Europe/Moscow", "Asia/Vladivostok"])
    assert not check.open and check.next_opening is None and "never opens" in check.reason


def test_a_window_with_every_day_closed_never_opens() -> None:
    window = CallingWindow.from_dict(
        {"hours": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))}
    )
    assert window.next_opening(utc(2026, 6, 1), LONDON) is None


def test_zone_resolution_prefers_explicit_then_number_then_campaign() -> None:
    assert resolve_time_zones("+4930123456", "Asia/Tokyo", "UTC").zones == ("Asia/Tokyo",)
    from_number = resolve_time_zones("+4930123456", None, "UTC")
    assert (from_number.zones, from_number.source) == (("Europe/Berlin",), "number")
    # A non-geographic international number has no zone of its own.
    fallback = resolve_time_zones("+80012345678", None, "Europe/Paris")
    assert (fallback.zones, fallback.source) == (("Europe/Paris",), "campaign")
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        resolve_time_zones("+4930123456", "Mars/Olympus", "UTC")


def test_russian_mobile_numbers_map_to_many_zones() -> None:
    zones = zones_from_number("+79161234567")
    assert "Europe/Moscow" in zones and "Asia/Vladivostok" in zones and len(zones) > 5
    assert zones_from_number("+12125551234") == ("America/New_York",)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"hours": {"mon": "9-17"}}, r"calling_window.hours.mon: expected HH:MM"),
        ({"hours": {"mon": "18:00-09:00"}}, r"calling_window.hours.mon: opening must be before"),
        ({"hours": {"funday": "09:00-10:00"}}, r"calling_window.hours.funday: not a weekday"),
        ({"hours": {"mon": "25:00-26:00"}}, r"not a time of day"),
        ({"excluded_dates": ["2026-02-30"]}, r"calling_window.excluded_dates\[0\]"),
        ({"weekdays": {}}, r"unknown field\(s\) weekdays"),
    ],
)
def test_bad_window_specs_name_the_field(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        CallingWindow.from_dict(spec)


def test_window_json_round_trips() -> None:
    window = CallingWindow.from_dict(
        {"hours": {"sat": "10:00-14:00", "sun": None}, "excluded_dates": ["2026-12-25"]}
    )
    again = CallingWindow.from_dict(window.to_dict())
    assert again == window
    assert window.to_dict()["hours"]["sat"] == "10:00-14:00"
    assert window.excluded_dates == frozenset({date(2026, 12, 25)})
