"""What a script says: every text it holds (with its YAML path) and how placeholders are filled.

Texts are templates: ``{lead.first_name}`` and ``{slot.budget}`` change from call to call,
``{company}`` is a script constant, ``{{`` is a literal brace. :func:`render_template` is the
one way a template becomes what the robot says (the dialogue manager fills lead and slot
fields through :func:`render_for_call`, the prompt cache only constants);
:func:`script_texts` is the one walk over a script's texts (the loader checks their fields,
the prompt cache synthesizes the static ones ahead of calls). The sentences the dialogue
manager says by itself live here too, with the rules that pick them, so that the walk
reaches them. This module imports only the schema.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from dialogues.schema import RetryHandler, Script, ScriptSettings, State, Transition

#: ``{lead.first_name}``, ``{slot.budget}``, ``{company}``; ``{{`` is a literal brace.
TEMPLATE_FIELD = re.compile(r"(?<!\{)\{([^{}]*)\}(?!\})")
#: Fields whose value changes from call to call.
PER_CALL_PREFIXES = ("lead.", "slot.")
# "between 9 a.m. and 1 p.m." + "." -> one full stop.
_DOUBLE_STOP = re.compile(r"(?<=[A-Za-z])\.\.(?!\.)")

#: What the dialogue manager says by itself: a reprompt when the handler has no ``say``...
DEFAULT_NO_INPUT = "Sorry, I didn't hear anything."
DEFAULT_NO_MATCH = "Sorry, I didn't quite get that."
#: ...and the goodbye when retries run out and the handler names no ``then``.
OUT_OF_RETRIES = "Sorry, this doesn't seem to be a good moment. Goodbye."
#: ...the question that confirms an intent heard unsure when neither the state nor the script
#: words it, per language and intent (``""``: any other intent)...
CONFIRM_PROMPTS: dict[str, dict[str, str]] = {
    "en": {
        "not_interested": "Just to be sure: you are not interested, right?",
        "do_not_call": "Just to be sure: you want us to stop calling you, right?",
        "wrong_person": "Just to be sure: I have the wrong person, right?",
        "": "Just to be sure I got that right: is that what you meant?",
    },
    "ru": {
        "not_interested": "Уточню: вам это не интересно, верно?",
        "do_not_call": "Уточню: вы просите больше вам не звонить, верно?",
        "wrong_person": "Уточню: я ошиблась номером, верно?",
        "": "Уточню: я правильно вас поняла?",
    },
}
#: ...and what it says when the callee says no to a confirmation or read-back, before asking
#: the question again.
TAKEN_BACK = {"en": "Sorry, my mistake.", "ru": "Извините, я ошиблась."}

#: Where a text stands in the YAML (``("states", "greeting", "say", 0)``); ``()`` for the
#: manager's own sentences.
TextPath = tuple[str | int, ...]


def render_template(template: str, value_of: Callable[[str], str]) -> str:
    """Fill every field with ``value_of(name)``, unescape braces, tidy stops and spaces."""
    text = TEMPLATE_FIELD.sub(lambda match: value_of(match.group(1).strip()), template)
    text = text.replace("{{", "{").replace("}}", "}")
    text = _DOUBLE_STOP.sub(".", text)
    return " ".join(text.split())


def render_for_call(
    template: str, script: Script, lead: Mapping[str, Any], slot_text: Callable[[str], str]
) -> str:
    """``template`` as said in one call: a lead field from ``lead`` (empty there: the default
    its variable declares), a slot field as ``slot_text(slot)`` says it, a script constant."""

    def field_value(name: str) -> str:
        if name.startswith("lead."):
            var = name.removeprefix("lead.")
            value = lead.get(var)
            if value in (None, "") and var in script.variables:
                value = script.variables[var].default
            return "" if value is None else str(value)
        if name.startswith("slot."):
            return slot_text(name.removeprefix("slot."))
        return script.constants.get(name, "")

    return render_template(template, field_value)


def has_per_call_fields(template: str) -> bool:
    """Whether ``template`` names a lead or slot field (so it is said differently per call)."""
    return any(
        match.group(1).strip().startswith(PER_CALL_PREFIXES)
        for match in TEMPLATE_FIELD.finditer(template)
    )


def retry_handler(script: Script, state: State, kind: str) -> tuple[RetryHandler | None, int]:
    """What handles silence (``kind="no_input"``) or a miss (``"no_match"``) in ``state``:
    its own handler, else the global one; and how many reprompts come before its ``then``."""
    handler: RetryHandler | None = getattr(state, kind) or getattr(script.global_, kind)
    retries = script.settings.max_retries
    if handler is not None and handler.retries is not None:
        retries = handler.retries
    return handler, retries


def confirm_intents(settings: ScriptSettings, state: State) -> list[str]:
    """The intents confirmed when unsure in ``state``: its own list, else the script's."""
    return settings.confirm_intents if state.confirm_intents is None else state.confirm_intents


def confirm_prompt(settings: ScriptSettings, state: State, language: str, intent: str) -> str:
    """The question that confirms ``intent``: the state's, the script's, else the default."""
    if intent in state.confirm_prompts:
        return state.confirm_prompts[intent]
    if intent in settings.confirm_prompts:
        return settings.confirm_prompts[intent]
    return default_confirm_prompt(language, intent)


def default_confirm_prompt(language: str, intent: str) -> str:
    """The manager's own question that confirms ``intent``."""
    prompts = CONFIRM_PROMPTS.get(language, CONFIRM_PROMPTS["en"])
    return prompts.get(intent, prompts[""])


def taken_back(language: str) -> str:
    """What the robot says when the callee takes back what it confirmed."""
    return TAKEN_BACK.get(language, TAKEN_BACK["en"])


@dataclass(frozen=True, slots=True)
class ScriptText:
    path: TextPath
    text: str
    #: False for templates that are not said (an action's transfer target).
    spoken: bool = True


def script_transitions(script: Script) -> Iterator[tuple[TextPath, Transition]]:
    """Every transition in the script with its YAML path."""

    def branches(prefix: TextPath, on: dict[str, list[Transition]]) -> Iterator[tuple[Any, Any]]:
        for intent, items in on.items():
            for i, branch in enumerate(items):
                yield (*prefix, "on", intent, i), branch

    for name, state in script.states.items():
        base: TextPath = ("states", name)
        for i, branch in enumerate(state.next or []):
            yield (*base, "next", i), branch
        yield from branches(base, state.on)
        for digit, tr in state.dtmf.items():
            yield (*base, "dtmf", digit), tr
        for kind in ("no_input", "no_match"):
            handler = getattr(state, kind)
            if handler and handler.then:
                yield (*base, kind, "then"), handler.then
    yield from branches(("global",), script.global_.on)
    for kind in ("no_input", "no_match"):
        handler = getattr(script.global_, kind)
        if handler and handler.then:
            yield ("global", kind, "then"), handler.then


def script_texts(script: Script) -> Iterator[ScriptText]:
    """Every template of the script, then the manager's own sentences the script can reach."""
    for name, state in script.states.items():
        for key in ("say", "ask"):
            for i, text in enumerate(getattr(state, key)):
                yield ScriptText(("states", name, key, i), text)
        for kind in ("no_input", "no_match"):
            handler = getattr(state, kind)
            for i, text in enumerate(handler.say if handler else []):
                yield ScriptText(("states", name, kind, "say", i), text)
        for i, action in enumerate(state.actions):
            if action.to:
                yield ScriptText(("states", name, "actions", i), action.to, spoken=False)
        for intent, text in state.confirm_prompts.items():
            yield ScriptText(("states", name, "confirm_prompts", intent), text)
    for path, tr in script_transitions(script):
        for i, text in enumerate(tr.say):
            yield ScriptText((*path, "say", i), text)
        for i, action in enumerate(tr.actions):
            if action.to:
                yield ScriptText((*path, "actions", i), action.to, spoken=False)
    for kind in ("no_input", "no_match"):
        handler = getattr(script.global_, kind)
        for i, text in enumerate(handler.say if handler else []):
            yield ScriptText(("global", kind, "say", i), text)
    if script.settings.voicemail_message:
        yield ScriptText(("settings", "voicemail_message"), script.settings.voicemail_message)
    for intent, text in script.settings.confirm_prompts.items():
        yield ScriptText(("settings", "confirm_prompts", intent), text)
    for text in sorted(_manager_sentences(script)):
        yield ScriptText((), text)


def _manager_sentences(script: Script) -> set[str]:
    """The manager's own sentences that some state of the script can lead to: reprompts, the
    goodbye when retries run out, the default questions confirming an intent heard unsure and
    the apology when the callee says no to one (or to a value read back)."""
    out: set[str] = set()
    settings, language = script.settings, script.language
    confirms = False
    for state in script.states.values():
        if state.end:
            continue
        for intent in confirm_intents(settings, state):
            if intent in state.on or intent in script.global_.on:
                confirms = True
                prompt = confirm_prompt(settings, state, language, intent)
                if prompt == default_confirm_prompt(language, intent):
                    out.add(prompt)  # the script's own wording is walked with its path
        slot = script.slots.get(state.slot) if state.slot else None
        if slot is not None and slot.read_back != "never":
            confirms = True  # the read-back itself names the value: said live
        for kind, default in (("no_input", DEFAULT_NO_INPUT), ("no_match", DEFAULT_NO_MATCH)):
            handler, retries = retry_handler(script, state, kind)
            if retries > 0 and not (handler and handler.say):
                out.add(default)
            if handler is None or handler.then is None:
                out.add(OUT_OF_RETRIES)
    if confirms:
        out.add(taken_back(language))
    return out
