"""What the callee is expected to say in a dialogue state: recognizer hints and grammars.

The call session asks :func:`expected_answers` before decoding an utterance. The answer holds

``phrases``
    what a closed grammar may listen for. It is non-empty only in a *short-answer state*:

    * a state filling a ``yes_no`` slot (yes/no words), a ``digits`` slot (any digit
      sequence) or a ``choice`` slot (its option names and phrases);
    * a state without a slot whose ``on`` handlers are all *closed*: none captures a slot
      value from the answer (times, amounts are open-ended), and the intent has at least one
      short example.

    Slots of other types (money, dates, times, integers, free text) and handlers that capture
    values make a state open: everything goes to the general recognizer. A short-answer
    state listens for its own answers (the slot's, and the short examples of the intents it
    handles) plus the short examples of the global intents that may cut any question short
    (the script's ``interrupt_intents``), so "not interested" or "stop calling me" stay in
    the grammar. Other global intents stay out: their one-word examples ("what", "sorry")
    attract any unclear sound.
``hints``
    a bounded list of the state's own expected phrases, given to a general recognizer
    (Whisper's initial prompt) in every state that has any.

Phrases longer than :data:`MAX_PHRASE_WORDS` words are left out: a long answer is the general
recognizer's job. Both lists are bounded (:data:`MAX_GRAMMAR_PHRASES`, :data:`MAX_HINT_CHARS`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from dialogues.loader import LoadedScript
from dialogues.slots import normalize

#: Longest phrase (words) a grammar or hint list holds.
MAX_PHRASE_WORDS = 4
#: Phrases per short-answer grammar, at most.
MAX_GRAMMAR_PHRASES = 160
#: Examples taken per intent the state handles, at most (the shortest first).
MAX_EXAMPLES_PER_INTENT = 30
#: Examples taken per global intent, at most.
MAX_GLOBAL_EXAMPLES = 12
#: Length of the hint list (characters, joined with ", "); Whisper's prompt is ~220 tokens.
MAX_HINT_CHARS = 200
#: Stands for any sequence of spoken digits (see robot.speech.pocketsphinx.DIGIT_SEQUENCE).
DIGIT_SEQUENCE = "<digits>"

YES_NO_PHRASES = (
    "yes",
    "no",
    "yeah",
    "yep",
    "yup",
    "sure",
    "nope",
    "nah",
    "okay",
    "correct",
    "of course",
    "absolutely",
    "not really",
    "no thanks",
    "yes i do",
    "no i don't",
    "yes please",
    "no thank you",
)


@dataclass(frozen=True, slots=True)
class ExpectedAnswers:
    """What a state expects: grammar phrases (short-answer states only) and hints."""

    phrases: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()

    @property
    def short(self) -> bool:
        """True when a closed grammar may decode the answer (with a fallback)."""
        return bool(self.phrases)


def _short(phrase: str) -> str | None:
    text = normalize(phrase)
    return text if text and len(text.split()) <= MAX_PHRASE_WORDS else None


def _examples(loaded: LoadedScript, intent: str, limit: int = MAX_EXAMPLES_PER_INTENT) -> list[str]:
    shortened = (_short(e) for e in loaded.examples.get(intent, []))
    # Shortest first; among equals, the script's own order.
    found = sorted(dict.fromkeys(e for e in shortened if e), key=lambda e: len(e.split()))
    return found[:limit]


def _bounded_hints(groups: list[list[str]]) -> tuple[str, ...]:
    """Phrases taken in turn from each group (slot answers, each intent) up to the bound."""
    interleaved = [
        g[i] for i in range(max(map(len, groups), default=0)) for g in groups if i < len(g)
    ]
    out: list[str] = []
    used = 0
    for phrase in dict.fromkeys(interleaved):
        if phrase == DIGIT_SEQUENCE:
            continue
        cost = len(phrase) + (2 if out else 0)
        if used + cost > MAX_HINT_CHARS:
            break
        out.append(phrase)
        used += cost
    return tuple(out)


_cache: OrderedDict[tuple[int, str], tuple[LoadedScript, ExpectedAnswers]] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_ENTRIES = 512


def expected_answers(
    loaded: LoadedScript, state_name: str, confirming: str | None = None
) -> ExpectedAnswers:
    """The grammar phrases and hints for the answer to ``state_name``'s question, or, while
    the robot waits for a yes or a no about what it heard (``confirming``: "intent
    not_interested", "slot budget"; :attr:`DialogueManager.confirming`), for that question.
    Computed once per script object, state and question: every call asks the same."""
    key = (id(loaded), state_name if confirming is None else f"{state_name}?{confirming}")
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] is loaded:
            _cache.move_to_end(key)
            return hit[1]
    if confirming is None:
        answers = _expected_answers(loaded, state_name)
    else:
        answers = _confirmation_answers(loaded, confirming)
    with _cache_lock:
        _cache[key] = (loaded, answers)
        while len(_cache) > _CACHE_ENTRIES:
            _cache.popitem(last=False)
    return answers


def _expected_answers(loaded: LoadedScript, state_name: str) -> ExpectedAnswers:
    script = loaded.script
    state = script.states.get(state_name)
    if state is None or not state.is_question:
        return ExpectedAnswers()
    groups: list[list[str]] = []  # what answers this question: the slot's, each intent's
    closed = True
    slot = script.slots.get(state.slot) if state.slot else None
    if slot is not None:
        if slot.type == "yes_no":
            groups.append(list(YES_NO_PHRASES))
        elif slot.type == "digits":
            groups.append([DIGIT_SEQUENCE])
        elif slot.type == "choice" and slot.options:
            for option, synonyms in slot.options.items():
                groups.append([p for p in (_short(x) for x in (option, *synonyms)) if p])
        else:
            closed = False
    for intent, branches in state.on.items():
        examples = _examples(loaded, intent)
        if any(b.capture for b in branches) or not examples:
            closed = False
        groups.append(examples)
    hints = _bounded_hints(groups)
    own = [p for group in groups for p in group]
    if not closed or not own:
        return ExpectedAnswers(hints=hints)
    # The state's own answers first, so they survive the grammar's bound.
    phrases = list(own)
    for intent in script.settings.interrupt_intents:
        if intent in script.global_.on and intent not in state.on:
            phrases += _examples(loaded, intent, MAX_GLOBAL_EXAMPLES)
    unique = tuple(dict.fromkeys(phrases))[:MAX_GRAMMAR_PHRASES]
    return ExpectedAnswers(phrases=unique, hints=hints)


def _confirmation_answers(loaded: LoadedScript, confirming: str) -> ExpectedAnswers:
    """A yes/no question about what was heard: yes and no words, the examples of ``affirm``
    and ``deny``, for an intent its own short examples (said again, they confirm it), and the
    short examples of the intents that may cut any question short (``interrupt_intents``).
    A correction ("no, fifteen") is longer or off the list: the general recognizer hears it."""
    groups = [list(YES_NO_PHRASES), _examples(loaded, "affirm"), _examples(loaded, "deny")]
    kind, _, name = confirming.partition(" ")
    if kind == "intent" and name:
        groups.append(_examples(loaded, name))
    phrases = [p for group in groups for p in group]
    for intent in loaded.script.settings.interrupt_intents:  # "stop calling me" still heard
        if intent in loaded.script.global_.on:
            phrases += _examples(loaded, intent, MAX_GLOBAL_EXAMPLES)
    unique = tuple(dict.fromkeys(phrases))[:MAX_GRAMMAR_PHRASES]
    return ExpectedAnswers(phrases=unique, hints=_bounded_hints(groups))
