"""How many simultaneous calls one process sustains: conversations a person would accept.

Real engines (Piper, Whisper, pocketsphinx, Silero VAD, the dialogue manager) talk with the
simulated network's human personas, whose lines are synthesized before measuring (on a real
network the callee's voice costs the robot's machine nothing). The personas know what the
robot said from the sentences its voice synthesized (``robot.carriers.sim_ears``), so their
ears cost nothing either; a prompt they could not place is transcribed, and counted
(``callee_prompts_transcribed``). Each level L runs
``--calls-per-persona`` calls (at least two) to every human persona, L at a time: a new call
starts as soon as one ends. Per level:

* turn latency p50 / p95: end of callee speech -> first robot audio, endpoint silence included
  (``CallReport.turn_latencies_ms``);
* wrong dispositions (the disposition the persona is scripted to reach was not reached), with
  their transcripts;
* calls cut short: the script did not reach an end state (disposition ``incomplete``, or not
  answered as a human), and how many of those the callee hung up;
* late frames: the event loop, which moves every call's 20 ms audio frames, woke more than one
  frame period late (a probe task asks to wake every 20 ms);
* CPU seconds per call-minute: CPU time of this process and its worker processes (the sim
  network's pacing included) over the minutes of all calls.

**Sustained capacity** is the largest level with p95 turn latency <= 1.2 s, no wrong
disposition and <= 1% late frames, over at least two calls per human persona (all eight).

``--admission`` offers more calls than that instead (``--offered`` leads due at once, as many
dialler slots) through the real dialler and the engine's admission control, and reports the
same figures plus how many calls ran at once at most and how many waited their turn.

Prints one JSON line, with the CPU model and whether it has AVX-512.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

# bench/voicemail.py is named like the voicemail package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

from dialogues.loader import LoadedScript, load_script  # noqa: E402
from robot.carriers.sim import SimCarrier  # noqa: E402
from robot.carriers.sim_ears import PromptIndex  # noqa: E402
from robot.config import Settings  # noqa: E402
from robot.engine import CallEngine  # noqa: E402
from robot.load import cpu_info, percentile, process_cpu_s  # noqa: E402
from robot.session import CallReport  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "dialogues" / "scripts" / "lead_qualification.yaml"
#: Human personas and the disposition each one is scripted to reach.
EXPECTED = {
    "+12025550101": "transferred",
    "+12025550102": "qualified",
    "+12025550103": "not_interested",
    "+12025550104": "callback",
    "+12025550105": "wrong_person",
    "+12025550106": "qualified",
    "+12025550107": "do_not_call",
    "+12025550108": "transferred",
}
LEAD = {"first_name": "John"}
TIMEZONE = "America/New_York"
FRAME_S = 0.020
#: What a person accepts: p95 turn latency, late frames, calls per persona.
TARGET_TURN_MS = 1200.0
MAX_LATE_FRAMES_PCT = 1.0
MIN_CALLS_PER_PERSONA = 2


async def loop_probe(stop: asyncio.Event, lateness: list[float]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time()
    while not stop.is_set():
        deadline += FRAME_S
        await asyncio.sleep(max(0.0, deadline - loop.time()))
        late = loop.time() - deadline
        lateness.append(late)
        if late > 0.2:
            deadline = loop.time()


def call_numbers(personas: int, per_persona: int) -> list[str]:
    """Every persona once, then again: all personas are in the air at every level."""
    numbers = list(EXPECTED)[:personas]
    return [n for _ in range(per_persona) for n in numbers]


def quality(
    reports: list[tuple[str, CallReport]], lateness: list[float], cpu_s: float, wall_s: float
) -> dict[str, Any]:
    """The figures of one run (see the module docstring)."""
    latencies = [x for _, r in reports for x in r.turn_latencies_ms]
    wrong = [
        {
            "number": n,
            "expected": EXPECTED[n],
            "disposition": r.disposition,
            "transcript": [(t.who, t.state, t.intent, t.engine, t.text) for t in r.transcript],
        }
        for n, r in reports
        if r.disposition != EXPECTED[n]
    ]
    short = [r for _, r in reports if r.outcome != "human" or r.disposition in (None, "incomplete")]
    minutes = sum(r.duration_ms for _, r in reports) / 60000.0
    per_persona = Counter(n for n, _ in reports)
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    late = sum(1 for x in lateness if x > FRAME_S)
    result: dict[str, Any] = {
        "calls": len(reports),
        "personas": len(per_persona),
        "calls_per_persona": min(per_persona[n] for n in EXPECTED),
        "turns": len(latencies),
        "turn_latency_p50_ms": round(p50) if p50 is not None else None,
        "turn_latency_p95_ms": round(p95) if p95 is not None else None,
        "wrong_dispositions": len(wrong),
        "cut_short": len(short),
        "cut_short_hung_up_by_callee": sum(
            1 for r in short if r.signalling.get("hangup_by") == "remote"
        ),
        "late_frames_pct": round(100.0 * late / max(1, len(lateness)), 2),
        "loop_lag_p99_ms": round(1000 * (percentile(lateness, 99) or 0.0), 1),
        "cpu_s_per_call_minute": round(cpu_s / minutes, 2) if minutes else None,
        "wall_s": round(wall_s, 1),
    }
    result["acceptable"] = bool(
        p95 is not None
        and p95 <= TARGET_TURN_MS
        and not wrong
        and result["late_frames_pct"] <= MAX_LATE_FRAMES_PCT
        and result["calls_per_persona"] >= MIN_CALLS_PER_PERSONA
    )
    result["wrong"] = wrong
    return result


class BenchEngine(CallEngine):
    """The engine, its voice noting every sentence so that the simulated callees know what
    it said without transcribing it: their ears must not cost the robot's CPU."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prompts = PromptIndex().attach(self)

    def carrier(self) -> SimCarrier:
        return SimCarrier(listen=self.prompts.listen)

    def callee_ears(self) -> dict[str, int]:
        """How the callees understood prompts since the last call of this."""
        heard = {
            "callee_prompts_known": self.prompts.by_text,
            "callee_prompts_transcribed": self.prompts.transcribed,
        }
        self.prompts.by_text = self.prompts.transcribed = 0
        return heard


class Measured:
    """Late frames, CPU and wall time over a block of calls."""

    async def __aenter__(self) -> Measured:
        self.stop = asyncio.Event()
        self.lateness: list[float] = []
        self.probe = asyncio.create_task(loop_probe(self.stop, self.lateness))
        self.cpu = process_cpu_s()
        self.started = time.perf_counter()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await self.probe
        self.cpu = process_cpu_s() - self.cpu
        self.wall = time.perf_counter() - self.started


async def level(
    engine: BenchEngine, loaded: LoadedScript, at_once: int, numbers: list[str]
) -> dict[str, Any]:
    """``numbers`` called ``at_once`` at a time, straight through the engine (no admission)."""
    carrier = engine.carrier()
    queue = list(numbers)
    reports: list[tuple[str, CallReport]] = []

    async def caller() -> None:
        while queue:
            number = queue.pop(0)
            report = await engine.call(carrier, number, loaded, lead=LEAD, timezone=TIMEZONE)
            reports.append((number, report))

    async with Measured() as measured:
        await asyncio.gather(*(caller() for _ in range(at_once)))
    await carrier.close()
    return {
        "calls_at_once": at_once,
        **quality(reports, measured.lateness, measured.cpu, measured.wall),
        **engine.callee_ears(),
    }


async def admission_run(engine: BenchEngine, data_dir: Path, numbers: list[str]) -> dict[str, Any]:
    """All ``numbers`` due at once through the dialler, with the engine's admission control."""
    from models.campaign import CampaignCreate
    from models.db import make_engine, upgrade
    from models.script import Script
    from models.transactions import session_scope
    from robot.dialler import (
        Dialler,
        DiallerLimits,
        change_status,
        create_campaign,
        get_or_create_tenant,
    )
    from robot.leads import import_rows, rows_from_records
    from robot.runner import EngineCallRunner

    db = make_engine(f"sqlite:///{data_dir / 'capacity.db'}")
    upgrade(db)
    tenant_id = get_or_create_tenant(db, "bench")
    with session_scope(db) as session:
        script = Script(
            tenant_id=tenant_id, name="lead_qualification", version=1, yaml_text=SCRIPT.read_text()
        )
        session.add(script)
        session.flush()
        script_id = script.id
    assert script_id is not None
    # A number is in a campaign once: the n-th call to each persona goes in the n-th campaign.
    rounds: list[list[str]] = []
    for number in numbers:
        free = next((r for r in rounds if number not in r), None)
        if free is None:
            rounds.append(free := [])
        free.append(number)
    all_day = {
        "hours": dict.fromkeys(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "00:00-24:00")
    }
    for i, leads in enumerate(rounds):
        campaign = create_campaign(
            db,
            tenant_id,
            CampaignCreate(
                name=f"capacity {i}",
                script_id=script_id,
                script_version=1,
                default_timezone=TIMEZONE,
                calling_window=all_day,
                retry_policy={"max_attempts": 1},
                max_concurrent_calls=len(numbers),
            ),
        )
        assert campaign.id is not None
        records = [{"phone": n, **LEAD, "timezone": TIMEZONE} for n in leads]
        import_rows(db, campaign.id, rows_from_records(records))
        change_status(db, campaign.id, "start")

    carrier = engine.carrier()
    runner = EngineCallRunner(db, carrier, engine, recording_dir=data_dir / "recordings")
    loaded = runner.script(script_id, 1)
    engine.warm(loaded, calls=len(numbers))
    reports: list[tuple[str, CallReport]] = []
    runner.on_report = lambda number, report: reports.append((number, report))
    limits = DiallerLimits(
        max_concurrent_calls=len(numbers), calls_per_second=10, poll_interval_s=0.2
    )
    dialler = Dialler(db, runner, limits=limits, admission=engine.load)
    async with Measured() as measured:
        await dialler.run(until_idle=True)
    await carrier.close()
    db.dispose()
    load = engine.load
    return {
        "offered": len(numbers),
        "most_calls_at_once": load.most_active,
        "held_back": load.held_back,
        "limit_at_end": load.limit,
        "limit_cuts": load.cuts,
        **quality(reports, measured.lateness, measured.cpu, measured.wall),
        **engine.callee_ears(),
    }


def prerender_personas() -> None:
    """Synthesize every simulated callee's lines once, before measuring."""
    from robot.carriers.sim_audio import persona_speech

    carrier = SimCarrier()
    futures = []
    for number in EXPECTED:
        persona = carrier.persona_for(number)
        if persona is not None:
            futures += [persona_speech(persona.voice, text) for text in persona.texts()]
    for future in futures:
        future.result()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    levels = [int(x) for x in args.levels.split(",") if x]
    loaded = load_script(SCRIPT)
    out: dict[str, Any] = {"bench": "capacity", **cpu_info()}
    with tempfile.TemporaryDirectory() as tmp:
        engine = BenchEngine(settings=Settings(data_dir=Path(tmp)))
        prerender_personas()
        if args.admission:
            numbers = call_numbers(args.personas, -(-args.offered // args.personas))
            numbers = numbers[: args.offered]
            out["admission"] = await admission_run(engine, Path(tmp), numbers)
            out["admission_settings"] = engine.settings.admission.model_dump()
            return out
        engine.warm(loaded, calls=max(levels, default=1))
        results = []
        for at_once in levels:
            per_persona = max(args.calls_per_persona, -(-at_once // args.personas))
            results.append(
                await level(engine, loaded, at_once, call_numbers(args.personas, per_persona))
            )
    out["levels"] = results
    out["sustained_calls"] = max(
        (r["calls_at_once"] for r in results if r["acceptable"]), default=0
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="2,4,8,16", help="calls at once, comma-separated")
    parser.add_argument(
        "--calls-per-persona",
        type=int,
        default=MIN_CALLS_PER_PERSONA,
        help="calls to each human persona per level (more when a level needs them)",
    )
    parser.add_argument(
        "--personas",
        type=int,
        default=len(EXPECTED),
        choices=range(1, len(EXPECTED) + 1),
        metavar=f"1..{len(EXPECTED)}",
        help="call only the first N human personas (a quick check; no sustained figure then)",
    )
    parser.add_argument(
        "--admission", action="store_true", help="offer --offered calls through admission control"
    )
    parser.add_argument("--offered", type=int, default=16, help="leads due at once (--admission)")
    print(json.dumps(asyncio.run(run(parser.parse_args()))))


if __name__ == "__main__":
    main()
