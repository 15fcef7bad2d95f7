"""Slot extractors: yes/no, numbers, money, digits, choices, dispatch and JSON form."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogues.numbers import parse_number
from dialogues.slots import (
    SLOT_TYPES,
    Money,
    extract_choice,
    extract_date,
    extract_datetime,
    extract_digits,
    extract_integer,
    extract_money,
    extract_slot,
    extract_time,
    extract_yes_no,
    find_entities,
    slot_value_to_json,
)

NOW = datetime(2026, 11, 25, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("yes", True),
        ("Yeah.", True),
        ("yep", True),
        ("yeah yeah sure", True),
        ("sure", True),
        ("correct", True),
        ("That's right", True),
        ("mm-hmm", True),
        ("uh huh", True),
        ("absolutely", True),
        ("of course", True),
        ("no problem go ahead", True),
        ("sure why not", True),
        ("yeah shore", True),
        ("okay", True),
        ("i do", True),
        ("no", False),
        ("nope", False),
        ("nah", False),
        ("not really", False),
        ("No, that's wrong.", False),
        ("i don't think so", False),
        ("yeah no", False),
        ("definitely not", False),
        ("never", False),
        ("incorrect", False),
        ("maybe", None),
        ("i'm not sure", None),
        ("i don't know", None),
        ("hello", None),
        ("", None),
        ("the weather is nice", None),
        ("i'm busy right now", None),
        ("right now is bad", None),
        ("right", True),
        ("i'm good thanks", None),
        ("we're fine", None),
        ("no i'm fine", False),
        ("yes i am", True),
    ],
)
def test_yes_no_from_words(text: str, expected: bool | None) -> None:
    assert extract_yes_no(text) is expected


@pytest.mark.parametrize(
    ("text", "intent", "expected"),
    [
        ("whatever you say", "affirm", True),
        ("hmm", "deny", False),
        ("yes", "ask_repeat", True),  # other intents fall back to the words
        ("something", "not_interested", None),
    ],
)
def test_yes_no_from_intent(text: str, intent: str, expected: bool | None) -> None:
    assert extract_yes_no(text, intent) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("five", 5),
        ("about fifty", 50),
        ("we have 12 employees", 12),
        ("twenty five hundred", 2500),
        ("a hundred and fifty", 150),
        ("one thousand two hundred and thirty four", 1234),
        ("nineteen", 19),
        ("seventy seven", 77),
        ("a couple", 2),
        ("a dozen", 12),
        ("5,000", 5000),
        ("2.5k", 2500),
        ("three million", 3_000_000),
        ("none", 0),
        ("zero", 0),
        ("nobody", 0),
        ("no idea", None),
        ("", None),
        ("the third", None),  # an ordinal is not a count
        ("i don't know", None),
    ],
)
def test_integer(text: str, expected: int | None) -> None:
    assert extract_integer(text) == expected


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("five thousand", "5000", None),
        ("about five thousand dollars", "5000", "USD"),
        ("about 5,000 dollars", "5000", "USD"),
        ("$2,500", "2500", "USD"),
        ("$ 300", "300", "USD"),
        ("twenty five hundred bucks", "2500", "USD"),
        ("a hundred and fifty", "150", None),
        ("2.5k", "2500", None),
        ("10 grand", "10000", None),
        ("fifty k", "50000", None),
        ("a couple thousand", "2000", None),
        ("a couple of thousand euros", "2000", "EUR"),
        ("half a million", "500000", None),
        ("half a million euros", "500000", "EUR"),
        ("€40,000", "40000", "EUR"),
        ("three hundred thousand rubles", "300000", "RUB"),
        ("£750", "750", "GBP"),
        ("twenty thousand pounds", "20000", "GBP"),
        ("two point five million dollars", "2500000", "USD"),
        ("1.5 million", "1500000", None),
        ("um like maybe ten thousand us dollars", "10000", "USD"),
        ("five to ten thousand", "5000", None),  # a range: its lower end, scale shared
        ("around 7.5k a month", "7500", None),
        ("we spend 3 grand on it", "3000", None),
        ("it costs 99.99 dollars", "99.99", "USD"),
    ],
)
def test_money(text: str, amount: str, currency: str | None) -> None:
    assert extract_money(text) == Money(Decimal(amount), currency)


@pytest.mark.parametrize("text", ["", "no budget yet", "i don't know", "the third one"])
def test_money_absent(text: str) -> None:
    assert extract_money(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("twenty", Decimal(20)),
        ("twenty-one", Decimal(21)),
        ("nine hundred ninety nine thousand", Decimal(999000)),
        ("two thousand and five", Decimal(2005)),
        ("five hundred thousand", Decimal(500000)),
        ("nothing here", None),
    ],
)
def test_parse_number(text: str, expected: Decimal | None) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("five five five one two three four", "5551234"),
        ("my code is 4 7 1 1", "4711"),
        ("555-0199", "5550199"),
        ("double five oh one", "5501"),
        ("triple seven", "777"),
        ("one two three star", "123*"),
        ("1 2 3 #", "123#"),
        ("zero zero", "00"),
        ("it is for me", None),
        ("hello", None),
        ("", None),
    ],
)
def test_digits(text: str, expected: str | None) -> None:
    assert extract_digits(text) == expected


CONTACT_OPTIONS = {"email": ["e-mail", "mail"], "phone": ["call", "telephone"], "sms": ["text"]}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("by email please", "email"),
        ("E-mail.", "email"),
        ("just call me", "phone"),
        ("telephone is best", "phone"),
        ("send me a text", "sms"),
        ("the second one", "phone"),
        ("the last option", "sms"),
        ("email or a call, whatever", None),  # two options: unclear
        ("carrier pigeon", None),
        ("", None),
    ],
)
def test_choice(text: str, expected: str | None) -> None:
    assert extract_choice(text, CONTACT_OPTIONS) == expected


@pytest.mark.parametrize(
    ("slot_type", "text", "expected"),
    [
        ("yes_no", "yeah sure", True),
        ("integer", "about fifty", 50),
        ("money", "10 grand", Money(Decimal(10000))),
        ("datetime", "tomorrow at five", datetime(2026, 11, 26, 17, 0, tzinfo=UTC)),
        ("date", "on the 15th", date(2026, 12, 15)),
        ("time", "at half past six", time(18, 30)),
        ("free_text", "  I run a   bakery ", "I run a bakery"),
        ("free_text", "   ", None),
        ("digits", "four two", "42"),
        ("choice", "text me", "sms"),
    ],
)
def test_extract_slot_dispatches_by_type(slot_type: str, text: str, expected: object) -> None:
    assert slot_type in SLOT_TYPES
    value = extract_slot(slot_type, text, now=NOW, options=CONTACT_OPTIONS)
    assert value == expected


def test_extract_slot_uses_intent_for_yes_no() -> None:
    assert extract_slot("yes_no", "go on then", now=NOW, intent="affirm") is True


def test_extract_slot_rejects_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown slot type 'colour'"):
        extract_slot("colour", "red", now=NOW)


def test_extract_slot_rejects_a_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        extract_slot("integer", "five", now=datetime(2026, 11, 25, 14, 30))


def test_slot_types_are_the_documented_nine() -> None:
    assert {"yes_no", "integer", "money", "datetime", "date", "time"} <= SLOT_TYPES
    assert {"free_text", "digits", "choice"} <= SLOT_TYPES
    assert len(SLOT_TYPES) == 9


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Money(Decimal(5000), "USD"), {"amount": "5000", "currency": "USD"}),
        (Money(Decimal("2500.0")), {"amount": "2500", "currency": None}),
        (Money(Decimal("99.90"), "EUR"), {"amount": "99.9", "currency": "EUR"}),
        (datetime(2026, 11, 26, 17, 0, tzinfo=UTC), "2026-11-26T17:00:00+00:00"),
        (date(2026, 12, 3), "2026-12-03"),
        (time(9, 30), "09:30:00"),
        (Decimal("1E+3"), "1000"),
        (True, True),
        (42, 42),
        ("text", "text"),
        (None, None),
    ],
)
def test_slot_value_to_json(value: object, expected: object) -> None:
    assert slot_value_to_json(value) == expected


def test_find_entities_spans_point_into_the_original_text() -> None:
    text = "Call me tomorrow at five, budget is $5,000 and we are 3 people"
    entities = {
        name: (value, text[start:end]) for name, value, start, end in find_entities(text, NOW)
    }
    assert entities["datetime"] == (datetime(2026, 11, 26, 17, 0, tzinfo=UTC), "tomorrow at five")
    assert entities["money"] == (Money(Decimal(5000), "USD"), "$5,000")
    assert entities["number"] == (3, "3")


ODD_CHARACTERS = list("abcdefghijklmnopqrstuvwxyz0123456789 .,:$#-'")
NUMBER_AND_TIME_WORDS = [
    "a",
    "an",
    "half",
    "couple",
    "few",
    "dozen",
    "one",
    "two",
    "five",
    "ten",
    "twenty",
    "hundred",
    "thousand",
    "million",
    "k",
    "grand",
    "and",
    "point",
    "first",
    "third",
    "at",
    "in",
    "on",
    "the",
    "tomorrow",
    "friday",
    "pm",
    "am",
    "oh",
    "quarter",
    "past",
    "to",
    "of",
    "december",
    "15th",
    "5",
    "30",
    ":",
    "next",
    "week",
    "morning",
    "minutes",
    "hours",
    "end",
    "weekend",
]


def _run_every_extractor(text: str) -> None:
    """The extractors themselves, not extract_slot (whose safety net would hide a crash)."""
    extract_yes_no(text)
    extract_integer(text)
    extract_money(text)
    extract_datetime(text, NOW)
    extract_date(text, NOW)
    extract_time(text, NOW)
    extract_digits(text)
    extract_choice(text, CONTACT_OPTIONS)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(ODD_CHARACTERS), max_size=60))
def test_extractors_never_raise_on_odd_text(text: str) -> None:
    _run_every_extractor(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(NUMBER_AND_TIME_WORDS), max_size=10))
def test_extractors_never_raise_on_number_and_time_words(words: list[str]) -> None:
    _run_every_extractor(" ".join(words))
