"""How many simultaneous calls one process sustains with the real engines.

For each load level, that many human callees (simulated network, real Piper / Whisper /
Silero VAD / dialogue) are called at once. A frame misses its deadline when the event loop,
which moves every call's 20 ms audio frames, wakes more than one frame period late: a probe
task asks to wake every 20 ms and counts the wake-ups late by over 20 ms. Also counted: calls
that did not reach the disposition their callee was scripted for.

Prints one JSON line: per level the late-frame percentage, wrong dispositions and the mean
turn latency, and the largest level with at most 1% late frames.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

# bench/voicemail.py is named like the voicemail package: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]

from dialogues.loader import load_script  # noqa: E402
from robot.carriers.sim import SimCarrier  # noqa: E402
from robot.config import Settings  # noqa: E402
from robot.engine import CallEngine  # noqa: E402

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
FRAME_S = 0.020


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


async def level(engine: CallEngine, loaded, calls: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    carrier = SimCarrier()
    stop = asyncio.Event()
    lateness: list[float] = []
    probe = asyncio.create_task(loop_probe(stop, lateness))
    numbers = [list(EXPECTED)[i % len(EXPECTED)] for i in range(calls)]
    started = time.perf_counter()
    reports = await asyncio.gather(
        *(
            engine.call(
                carrier, n, loaded, lead={"first_name": "John"}, timezone="America/New_York"
            )
            for n in numbers
        )
    )
    stop.set()
    await probe
    await carrier.close()
    wrong = [
        (n, r.disposition, [(t.state, t.intent, t.engine, t.text) for t in r.transcript])
        for n, r in zip(numbers, reports, strict=True)
        if r.disposition != EXPECTED[n]
    ]
    latencies = [x for r in reports for x in r.turn_latencies_ms]
    late = sum(1 for x in lateness if x > FRAME_S)
    return {
        "calls": calls,
        "late_frames_pct": round(100.0 * late / max(1, len(lateness)), 2),
        "loop_lag_p99_ms": round(1000 * sorted(lateness)[int(0.99 * (len(lateness) - 1))], 1),
        "wrong_dispositions": len(wrong),
        "wrong": wrong,
        "turn_latency_mean_ms": round(statistics.mean(latencies), 1) if latencies else None,
        "wall_s": round(time.perf_counter() - started, 1),
    }


def prerender_personas() -> None:
    """Synthesize every simulated callee's lines once, before measuring: on a real network
    the callee's voice costs the robot's machine nothing."""
    from robot.carriers.sim import SimCarrier as Carrier
    from robot.carriers.sim_audio import persona_speech

    carrier = Carrier()
    futures = []
    for number in EXPECTED:
        persona = carrier.persona_for(number)
        if persona is not None:
            futures += [persona_speech(persona.voice, text) for text in persona.texts()]
    for future in futures:
        future.result()


async def run(levels: list[int]) -> dict[str, object]:
    loaded = load_script(SCRIPT)
    with tempfile.TemporaryDirectory() as tmp:
        engine = CallEngine(settings=Settings(data_dir=Path(tmp)))
        engine.warm(loaded, calls=max(levels, default=1))
        prerender_personas()
        results = [await level(engine, loaded, n) for n in levels]
    sustained = max((r["calls"] for r in results if float(r["late_frames_pct"]) <= 1.0), default=0)
    return {"bench": "capacity", "levels": results, "sustained_calls": sustained}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="4,8,16,24", help="comma-separated call counts")
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",") if x]
    print(json.dumps(asyncio.run(run(levels))))


if __name__ == "__main__":
    main()
