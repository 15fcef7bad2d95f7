"""Slot types and their extractors: what a script can ask for and how an answer is read.

Every extractor takes recognised speech (any case, punctuation or fillers) and returns the
value, or ``None`` when the answer does not clearly give one. None of them raises on odd text.
Dates and times resolve against ``now`` (tz-aware; the lead's local time) in its time zone.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from dialogues.numbers import find_numbers, tokenize
from dialogues.text import normalize
from dialogues.when import resolve

SLOT_TYPES: frozenset[str] = frozenset(
    {"yes_no", "integer", "money", "datetime", "date", "time", "free_text", "digits", "choice"}
)


@dataclass(frozen=True, slots=True)
class Money:
    """An amount and, when said, its currency (ISO code)."""

    amount: Decimal
    currency: str | None = None


# ---------------------------------------------------------------- yes / no
_AFFIRM_INTENTS = frozenset({"affirm"})
_DENY_INTENTS = frozenset({"deny"})
# Phrases whose words look negative but mean yes ("no problem"), checked first.
_POSITIVE_IDIOMS = re.compile(
    r"\b(?:no problem|not a problem|no worries|why not|of course|do not mind|no doubt"
    r"|not bad|cannot complain|can not complain|could not agree more)\b"
)
_UNSURE = re.compile(
    r"\b(?:maybe|perhaps|not sure|unsure|do not know|no idea|possibly|depends|might)\b"
)
# "i'm good" / "i'm fine, thanks" politely declines as often as it agrees.
_POLITE = re.compile(r"\b(?:i am|we are) (?:good|fine|ok|okay|alright|all set)\b")
_NEGATIVE = re.compile(
    r"\b(?:no|nope|nah|na|nay|not|never|negative|incorrect|wrong|none|disagree|refuse)\b"
)
_POSITIVE = re.compile(
    r"\b(?:yes|yeah|yep|yup|ya|yah|yea|yess|sure|shore|correct|ok|okay|alright"
    r"|right(?! now| away| here| there| after| before| back)"
    r"|absolutely|definitely|certainly|indeed|affirmative|mhm|agree|agreed|fine|exactly"
    r"|totally|please do|go ahead|sounds good|of course|you bet|perfect|great)\b"
    # "i am" / "we do" answer a question only when they end the answer ("yes i am")
    r"|\b(?:i|we|it|he|she|they|that) (?:do|am|are|is|did|have|has|will|can|was)$"
)


def extract_yes_no(text: str, intent: str | None = None) -> bool | None:
    """True for yes, False for no, None when the answer is neither or unsure."""
    if intent in _AFFIRM_INTENTS:
        return True
    if intent in _DENY_INTENTS:
        return False
    words = _POSITIVE_IDIOMS.sub(" yes ", normalize(text))
    if not words or _UNSURE.search(words):
        return None
    if _NEGATIVE.search(words):
        return False
    if _POLITE.search(words):
        return None
    if _POSITIVE.search(words):
        return True
    return None


# ---------------------------------------------------------------- numbers and money
def extract_integer(text: str) -> int | None:
    """The first whole number said ("about fifty" -> 50, "a couple" -> 2, "none" -> 0)."""
    for span in find_numbers(tokenize(text)):
        if not span.ordinal and span.is_integer:
            return int(span.value)
    if re.search(r"\b(?:none|nobody|nothing|no one|zero)\b", normalize(text)):
        return 0
    return None


_CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "₽": "RUB"}
_CURRENCY_WORDS = {
    "dollar": "USD", "dollars": "USD", "bucks": "USD", "buck": "USD", "usd": "USD",
    "euro": "EUR", "euros": "EUR", "eur": "EUR",
    "pound": "GBP", "pounds": "GBP", "quid": "GBP", "gbp": "GBP", "sterling": "GBP",
    "ruble": "RUB", "rubles": "RUB", "rouble": "RUB", "roubles": "RUB", "rub": "RUB",
}  # fmt: skip


def _money_spans(text: str) -> list[tuple[Money, int, int, bool]]:
    """(money, start, end, currency_was_said) for every amount in ``text``."""
    tokens = tokenize(text)
    words = [t.text for t in tokens]
    numbers = [s for s in find_numbers(tokens) if not s.ordinal]
    found: list[tuple[Money, int, int, bool]] = []
    for position, span in enumerate(numbers):
        amount = span.value
        # "five to ten thousand": the scale said once applies to both ends of the range
        following = numbers[position + 1] if position + 1 < len(numbers) else None
        if (
            following is not None
            and not span.scaled
            and following.scaled
            and following.first == span.last + 2
            and words[span.last + 1] in ("to", "or", "and")
        ):
            scale = following.value / _unscaled(following.value)
            amount = span.value * scale
        currency, start, end = None, span.start, span.end
        if span.first > 0 and words[span.first - 1] in _CURRENCY_SYMBOLS:
            currency, start = _CURRENCY_SYMBOLS[words[span.first - 1]], tokens[span.first - 1].start
        else:
            for look in range(span.last + 1, min(span.last + 3, len(words))):
                if words[look] in _CURRENCY_WORDS:
                    currency, end = _CURRENCY_WORDS[words[look]], tokens[look].end
                    break
                if words[look] not in ("us", "u", "s", "american", "british", "russian"):
                    break
        found.append((Money(amount, currency), start, end, currency is not None))
    return found


def _unscaled(value: Decimal) -> Decimal:
    """The leading number of a scaled amount (5000 -> 5, 2500000 -> 2.5)."""
    for scale in (Decimal(1_000_000_000), Decimal(1_000_000), Decimal(1000), Decimal(100)):
        if value >= scale:
            return value / scale
    return value


def extract_money(text: str) -> Money | None:
    """An amount of money: the first one with a currency, else the first number said."""
    spans = _money_spans(text)
    with_currency = [money for money, _, _, said in spans if said]
    if with_currency:
        return with_currency[0]
    return spans[0][0] if spans else None


# ---------------------------------------------------------------- dates and times
def extract_datetime(text: str, now: datetime) -> datetime | None:
    """The moment named ("tomorrow at five"), in ``now``'s time zone; None if none named."""
    when = resolve(text, now)
    return when.moment if when else None


def extract_date(text: str, now: datetime) -> date | None:
    """The day named ("on the 15th", "next monday"), or the day of the moment named."""
    when = resolve(text, now)
    return when.day if when else None


def extract_time(text: str, now: datetime) -> time | None:
    """The time of day named ("at half past five", "in the evening")."""
    when = resolve(text, now)
    return when.time_of_day if when else None


# ---------------------------------------------------------------- digits, choices, text
_DIGIT_WORDS = {
    "zero": "0", "oh": "0", "one": "1", "two": "2",
    "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "star": "*", "hash": "#", "pound": "#",
}  # fmt: skip
_REPEATS = {"double": 2, "triple": 3}


def extract_digits(text: str) -> str | None:
    """A spoken or keyed digit string ("five five five oh one" -> "55501"), or None."""
    out: list[str] = []
    repeat = 1
    for raw in re.findall(r"[a-z]+|\d+|[*#]", text.lower()):
        if raw in _REPEATS:
            repeat = _REPEATS[raw]
            continue
        symbol = raw if raw.isdigit() or raw in "*#" else _DIGIT_WORDS.get(raw)
        if symbol is None:
            repeat = 1
            continue
        out.append(symbol * repeat if len(symbol) == 1 else symbol)
        repeat = 1
    digits = "".join(out)
    return digits if any(ch.isdigit() for ch in digits) else None


_ORDINAL_PICKS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4, "last": -1}


def extract_choice(text: str, options: Mapping[str, Sequence[str]]) -> str | None:
    """The option named (by its name or a synonym), "the second one", or None if unclear."""
    said = f" {normalize(text)} "
    matched: set[str] = set()
    for option, synonyms in options.items():
        for phrase in (option, *synonyms):
            wanted = normalize(phrase)
            if wanted and f" {wanted} " in said:
                matched.add(option)
    if len(matched) == 1:
        return matched.pop()
    if not matched:
        pick = re.search(r"\b(first|second|third|fourth|fifth|last) (?:one|option)\b", said)
        if pick and options:
            names = list(options)
            index = _ORDINAL_PICKS[pick.group(1)]
            if -len(names) <= index < len(names):
                return names[index]
    return None


def extract_free_text(text: str) -> str | None:
    cleaned = " ".join(text.split())
    return cleaned or None


def extract_slot(
    slot_type: str,
    text: str,
    *,
    now: datetime,
    intent: str | None = None,
    options: Mapping[str, Sequence[str]] | None = None,
) -> object | None:
    """Run the extractor of ``slot_type``; unknown types raise ``ValueError``."""
    if slot_type not in SLOT_TYPES:
        raise ValueError(f"unknown slot type {slot_type!r}; known: {', '.join(sorted(SLOT_TYPES))}")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (the lead's local time)")
    try:
        if slot_type == "yes_no":
            return extract_yes_no(text, intent)
        if slot_type == "integer":
            return extract_integer(text)
        if slot_type == "money":
            return extract_money(text)
        if slot_type == "datetime":
            return extract_datetime(text, now)
        if slot_type == "date":
            return extract_date(text, now)
        if slot_type == "time":
            return extract_time(text, now)
        if slot_type == "digits":
            return extract_digits(text)
        if slot_type == "choice":
            return extract_choice(text, options or {})
        return extract_free_text(text)
    except (ArithmeticError, ValueError, IndexError):  # odd text never stops a call
        return None


def find_entities(text: str, now: datetime) -> list[tuple[str, object, int, int]]:
    """(entity, value, start, end) for money, datetime and number mentions in ``text``."""
    found: list[tuple[str, object, int, int]] = []
    try:
        when = resolve(text, now)
        money = [(m, s, e) for m, s, e, said in _money_spans(text) if said]
        numbers = [s for s in find_numbers(tokenize(text)) if not s.ordinal]
    except (ArithmeticError, ValueError, IndexError):
        return found
    taken: list[tuple[int, int]] = []
    if when is not None and (when.moment or when.day):
        found.append(("datetime", when.moment or when.day, when.start, when.end))
        taken.append((when.start, when.end))
    for amount, start, end in money:
        found.append(("money", amount, start, end))
        taken.append((start, end))
    for span in numbers:
        if not any(start <= span.start < end for start, end in taken):
            value: object = int(span.value) if span.is_integer else span.value
            found.append(("number", value, span.start, span.end))
    return found


def slot_value_to_json(value: object) -> Any:
    """A JSON-able form: Money -> {"amount": "5000", "currency": "USD"}, dates -> ISO."""
    if isinstance(value, Money):
        return {"amount": _decimal_text(value.amount), "currency": value.currency}
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [slot_value_to_json(item) for item in value]
    return value


def as_datetime(value: object, now: datetime) -> datetime | None:
    """The moment a date, time or datetime slot value names (a date alone: 10 AM that day, a
    time alone: today), in ``now``'s time zone; None for other values."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time(10, 0), now.tzinfo)
    if isinstance(value, time):
        return datetime.combine(now.date(), value, now.tzinfo)
    return None


def _decimal_text(value: Decimal) -> str:
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(), "f")
