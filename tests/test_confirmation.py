"""Asking before acting on what was heard unsure: call-ending intents, read-back of values.

A scripted classifier pins intents, confidences and rankings down, so each test says exactly
which doubt (recognizer confidence, intent margin, unknown words) is in play.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from dialogues.confirm import decide, doubts, read_answer
from dialogues.loader import load_script_text
from dialogues.manager import DialogueManager, NoInput, UserText
from dialogues.nlu import FALLBACK_INTENT, NluResult
from dialogues.numbers import number_words, parse_number
from dialogues.readback import corrected, value_words
from dialogues.schema import UnsureLimits
from dialogues.slots import Money
from robot.errors import ScriptError

SCRIPT = """\
script: confirm
variables: [first_name]
intents:
  affirm: [yes]
  deny: [no]
  not_interested: [not interested]
  do_not_call: [stop calling]
  repeat: [say again]
  later: [call me later]
slots:
  budget: {type: money, read_back: low_confidence}
  seats: {type: integer, read_back: always}
  note: free_text
settings:
  confirm_prompts:
    do_not_call: "So, {lead.first_name}, no more calls, right?"
start: hello
global:
  on:
    not_interested: no_end
    do_not_call: {actions: [do_not_call], goto: dnc_end}
    repeat: {repeat: true}
    later: later_end
states:
  hello:
    ask: Still interested?
    on:
      affirm: budget
      deny: no_end
  budget:
    ask: What budget?
    slot: budget
    next: seats
  seats:
    ask: How many seats?
    slot: seats
    next: quiet
  quiet:
    ask: Anything else?
    confirm_intents: []
    slot: note
    next: done
  done: {say: Thanks., disposition: qualified, end: true}
  no_end: {say: Bye., disposition: not_interested, end: true}
  dnc_end: {say: Removed., disposition: do_not_call, end: true}
  later_end: {say: Later then., disposition: callback, end: true}
"""

#: text -> (intent, confidence, runner-up confidence)
SCRIPTED = {
    "yes": ("affirm", 0.95, 0.01),
    "yeah that's right": ("affirm", 0.9, 0.02),
    "no": ("deny", 0.95, 0.01),
    "not interested": ("not_interested", 0.9, 0.02),
    "not interested maybe": ("not_interested", 0.5, 0.4),
    "stop calling": ("do_not_call", 0.9, 0.02),
    "say again": ("repeat", 0.9, 0.02),
    "call me later": ("later", 0.9, 0.02),
    "with any mud": ("not_interested", 0.77, 0.03),
}


class ScriptedClassifier:
    """Intents from a table; words it was 'trained' on are those of the table."""

    def parse(self, text: str) -> NluResult:
        intent, top, second = SCRIPTED.get(text.lower(), (FALLBACK_INTENT, 0.2, 0.1))
        other = "deny" if intent != "deny" else "affirm"
        ranking = ((intent, top), (other, second)) if intent != FALLBACK_INTENT else ()
        return NluResult(text, intent, top, ranking=ranking)

    def unknown_share(self, text: str) -> float:
        known = {word for phrase in SCRIPTED for word in phrase.split()}
        words = text.lower().split()
        return sum(word not in known for word in words) / max(len(words), 1)


NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)


def manager(at: str = "hello") -> DialogueManager:
    m = DialogueManager(
        load_script_text(SCRIPT),
        classifier=ScriptedClassifier(),
        lead={"first_name": "Ann"},
        clock=lambda: NOW,
    )
    m.start()
    if at in ("budget", "seats", "quiet"):
        m.handle(UserText("yes"))
    if at in ("seats", "quiet"):
        m.handle(UserText("ten thousand"))
    if at == "quiet":
        m.handle(UserText("four"))
        m.handle(UserText("yes"))
    assert m.state == at
    return m


# ---------------------------------------------------------------- call-ending intents


def test_call_ending_intent_heard_unsure_is_confirmed_before_the_call_ends() -> None:
    m = manager()
    turn = m.handle(UserText("not interested", confidence=0.42))
    assert not turn.ended and turn.state == "hello"
    assert turn.confirming == "intent not_interested"
    assert turn.text == "Just to be sure: you are not interested, right?"
    assert m.confirming == "intent not_interested"
    turn = m.handle(UserText("yeah that's right", confidence=0.9))
    assert turn.ended and turn.disposition == "not_interested"
    lines = [(e["who"], e["text"]) for e in m.result().transcript]
    assert lines[1:5] == [
        ("callee", "not interested"),
        ("event", "(confirming intent not_interested: asr 0.42 < 0.6)"),
        ("robot", "Just to be sure: you are not interested, right?"),
        ("callee", "yeah that's right"),
    ]
    assert lines[5] == ("event", "(confirmed not_interested)")


def test_a_no_to_the_confirmation_asks_the_question_again() -> None:
    m = manager("budget")
    turn = m.handle(UserText("with any mud", confidence=0.41))
    assert turn.confirming and not turn.ended
    turn = m.handle(UserText("no"))
    assert turn.text == "Sorry, my mistake. What budget?"
    assert turn.state == "budget" and not turn.ended
    assert m.handle(UserText("fifteen thousand dollars")).state == "seats"
    assert m.slots["budget"] == Money(Decimal(15000), "USD")


def test_anything_else_said_to_the_confirmation_is_handled_as_usual() -> None:
    m = manager()
    m.handle(UserText("not interested", confidence=0.3))
    turn = m.handle(UserText("call me later"))
    assert turn.state == "later_end" and turn.disposition == "callback"


def test_saying_the_intent_again_confirms_it_although_it_sounds_like_a_no() -> None:
    m = manager()
    m.handle(UserText("stop calling", confidence=0.3))
    turn = m.handle(UserText("stop calling"))  # the classifier: do_not_call again
    assert turn.ended and turn.disposition == "do_not_call"
    assert "do_not_call" in turn.action_kinds


def test_a_sure_call_ending_intent_ends_the_call_at_once() -> None:
    for confidence in (None, 0.95):
        m = manager()
        turn = m.handle(UserText("not interested", confidence=confidence))
        assert turn.ended and turn.disposition == "not_interested" and turn.confirming is None


def test_a_narrow_margin_between_intents_is_unsure_even_for_typed_text() -> None:
    m = manager()
    turn = m.handle(UserText("not interested maybe"))
    assert turn.confirming == "intent not_interested" and not turn.ended
    assert m.transcript[-2].text == "(confirming intent not_interested: margin 0.10 < 0.2)"


def test_a_recognized_fragment_taken_for_a_call_ending_intent_is_unsure() -> None:
    limits = UnsureLimits(words_below=3)
    fragment = NluResult("was calling.", "do_not_call", 0.98, ranking=(("do_not_call", 0.98),))
    assert doubts(fragment, 0.9, limits) == ("2 words < 3",)
    assert doubts(fragment, None, limits) == ()  # typed text is sure
    assert doubts(fragment, 0.9, UnsureLimits()) == ()  # off unless the script sets it
    whole = NluResult("stop calling me now", "do_not_call", 0.98, ranking=(("do_not_call", 0.98),))
    assert doubts(whole, 0.9, limits) == ()
    no = NluResult("no", "deny", 0.99, ranking=(("deny", 0.99),))
    assert doubts(no, 0.9, limits) == ()  # a bare no is a whole answer


def test_mostly_unknown_words_are_unsure() -> None:
    assert doubts(None, None, UnsureLimits(), unknown_share=0.75) == ("unknown words 75% > 50%",)
    assert doubts(None, None, UnsureLimits(), unknown_share=0.5) == ()


def test_the_prompt_is_the_scripts_own_with_placeholders() -> None:
    m = manager()
    turn = m.handle(UserText("stop calling", confidence=0.2))
    assert turn.text == "So, Ann, no more calls, right?"


def test_a_state_can_turn_confirmation_off() -> None:
    m = manager("quiet")
    turn = m.handle(UserText("not interested", confidence=0.2))
    assert turn.ended and turn.disposition == "not_interested"


def test_silence_drops_the_confirmation() -> None:
    m = manager()
    m.handle(UserText("not interested", confidence=0.2))
    turn = m.handle(NoInput())
    assert turn.replies[-1].text == "Still interested?"
    turn = m.handle(UserText("yes"))  # now an answer to the state's own question
    assert turn.state == "budget"


def test_asking_to_repeat_keeps_the_confirmation_waiting() -> None:
    m = manager()
    m.handle(UserText("not interested", confidence=0.2))
    turn = m.handle(UserText("say again"))
    assert turn.text == "Just to be sure: you are not interested, right?"
    assert m.handle(UserText("yes")).disposition == "not_interested"


def test_a_yes_with_more_words_is_a_new_utterance() -> None:
    nlu = NluResult("", "affirm", 0.9)
    assert read_answer("yes", nlu) == "yes"
    assert read_answer("no no", nlu) == "no"
    assert read_answer("yes i'm still interested", nlu) == "other"
    assert read_answer("no i'm not interested", NluResult("", "not_interested", 0.9)) == "other"
    said_again = NluResult("", "not_interested", 0.9)
    assert read_answer("no i'm not interested", said_again, "not_interested") == "yes"


# ---------------------------------------------------------------- read-back of values


def test_an_amount_heard_unsure_is_read_back_in_words_and_stored_on_yes() -> None:
    m = manager("budget")
    turn = m.handle(UserText("fifty thousand dollars", confidence=0.45))
    assert turn.text == "Fifty thousand dollars, is that right?"
    assert turn.confirming == "slot budget" and turn.state == "budget"
    assert m.confirming == "slot budget"
    assert "budget" not in m.slots and not turn.slots_filled
    turn = m.handle(UserText("yes"))
    assert turn.state == "seats" and turn.slots_filled == {"budget": Money(Decimal(50000), "USD")}


def test_a_correction_keeps_the_scale_and_is_stored_when_heard_sure() -> None:
    m = manager("budget")
    m.handle(UserText("fifty thousand dollars", confidence=0.45))
    turn = m.handle(UserText("no fifteen", confidence=0.9))
    assert turn.state == "seats"
    assert m.slots["budget"] == Money(Decimal(15000), "USD")
    assert "(corrected budget)" in [e["text"] for e in m.result().transcript]


def test_a_correction_heard_unsure_is_read_back_again() -> None:
    m = manager("budget")
    m.handle(UserText("fifty thousand dollars", confidence=0.45))
    turn = m.handle(UserText("no fifteen", confidence=0.3))
    assert turn.text == "Fifteen thousand dollars, is that right?"
    assert "budget" not in m.slots
    m.handle(UserText("yes"))
    assert m.slots["budget"].amount == 15000


def test_a_no_to_the_read_back_stores_nothing_and_asks_again() -> None:
    m = manager("budget")
    m.handle(UserText("fifty thousand", confidence=0.2))
    turn = m.handle(UserText("no"))
    assert turn.text == "Sorry, my mistake. What budget?"
    assert "budget" not in m.slots and turn.state == "budget"


def test_a_value_heard_sure_is_stored_without_read_back() -> None:
    m = manager("budget")
    turn = m.handle(UserText("fifty thousand", confidence=0.8))
    assert turn.state == "seats" and m.slots["budget"].amount == 50000


def test_read_back_always_reads_back_typed_answers_too() -> None:
    m = manager("seats")
    turn = m.handle(UserText("twenty one"))
    assert turn.text == "Twenty one, is that right?"
    assert m.handle(UserText("that's right")).state == "quiet"
    assert m.slots["seats"] == 21


def test_value_words_spell_numbers_and_digit_strings() -> None:
    assert value_words("money", Money(Decimal(1500)), "1,500 dollars") == (
        "one thousand five hundred dollars"
    )
    assert value_words("digits", "4071", "4071") == "four zero seven one"
    assert value_words("datetime", None, "tomorrow at 5 PM") == "tomorrow at 5 PM"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (0, "zero"),
        (15, "fifteen"),
        (50000, "fifty thousand"),
        (2500000, "two million five hundred thousand"),
        (1999, "one thousand nine hundred ninety nine"),
        (Decimal("2.5"), "two point five"),
    ],
)
def test_number_words_are_read_as_the_same_number(value: Decimal | int, words: str) -> None:
    assert number_words(value) == words
    assert parse_number(words) == Decimal(value)


def test_corrections_keep_scale_and_currency() -> None:
    assert corrected(Money(Decimal(50000), "USD"), Money(Decimal(15))) == Money(
        Decimal(15000), "USD"
    )
    assert corrected(Money(Decimal(2_000_000)), Money(Decimal(3))).amount == 3_000_000
    assert corrected(Money(Decimal(500)), Money(Decimal(15))).amount == 15
    assert corrected(Money(Decimal(50000)), Money(Decimal(1500))).amount == 1500
    assert corrected(40, 4) == 4


def test_decide_stores_the_value_said_again() -> None:
    from dialogues.confirm import PendingValue

    pending = PendingValue("budget", Money(Decimal(50000)))
    nlu = NluResult("", FALLBACK_INTENT, 0.2)
    decision = decide(pending, "yes fifty thousand", nlu, Money(Decimal(50000)))
    assert decision.kind == "store"


# ---------------------------------------------------------------- script validation

BROKEN = """\
script: broken
intents:
  affirm: [yes]
  deny: [no]
slots:
  ok: {type: yes_no, read_back: always}
settings:
  confirm_intents: [not_intrested]
  confirm_prompts: {no_such: "Sure?"}
start: hello
states:
  hello:
    ask: Ok?
    confirm_intents: [nope]
    slot: ok
    next: done
  done: {say: Bye., disposition: qualified, end: true}
"""


def test_loader_reports_unknown_intents_and_unreadable_slots_with_positions() -> None:
    with pytest.raises(ScriptError) as info:
        load_script_text(BROKEN, filename="t.yaml")
    found = {(p.line, p.column, p.message) for p in info.value.problems}
    assert found == {
        (8, 21, "unknown intent 'not_intrested'"),
        (14, 23, "unknown intent 'nope'"),
        (9, 21, "confirmation prompt for unknown intent 'no_such'"),
        (
            6,
            33,
            "slot 'ok' of type 'yes_no' cannot be read back "
            "(types that can: date, datetime, digits, integer, money, time)",
        ),
    }


def test_default_confirm_intents_may_be_missing_from_a_script() -> None:
    loaded = load_script_text(
        BROKEN.split("settings:")[0].replace(", read_back: always", "")
        + (
            "start: hello\nstates:\n  hello: {ask: Ok?, slot: ok, next: done}\n"
            "  done: {say: Bye., disposition: qualified, end: true}\n"
        )
    )
    assert loaded.script.settings.confirm_intents == [
        "not_interested",
        "do_not_call",
        "wrong_person",
    ]


def test_a_bare_no_takes_back_even_a_confirmed_no() -> None:
    nlu = NluResult("", "deny", 0.95)
    assert read_answer("no no", nlu, "deny") == "no"
    assert read_answer("yes", NluResult("", "affirm", 0.9), "deny") == "yes"


def test_a_state_may_confirm_other_intents_with_its_own_question() -> None:
    script = SCRIPT.replace(
        "    ask: Still interested?\n",
        "    ask: Still interested?\n"
        "    confirm_intents: [deny]\n"
        '    confirm_prompts: {deny: "Not for you then, {lead.first_name}?"}\n',
    )
    m = DialogueManager(load_script_text(script), classifier=ScriptedClassifier(), lead={})
    m.start()
    turn = m.handle(UserText("no", confidence=0.3))
    assert turn.text == "Not for you then, ?" and turn.confirming == "intent deny"
    assert m.handle(UserText("no")).text == "Sorry, my mistake. Still interested?"
    m.handle(UserText("no", confidence=0.3))
    assert m.handle(UserText("yes")).disposition == "not_interested"


def test_loader_checks_a_states_confirmation_prompts() -> None:
    script = SCRIPT.replace(
        "    ask: Still interested?\n",
        "    ask: Still interested?\n    confirm_prompts: {dney: Sure?}\n",
    )
    with pytest.raises(ScriptError) as info:
        load_script_text(script, filename="t.yaml")
    (problem,) = info.value.problems
    assert (problem.line, problem.message) == (
        27,
        "confirmation prompt for unknown intent 'dney' (did you mean 'deny'?)",
    )
