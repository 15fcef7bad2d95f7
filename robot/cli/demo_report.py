"""What ``callrobot demo`` shows once its calls are done: a table of how each call ended (or
one JSON record per call), the admission-control and CRM webhook figures, and how to open the
demo's campaign in the web console."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robot.cli.output import emit_json

if TYPE_CHECKING:
    from robot.session import CallReport


def show_results(
    console: Any,
    results: list[tuple[str, str, CallReport]],
    *,
    json_out: bool,
    recording_dir: Path,
    engine: Any,
    events: list[dict[str, Any]],
    receiver_url: str,
    console_hint: dict[str, Any],
    campaign_name: str,
) -> None:
    """Print the demo's results: ``results`` are (number, persona, report), sorted."""
    if json_out:
        for number, persona, report in results:
            emit_json(_record(number, persona, report))
        emit_json({"webhooks": _webhook_counts(events), "admission": _admission(engine)})
        emit_json({"console": console_hint})
        return
    _print_table(console, results, recording_dir)
    admission = _admission(engine)
    console.print(
        f"admission control: at most {admission['most_calls_at_once']} calls at once, "
        f"{admission['held_back']} waited their turn; turn latency p95 "
        f"{admission['turn_p95_ms']} ms (recent)"
    )
    counts = ", ".join(f"{n} {kind}" for kind, n in _webhook_counts(events).items())
    console.print(f"CRM webhooks received at {receiver_url} (signatures verified): {counts}")
    qualified = [e for e in events if e.get("type") == "lead.qualified"]
    if qualified:
        data = qualified[0].get("data", {})
        console.print("first lead.qualified: " + json.dumps(data, default=str)[:400])
    console.print(
        f"web console: run `CALLROBOT_DATABASE_URL={console_hint['database']} callrobot serve` "
        f"then open {console_hint['url']} and sign in with {console_hint['key']} (tenant "
        f'{console_hint["tenant"]}, campaign "{campaign_name}")',
        soft_wrap=True,
        highlight=False,
        markup=False,
    )


def _admission(engine: Any) -> dict[str, Any]:
    snapshot = engine.load.snapshot()
    return {
        "most_calls_at_once": engine.load.most_active,
        "held_back": snapshot["held_back"],
        "turn_p95_ms": snapshot["turn_p95_ms"],
    }


def _short(value: Any) -> str:
    if isinstance(value, dict) and "amount" in value:
        return f"{value['amount']} {value.get('currency') or ''}".strip()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and len(value) > 16 and value[4:5] == "-":
        return value[:16].replace("T", " ")  # an ISO date-time, to the minute
    return str(value)


def _webhook_counts(events: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in events:
        counts[str(event.get("type"))] = counts.get(str(event.get("type")), 0) + 1
    return dict(sorted(counts.items()))


def _record(number: str, persona: str, report: CallReport) -> dict[str, Any]:
    return {
        **report.summary(),
        "number": number,
        "persona": persona,
        "answers": report.slots,
        "callback_at": report.callback_at.isoformat() if report.callback_at else None,
        "turns": len(report.transcript),
        "voicemail": report.voicemail_reason,
        "recording": report.recording_path,
    }


def _print_table(console: Any, results: list[tuple[str, str, CallReport]], folder: Path) -> None:
    from rich.table import Table

    table = Table(title="callrobot demo: lead qualification over the simulated network")
    for column in ("number", "persona", "outcome", "disposition", "answers", "turns", "duration"):
        table.add_column(column, overflow="fold")
    for number, persona, report in results:
        answers = ", ".join(f"{k}={_short(v)}" for k, v in report.slots.items())
        if report.callback_at:
            answers = (
                answers + ", " if answers else ""
            ) + f"callback {report.callback_at:%a %H:%M}"
        table.add_row(
            number,
            persona,
            report.outcome + (f" (Q.850 {report.q850})" if report.q850 else ""),
            report.disposition or "",
            answers,
            str(sum(1 for t in report.transcript if t.who == "callee")),
            f"{report.duration_ms / 1000:.1f} s",
        )
    console.print(table)
    console.print(f"recordings (stereo WAV: left = callee, right = robot): {folder}")
