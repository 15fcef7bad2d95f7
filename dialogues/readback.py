"""How slot values are said to the callee, and reading one back before it is stored.

:func:`spoken` is how a value reads inside a sentence (``{slot.callback_time}`` -> "tomorrow at
3 PM").

A slot with ``read_back: low_confidence`` (or ``always``) is not filled straight from the
answer: the robot says the value in words ("Fifteen thousand dollars, is that right?") and
waits (:class:`dialogues.confirm.PendingValue`). A yes stores it, a no asks the question
again, and a new value ("no, fifteen") replaces it: said without a scale after an amount in
the thousands, it keeps the scale of the amount it corrects (fifty thousand -> "no, fifteen"
-> fifteen thousand).
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from dialogues.numbers import number_words
from dialogues.schema import SlotDef
from dialogues.slots import Money

#: The read-back question, per language; ``{value}`` is the value in words.
READ_BACK_PROMPTS = {"en": "{value}, is that right?", "ru": "{value}, верно?"}

_DIGIT_RUN = re.compile(r"\d[\d,]*(?:\.\d+)?")
_SCALES = (Decimal(1_000_000_000), Decimal(1_000_000), Decimal(1000))


def spoken(value: Any, now: datetime) -> str:
    """How a slot value is read out to the callee."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    amount = getattr(value, "amount", None)
    if isinstance(amount, Decimal):
        currency = {"USD": "dollars", "EUR": "euros", "GBP": "pounds", "RUB": "rubles"}
        number = f"{amount:,.2f}".removesuffix(".00")
        unit = currency.get(getattr(value, "currency", None) or "", "")
        return f"{number} {unit}".strip()
    if isinstance(value, datetime):
        local = value.astimezone(now.tzinfo)
        if local.date() == now.date():
            day = "today"
        elif (local.date() - now.date()).days == 1:
            day = "tomorrow"
        else:
            day = f"{local:%A, %B} {local.day}"
        return f"{day} at {_clock_time(local.time())}"
    if isinstance(value, date):
        return f"{value:%A, %B} {value.day}"
    if isinstance(value, time):
        return _clock_time(value)
    return str(value)


def _clock_time(t: time) -> str:
    hour = t.hour % 12 or 12
    suffix = "AM" if t.hour < 12 else "PM"
    return f"{hour}:{t.minute:02d} {suffix}" if t.minute else f"{hour} {suffix}"


def needs_read_back(slot: SlotDef, asr_confidence: float | None, asr_below: float) -> bool:
    """Whether a value heard for ``slot`` is said back before it is stored."""
    if slot.read_back == "always":
        return True
    if slot.read_back == "low_confidence":
        return asr_confidence is not None and asr_confidence < asr_below
    return False


def value_words(slot_type: str, value: Any, spoken: str) -> str:
    """The value as the robot says it back: numbers in words, digit strings digit by digit.

    ``spoken`` is how the script reads the value elsewhere ("15,000 dollars"); its numbers
    are spelled out so that the callee hears exactly the amount understood."""
    if slot_type == "digits" and isinstance(value, str):
        return " ".join(number_words(int(digit)) for digit in value if digit.isdigit())
    if slot_type in ("money", "integer"):
        return _DIGIT_RUN.sub(lambda m: number_words(Decimal(m.group().replace(",", ""))), spoken)
    return spoken


def read_back_prompt(language: str, words: str) -> str:
    template = READ_BACK_PROMPTS.get(language, READ_BACK_PROMPTS["en"])
    text = template.replace("{value}", words)
    return text[:1].upper() + text[1:]


def corrected(previous: Any, new: Any) -> Any:
    """The value a correction means: a bare small number keeps the scale of the one it
    corrects ("fifty thousand" -> "no, fifteen" = fifteen thousand), and the currency."""
    if isinstance(previous, Money) and isinstance(new, Money):
        amount = _rescaled(previous.amount, new.amount)
        return replace(new, amount=amount, currency=new.currency or previous.currency)
    if isinstance(previous, int) and isinstance(new, int) and not isinstance(new, bool):
        return int(_rescaled(Decimal(previous), Decimal(new)))
    return new


def _rescaled(previous: Decimal, new: Decimal) -> Decimal:
    if new <= 0 or new >= 1000:
        return new
    for scale in _SCALES:
        if previous >= scale:
            return new * scale
    return new
