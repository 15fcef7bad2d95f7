"""Compare a recorded call with its replay, turn by turn.

The original and the new callee turns are aligned by time since answer (a monotonic
alignment that prefers close times and similar words). Each pair is checked for its
transcript (word error rate above a tolerance: the same audio may be cut or decoded a little
differently), its intent and the dialogue state after it; turns heard only once are
"missing" or "extra". For the whole call the outcome, the disposition and the slots are
compared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robot.replay import RecordedCall
    from robot.session import CallReport

#: Word error rate up to which two transcripts of the same audio count as the same.
DEFAULT_MAX_WER = 0.25
#: Farthest apart (ms since answer) an original and a new turn may be and still be paired.
DEFAULT_MAX_SHIFT_MS = 3000.0


@dataclass(frozen=True)
class CalleeTurn:
    """One thing the callee said, as the dialogue understood it."""

    at_ms: float  # since answer
    text: str
    intent: str | None = None
    state_after: str | None = None


@dataclass
class TurnComparison:
    before: CalleeTurn | None
    after: CalleeTurn | None
    wer: float | None = None
    #: What differs: "transcript", "intent", "state", "missing" (not heard now), "extra".
    kinds: list[str] = field(default_factory=list)

    @property
    def at_ms(self) -> float:
        """When the turn was said (ms since answer), as first recorded."""
        turn = self.before or self.after
        return turn.at_ms if turn is not None else 0.0

    @property
    def text(self) -> str:
        turn = self.before or self.after
        return turn.text if turn is not None else ""


@dataclass
class ReplayResult:
    file: str
    call_id: str
    turns: list[TurnComparison]
    outcome_before: str | None
    outcome_after: str | None
    disposition_before: str | None
    disposition_after: str | None
    slots_before: dict[str, Any]
    slots_after: dict[str, Any]
    error: str | None = None

    @property
    def differences(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for n, turn in enumerate(self.turns, 1):
            for kind in turn.kinds:
                out.append(_turn_difference(n, kind, turn))
        for kind, before, after in (
            ("outcome", self.outcome_before, self.outcome_after),
            ("disposition", self.disposition_before, self.disposition_after),
        ):
            if before != after:
                out.append({"kind": kind, "before": before, "after": after})
        for name in sorted(set(self.slots_before) | set(self.slots_after)):
            before, after = self.slots_before.get(name), self.slots_after.get(name)
            if before != after:
                out.append({"kind": "slot", "slot": name, "before": before, "after": after})
        if self.error:
            out.append({"kind": "error", "after": self.error})
        return out

    @property
    def same(self) -> bool:
        return not self.differences

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "call_id": self.call_id,
            "same": self.same,
            "differences": self.differences,
            "disposition_before": self.disposition_before,
            "disposition_after": self.disposition_after,
        }


def _turn_difference(n: int, kind: str, turn: TurnComparison) -> dict[str, Any]:
    before, after = turn.before, turn.after
    item: dict[str, Any] = {"turn": n, "kind": kind}
    item["at_ms"] = round(turn.at_ms)
    field_name = {"transcript": "text", "intent": "intent", "state": "state_after"}.get(kind)
    if field_name is not None:
        item["before"] = getattr(before, field_name, None)
        item["after"] = getattr(after, field_name, None)
        if kind == "transcript":
            item["wer"] = turn.wer
    else:
        item["text"] = turn.text
    return item


def callee_turns(
    turns: Sequence[Mapping[str, Any]], answered_ms: float, time_scale: float = 1.0
) -> list[CalleeTurn]:
    """Callee turns of a turn log, timed in ms since answer (``time_scale`` x call time)."""
    out = []
    for i, turn in enumerate(turns):
        if turn.get("who") != "callee":
            continue
        state_after = next((t.get("state") for t in turns[i + 1 :] if t.get("state")), None)
        at_ms = (float(turn["start_ms"]) - answered_ms) * time_scale
        out.append(CalleeTurn(at_ms, str(turn.get("text", "")), turn.get("intent"), state_after))
    return out


_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")


def normalised_words(text: str) -> list[str]:
    """Lower-case words without punctuation: 'Yes, speaking.' -> ['yes', 'speaking']."""
    return _WORD.findall(text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word edits (substitutions, insertions, deletions) per reference word."""
    ref, hyp = normalised_words(reference), normalised_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        current = [i]
        for j, other in enumerate(hyp, 1):
            substitution = previous[j - 1] + (word != other)
            current.append(min(previous[j] + 1, current[j - 1] + 1, substitution))
        previous = current
    return previous[-1] / len(ref)


def align_turns(
    before: list[CalleeTurn], after: list[CalleeTurn], max_shift_ms: float = DEFAULT_MAX_SHIFT_MS
) -> list[tuple[CalleeTurn | None, CalleeTurn | None]]:
    """Pair turns in order, preferring close times and similar words; unpaired turns stay alone.

    A pair costs up to 1 (half time distance, half word errors), leaving a turn alone costs 1,
    and turns further apart than ``max_shift_ms`` are never paired."""
    n, m = len(before), len(after)
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    move: list[list[str]] = [[""] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if i and cost[i - 1][j] + 1 < cost[i][j]:
                cost[i][j], move[i][j] = cost[i - 1][j] + 1, "before"
            if j and cost[i][j - 1] + 1 < cost[i][j]:
                cost[i][j], move[i][j] = cost[i][j - 1] + 1, "after"
            if i and j:
                shift = abs(before[i - 1].at_ms - after[j - 1].at_ms)
                if shift <= max_shift_ms:
                    wer = min(1.0, word_error_rate(before[i - 1].text, after[j - 1].text))
                    pair = cost[i - 1][j - 1] + 0.5 * shift / max_shift_ms + 0.5 * wer
                    if pair <= cost[i][j]:
                        cost[i][j], move[i][j] = pair, "pair"
    pairs: list[tuple[CalleeTurn | None, CalleeTurn | None]] = []
    i, j = n, m
    while i or j:
        step = move[i][j]
        if step == "pair":
            pairs.append((before[i - 1], after[j - 1]))
            i, j = i - 1, j - 1
        elif step == "before":
            pairs.append((before[i - 1], None))
            i -= 1
        else:
            pairs.append((None, after[j - 1]))
            j -= 1
    return _unpaired_in_time_order(pairs[::-1])


def _unpaired_in_time_order(
    pairs: list[tuple[CalleeTurn | None, CalleeTurn | None]],
) -> list[tuple[CalleeTurn | None, CalleeTurn | None]]:
    """Sort each run of turns heard only once by time, so rows read in call order."""
    out: list[tuple[CalleeTurn | None, CalleeTurn | None]] = []
    run: list[tuple[CalleeTurn | None, CalleeTurn | None]] = []
    for pair in [*pairs, (None, None)]:
        if (pair[0] is None) != (pair[1] is None):
            run.append(pair)
            continue
        out += sorted(run, key=lambda p: (p[0] or p[1]).at_ms)  # type: ignore[union-attr]
        run = []
        if pair != (None, None):
            out.append(pair)
    return out


def compare_turns(
    before: list[CalleeTurn],
    after: list[CalleeTurn],
    *,
    max_wer: float = DEFAULT_MAX_WER,
    max_shift_ms: float = DEFAULT_MAX_SHIFT_MS,
) -> list[TurnComparison]:
    """Align two runs' callee turns and mark what differs in each pair."""
    out = []
    for old, new in align_turns(before, after, max_shift_ms):
        if old is None or new is None:
            out.append(TurnComparison(old, new, kinds=["missing" if new is None else "extra"]))
            continue
        wer = round(word_error_rate(old.text, new.text), 3)
        kinds = ["transcript"] if wer > max_wer else []
        kinds += ["intent"] if old.intent != new.intent else []
        kinds += ["state"] if old.state_after != new.state_after else []
        out.append(TurnComparison(old, new, wer, kinds))
    return out


def compare_calls(
    recorded: RecordedCall,
    report: CallReport,
    *,
    speed: float = 1.0,
    max_wer: float = DEFAULT_MAX_WER,
) -> ReplayResult:
    """The recorded call against its replay (``speed``: the replay's time factor)."""
    before = callee_turns(recorded.turns, recorded.answered_ms)
    new_log = [turn.to_json() for turn in report.transcript]
    after = callee_turns(new_log, report.answered_ms or 0.0, time_scale=speed)
    slots_after = json.loads(json.dumps(report.slots, default=str))
    return ReplayResult(
        file=str(recorded.wav_path),
        call_id=recorded.call_id,
        turns=compare_turns(before, after, max_wer=max_wer),
        outcome_before=recorded.outcome,
        outcome_after=report.outcome,
        disposition_before=recorded.disposition,
        disposition_after=report.disposition,
        slots_before=recorded.slots,
        slots_after=slots_after,
        error=report.error,
    )
