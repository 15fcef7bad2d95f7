"""Machine phrases heard slightly wrong: Whisper garbles Russian word endings on 8 kHz audio.

:func:`fuzzy_machine_phrase` finds one of :data:`FUZZY_MACHINE_PHRASES` in a normalized
transcript when every word of the phrase is within a small edit distance of consecutive words
of the transcript ("оставте сообщенье" for "оставьте сообщение"). Phrases are two or more
words that people picking up a call do not say, so one misheard word alone never counts.
"""

from __future__ import annotations

#: Phrases of voicemail greetings matched with edit distance, per language.
FUZZY_MACHINE_PHRASES: dict[str, tuple[str, ...]] = {
    "ru": (
        "оставьте сообщение",
        "оставьте ваше сообщение",
        "оставьте голосовое сообщение",
        "после сигнала",
        "после звукового сигнала",
        "сообщение после",
        "вы позвонили",
        "вы дозвонились",
        "я перезвоню",
        "перезвоню позже",
        "не могу ответить",
        "абонент недоступен",
        "абонент не отвечает",
        "меня нет",
    ),
}


def allowed_edits(word: str) -> int:
    """Edits a word of this length may take and still count: none for short words (they
    confuse too easily), one for 5-7 letters, two for longer ones."""
    return 0 if len(word) < 5 else 1 if len(word) < 8 else 2


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def fuzzy_machine_phrase(normalized: str, language: str) -> str | None:
    """The transcript words (space-joined) that match a fuzzy machine phrase, or None."""
    words = normalized.split()
    for phrase in FUZZY_MACHINE_PHRASES.get(language, ()):
        wanted = phrase.split()
        for start in range(len(words) - len(wanted) + 1):
            heard = words[start : start + len(wanted)]
            if all(
                edit_distance(h, w) <= allowed_edits(w) for h, w in zip(heard, wanted, strict=True)
            ):
                return " ".join(heard)
    return None
