"""The dialogue manager's state machine, with a keyword classifier to pin intents down.

The real classifier is exercised by the bundled scripts' conversations (test_script_tests.py);
here the point is the manager's resolution order, retries, actions and rendering.
"""

from __future__ import annotations

from datetime import UTC, datetime

from dialogues.loader import load_script_text
from dialogues.manager import (
    BargeIn,
    DialogueManager,
    Dtmf,
    HangUp,
    NoInput,
    NotUnderstood,
    UserText,
)
from dialogues.nlu import FALLBACK_INTENT, NluResult
from dialogues.script_machine import LATE_DECODE_REPEATS

SCRIPT = """\
script: unit
settings: {max_retries: 1}
variables:
  first_name: {required: true}
  product: {default: solar panels}
constants: {company: Acme}
intents:
  affirm: [yes]
  deny: [no]
  stop: [stop calling]
  who: [who is this]
  repeat: [say again]
  later: [call me later]
slots:
  budget: money
  when: datetime
  note: free_text
start: hello
global:
  on:
    stop: {say: Removed., actions: [do_not_call], goto: bye_dnc}
    who: {say: "This is {company}."}
    repeat: {repeat: true}
    later:
      - capture: when
        if: when
        goto: later_end
      - goto: ask_when
  no_input: {say: Hello?, retries: 1, then: gone}
states:
  hello:
    say: Hi {lead.first_name}, {company} here.
    ask: Still interested in {lead.product}?
    on:
      affirm: budget
      deny: no_end
  budget:
    ask: What budget?
    slot: budget
    next: note
    no_match: {say: ["Sorry, a number please."], retries: 1, then: note}
  note:
    ask: Anything else?
    slot: note
    next: done
  ask_when:
    ask: When?
    slot: when
    next: later_end
  later_end:
    say: Calling you {slot.when}.
    actions: [{callback: when}]
    disposition: callback
    end: true
  done:
    say: Budget {slot.budget}. Transferring.
    actions: [{transfer: "+12025550100"}]
    disposition: qualified
    end: true
  no_end: {say: Bye., disposition: not_interested, end: true}
  bye_dnc: {say: Goodbye., disposition: do_not_call, end: true}
  gone: {say: Lost you., disposition: incomplete, end: true}
"""

KEYWORDS = {
    "yes": "affirm",
    "no": "deny",
    "stop": "stop",
    "who": "who",
    "again": "repeat",
    "later": "later",
}


class KeywordClassifier:
    def parse(self, text: str) -> NluResult:
        for word in text.lower().split():
            if word in KEYWORDS:
                return NluResult(text, KEYWORDS[word], 0.9)
        return NluResult(text, FALLBACK_INTENT, 0.2)


NOW = datetime(2026, 3, 4, 15, 0, tzinfo=UTC)  # 10:00 in New York


def manager(**lead: str) -> DialogueManager:
    loaded = load_script_text(SCRIPT)
    return DialogueManager(
        loaded,
        classifier=KeywordClassifier(),
        lead={"first_name": "Ann", **lead},
        timezone="America/New_York",
        clock=lambda: NOW,
    )


def test_start_renders_lead_variables_defaults_and_constants() -> None:
    m = manager()
    turn = m.start()
    assert turn.text == "Hi Ann, Acme here. Still interested in solar panels?"
    assert [r.kind for r in turn.replies] == ["say", "ask"]
    assert turn.state == "hello" and not turn.ended


def test_happy_path_fills_slots_and_transfers() -> None:
    m = manager()
    m.start()
    assert m.handle(UserText("yes")).state == "budget"
    turn = m.handle(UserText("about five thousand dollars"))
    assert turn.state == "note"
    assert str(m.slots["budget"].amount) == "5000"
    turn = m.handle(UserText("we have a big roof"))
    assert m.slots["note"] == "we have a big roof"
    assert turn.ended and turn.disposition == "transferred"
    assert turn.actions[0].kind == "transfer" and turn.actions[0].to == "+12025550100"
    assert "hangup" not in turn.action_kinds
    assert "Budget 5,000 dollars." in turn.text


def test_local_intent_beats_global_and_global_interrupts_slot_question() -> None:
    m = manager()
    m.start()
    m.handle(UserText("yes"))
    turn = m.handle(UserText("stop calling me"))
    assert turn.state == "bye_dnc" and turn.disposition == "do_not_call"
    assert turn.action_kinds == ["do_not_call", "hangup"]
    assert m.result().do_not_call


def test_who_answers_then_reasks_and_repeat_repeats() -> None:
    m = manager()
    m.start()
    turn = m.handle(UserText("who is this"))
    assert turn.text == "This is Acme. Still interested in solar panels?"
    assert turn.state == "hello"
    again = m.handle(UserText("say again"))
    assert again.text == turn.text
    assert {r.kind for r in again.replies} == {"repeat"}


def test_no_match_reprompts_then_follows_then() -> None:
    m = manager()
    m.start()
    m.handle(UserText("yes"))
    first = m.handle(UserText("purple"))
    assert first.text == "Sorry, a number please. What budget?"
    assert first.state == "budget"
    second = m.handle(UserText("purple banana"))
    assert second.state == "note"


def test_speech_not_understood_in_time_is_asked_again_before_it_uses_retries() -> None:
    m = manager()
    m.start()
    m.handle(UserText("yes"))
    # A slow engine's fault: asked again in the no-match words, retries left untouched ...
    for _ in range(LATE_DECODE_REPEATS):
        again = m.handle(NotUnderstood())
        assert (again.text, again.state, again.ended) == (
            "Sorry, a number please. What budget?",
            "budget",
            False,
        )
    # ... so the callee still has the state's one no-match retry after them,
    assert m.handle(UserText("purple")).state == "budget"
    # ... and a late decode past the repeats counts like any miss (retries used up: next).
    assert m.handle(NotUnderstood()).state == "note"
    assert "(not understood in time)" in [e.text for e in m.transcript]


def test_late_decode_repeats_start_again_in_each_state() -> None:
    m = manager()
    m.start()
    for _ in range(LATE_DECODE_REPEATS):
        assert m.handle(NotUnderstood()).state == "hello"
    m.handle(UserText("yes"))
    for _ in range(LATE_DECODE_REPEATS):
        assert m.handle(NotUnderstood()).state == "budget"


def test_default_no_match_ends_politely_after_retries() -> None:
    m = manager()
    m.start()
    assert m.handle(UserText("banana")).state == "hello"
    turn = m.handle(UserText("banana"))
    assert turn.ended and turn.disposition == "incomplete"


def test_no_input_retries_then_global_then() -> None:
    m = manager()
    m.start()
    turn = m.handle(NoInput())
    assert turn.text == "Hello? Still interested in solar panels?"
    turn = m.handle(NoInput())
    assert turn.state == "gone" and turn.ended and turn.disposition == "incomplete"


def test_callback_with_time_captured_from_same_utterance() -> None:
    m = manager()
    m.start()
    turn = m.handle(UserText("call me later tomorrow at five"))
    assert turn.state == "later_end"
    callback = turn.actions[0]
    assert callback.kind == "callback"
    assert callback.at == datetime(2026, 3, 5, 17, 0, tzinfo=callback.at.tzinfo)
    assert str(callback.at.tzinfo) == "America/New_York"
    assert turn.text == "Calling you tomorrow at 5 PM."
    assert m.result().disposition == "callback"


def test_callback_without_time_asks_for_it() -> None:
    m = manager()
    m.start()
    assert m.handle(UserText("call me later")).state == "ask_when"
    turn = m.handle(UserText("next monday morning"))
    assert turn.state == "later_end"
    assert m.result().callback_at is not None


def test_hangup_barge_in_and_events_after_end() -> None:
    m = manager()
    m.start()
    assert m.handle(BargeIn(heard_ms=500, total_ms=2000)).replies == []
    assert "interrupted after 25%" in m.transcript[-1].text
    turn = m.handle(HangUp())
    assert turn.ended and turn.disposition == "incomplete"
    assert m.handle(UserText("yes")).replies == []


def test_dtmf_without_mapping_is_no_match() -> None:
    m = manager()
    m.start()
    turn = m.handle(Dtmf("5"))
    assert turn.replies[0].kind == "reprompt"


def test_deterministic_transcript() -> None:
    runs = []
    for _ in range(2):
        m = manager()
        m.start()
        for text in ("yes", "ten thousand", "nothing"):
            m.handle(UserText(text))
        runs.append(m.result().transcript)
    assert runs[0] == runs[1]
    assert [t["who"] for t in runs[0]][:3] == ["robot", "callee", "robot"]
