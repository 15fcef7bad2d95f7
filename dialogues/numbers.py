"""Numbers said in words or digits, found in recognised speech with their character spans.

Understands "five thousand", "twenty five hundred", "a hundred and fifty", "2.5k", "10 grand",
"5,000", "fifty k", "a couple thousand", "half a million", "two point five million", and
ordinals ("the third", "15th", "twenty first").
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

_UNITS = {
    "zero": 0, "oh": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9,
}  # fmt: skip
_TEENS = {
    "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fourty": 40, "fifty": 50, "sixty": 60,
    "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}  # fmt: skip
_SCALES = {
    "hundred": 100, "thousand": 1000, "grand": 1000, "k": 1000, "million": 1_000_000,
    "mil": 1_000_000, "billion": 1_000_000_000,
}  # fmt: skip
# Words that stand for a small count before a scale ("a couple thousand").
_QUANTIFIERS = {"a": 1, "an": 1, "couple": 2, "few": 3, "dozen": 12}

_TOKEN = re.compile(
    r"\d+(?:,\d{3})+(?:\.\d+)?(?:st|nd|rd|th|k|m)?"
    r"|\d*\.\d+(?:k|m)?|\d+(?:st|nd|rd|th|k|m)?(?![a-z])|[a-z]+(?:'[a-z]+)?|[$€£₽%#*:]|\d+",
)
_DIGITS = re.compile(r"(\d+(?:,\d{3})*(?:\.\d+)?|\d*\.\d+)(st|nd|rd|th|k|m)?$")


@dataclass(frozen=True, slots=True)
class Token:
    """One word, number or symbol of the original text, lower-cased, with its span."""

    text: str
    start: int
    end: int


def tokenize(text: str) -> list[Token]:
    """Words, numbers and currency symbols with their character offsets in ``text``."""
    return [Token(m.group(), m.start(), m.end()) for m in _TOKEN.finditer(text.lower())]


@dataclass(frozen=True, slots=True)
class NumberSpan:
    """A number found in tokens ``first`` to ``last`` (inclusive) = characters start..end."""

    value: Decimal
    first: int
    last: int
    start: int
    end: int
    ordinal: bool = False
    scaled: bool = False  # a scale word was part of it ("thousand", "k", "grand")

    @property
    def is_integer(self) -> bool:
        return self.value == self.value.to_integral_value()


def _digit_value(token: str) -> tuple[Decimal, bool, int] | None:
    """(value, ordinal, scale) of a digit token such as "5,000", "2.5k", "15th"."""
    match = _DIGITS.match(token)
    if not match:
        return None
    try:
        value = Decimal(match.group(1).replace(",", ""))
    except InvalidOperation:
        return None
    suffix = match.group(2) or ""
    scale = {"k": 1000, "m": 1_000_000}.get(suffix, 1)
    return value, suffix in ("st", "nd", "rd", "th"), scale


class _Builder:
    """Accumulates one spoken number ("two hundred and fifty thousand")."""

    def __init__(self) -> None:
        self.total = Decimal(0)
        self.current = Decimal(0)
        self.last_kind = ""  # "unit", "teen", "tens", "hundred", "scale", "digits"
        self.smallest_scale = 10**12
        self.scaled = False

    def small(self, kind: str, value: int) -> bool:
        """Add a unit/teen/tens word; False when it must start a new number."""
        if self.last_kind in ("unit", "teen", "digits"):
            return False
        if self.last_kind == "tens" and kind != "unit":
            return False
        self.current += value
        self.last_kind = kind
        return True

    def scale(self, value: int) -> bool:
        if not self.last_kind and not self.current:
            return False
        if value == 100:
            if self.last_kind == "hundred" or (self.current % 100 == 0 and self.current):
                return False
            self.current = (self.current or Decimal(1)) * 100
            self.last_kind = "hundred"
            return True
        if value >= self.smallest_scale:
            return False
        self.total += (self.current or Decimal(1)) * value
        self.current = Decimal(0)
        self.smallest_scale = value
        self.last_kind = "scale"
        self.scaled = True
        return True

    @property
    def value(self) -> Decimal:
        return self.total + self.current


def find_numbers(tokens: list[Token]) -> list[NumberSpan]:
    """Every number in ``tokens``, left to right, never overlapping."""
    found: list[NumberSpan] = []
    index = 0
    while index < len(tokens):
        span = _number_at(tokens, index)
        if span is not None and _is_pronoun_one(tokens, span):
            span = None
        if span is None:
            index += 1
        else:
            found.append(span)
            index = span.last + 1
    return found


_BEFORE_PRONOUN_ONE = frozenset({
    "the", "this", "that", "which", "another", "each", "every", "no", "any", "some", "little",
    "big", "new", "old", "last", "next", "other", "right", "wrong", "same",
})  # fmt: skip


def _is_pronoun_one(tokens: list[Token], span: NumberSpan) -> bool:
    """ "the third one", "that one", "no one": "one" stands for a thing, not a count."""
    if span.first != span.last or tokens[span.first].text != "one" or span.first == 0:
        return False
    before = tokens[span.first - 1].text
    return before in _BEFORE_PRONOUN_ONE or before in _ORDINALS


def _number_at(tokens: list[Token], first: int) -> NumberSpan | None:
    words = [t.text for t in tokens]
    builder = _Builder()
    index = first
    last = -1
    ordinal = False
    word = words[index]
    # "half a million", "a couple (of) thousand", "a hundred", "a dozen"
    if word == "half" and index + 2 < len(words) and words[index + 1] in ("a", "an"):
        scale = _SCALES.get(words[index + 2])
        if scale and scale >= 100:
            value = Decimal(scale) / 2
            last = index + 2
            return _span(tokens, first, last, value, ordinal=False, scaled=True)
    if word in ("a", "an", "couple", "few") or word == "dozen":
        count = _QUANTIFIERS.get(word, 0)
        look = index + 1
        if word in ("a", "an") and look < len(words) and words[look] in ("couple", "few"):
            count = _QUANTIFIERS[words[look]]
            look += 1
        if look < len(words) and words[look] == "of":
            look += 1
        if word == "dozen" or (look < len(words) and words[look] == "dozen"):
            if word != "dozen":
                look += 1
            return _span(tokens, first, look - 1 if word != "dozen" else first, Decimal(12))
        if look < len(words) and words[look] in _SCALES and words[look] not in ("k", "mil"):
            builder.current = Decimal(count)
            builder.last_kind = "unit"
            index = look
        elif word in ("couple",) or (word in ("a", "an") and count > 1):
            return _span(tokens, first, look - 1, Decimal(count))
        else:
            return None
    while index < len(words):
        word = words[index]
        if word in _UNITS and word != "oh":
            if not builder.small("unit", _UNITS[word]):
                break
        elif word in _TEENS:
            if not builder.small("teen", _TEENS[word]):
                break
        elif word in _TENS:
            if not builder.small("tens", _TENS[word]):
                break
        elif word in _ORDINALS and builder.last_kind in ("", "tens", "hundred", "scale"):
            if builder.last_kind == "tens" and _ORDINALS[word] >= 10:
                break
            builder.current += _ORDINALS[word]
            ordinal = True
            last = index
            break
        elif word in _SCALES and builder.last_kind:
            if not builder.scale(_SCALES[word]):
                break
        elif word == "and" and builder.last_kind in ("hundred", "scale"):
            following = words[index + 1] if index + 1 < len(words) else ""
            if following not in _UNITS and following not in _TEENS and following not in _TENS:
                break
            index += 1
            continue
        elif word == "point" and builder.last_kind in ("unit", "teen", "tens", "digits"):
            fraction = []
            look = index + 1
            while look < len(words) and words[look] in _UNITS:
                fraction.append(str(_UNITS[words[look]]))
                look += 1
            if not fraction:
                break
            builder.current += Decimal("0." + "".join(fraction))
            builder.last_kind = "digits"
            index = look
            last = look - 1
            continue
        elif not builder.last_kind and (parsed := _digit_value(word)) is not None:
            value, is_ordinal, scale = parsed
            builder.current = value * scale
            builder.last_kind = "digits"
            builder.scaled = scale > 1
            if is_ordinal:
                ordinal = True
                last = index
                break
            if scale > 1:
                builder.smallest_scale = scale
                builder.total, builder.current = builder.current, Decimal(0)
                builder.last_kind = "scale"
        else:
            break
        last = index
        index += 1
    if last < first:
        return None
    return _span(tokens, first, last, builder.value, ordinal=ordinal, scaled=builder.scaled)


def _span(
    tokens: list[Token],
    first: int,
    last: int,
    value: Decimal,
    *,
    ordinal: bool = False,
    scaled: bool = False,
) -> NumberSpan:
    if value == value.to_integral_value():
        value = Decimal(int(value))
    return NumberSpan(
        value=value,
        first=first,
        last=last,
        start=tokens[first].start,
        end=tokens[last].end,
        ordinal=ordinal,
        scaled=scaled,
    )


def parse_number(text: str) -> Decimal | None:
    """The first number in ``text`` ("twenty five hundred" -> 2500), or None."""
    found = find_numbers(tokenize(text))
    return found[0].value if found else None


# ---------------------------------------------------------------- numbers said back in words
# The words above, the other way round (one spelling each).
_SMALL_WORDS = {v: w for w, v in (_UNITS | _TEENS).items() if w != "oh"}
_TENS_WORDS = {v: w for w, v in _TENS.items() if w != "fourty"}
_SCALE_WORDS = ((1_000_000_000, "billion"), (1_000_000, "million"), (1000, "thousand"))


def _below_thousand(value: int) -> list[str]:
    words: list[str] = []
    hundreds, rest = divmod(value, 100)
    if hundreds:
        words += [_SMALL_WORDS[hundreds], "hundred"]
    if rest >= 20:
        tens, unit = divmod(rest, 10)
        words.append(_TENS_WORDS[tens * 10] + (f" {_SMALL_WORDS[unit]}" if unit else ""))
    elif rest or not words:
        words.append(_SMALL_WORDS[rest])
    return words


def number_words(value: Decimal | int) -> str:
    """A number as it is said: 15000 -> "fifteen thousand", 2.5 -> "two point five".

    The inverse of :func:`parse_number` for the numbers a callee says (below a trillion);
    read-backs use it so that the callee hears the words the robot understood."""
    number = Decimal(value)
    sign = "minus " if number < 0 else ""
    number = abs(number)
    whole = int(number)
    words: list[str] = []
    remaining = whole
    for scale, name in _SCALE_WORDS:
        count, remaining = divmod(remaining, scale)
        if count:
            words += [*_below_thousand(count), name]
    if remaining or not words:
        words += _below_thousand(remaining)
    fraction = number - whole
    if fraction:
        digits = format(fraction.normalize(), "f").split(".")[1]
        words += ["point", *(_SMALL_WORDS[int(d)] for d in digits)]
    return sign + " ".join(words)
