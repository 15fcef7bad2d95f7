"""Turn latency over the simulated network with the real engines.

Latency of a turn = from the end of the callee's speech (the last voiced audio, so the
endpoint silence is included) to the moment the robot's first audio of the answer is queued
to the carrier. Calls run one or two at a time so the figure is the engine's, not a queue's.

Prints one JSON line: p50/p95/max in ms, turns measured, engines and settings.
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
HUMANS = ["+12025550101", "+12025550102", "+12025550106", "+12025550108", "+12025550103"]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def run(calls: int, concurrency: int) -> dict[str, object]:
    loaded = load_script(SCRIPT)
    with tempfile.TemporaryDirectory() as tmp:
        engine = CallEngine(settings=Settings(data_dir=Path(tmp)))
        started = time.perf_counter()
        engine.warm(loaded)
        warm_s = time.perf_counter() - started
        carrier = SimCarrier()
        limit = asyncio.Semaphore(concurrency)
        latencies: list[float] = []

        async def one(number: str) -> None:
            async with limit:
                report = await engine.call(
                    carrier,
                    number,
                    loaded,
                    lead={"first_name": "John"},
                    timezone="America/New_York",
                )
                latencies.extend(report.turn_latencies_ms)

        numbers = [HUMANS[i % len(HUMANS)] for i in range(calls)]
        await asyncio.gather(*(one(n) for n in numbers))
        await carrier.close()
        ep = engine.settings.speech.endpoint
        return {
            "bench": "turn_latency",
            "calls": calls,
            "concurrency": concurrency,
            "turns": len(latencies),
            "p50_ms": round(statistics.median(latencies), 1),
            "p95_ms": round(percentile(latencies, 0.95), 1),
            "max_ms": round(max(latencies), 1),
            "warm_up_s": round(warm_s, 2),
            "engines": {
                "tts": "piper joe (prompt cache)",
                "asr": "faster-whisper tiny.en int8",
                "vad": engine.vad_kind,
            },
            "endpoint": {
                "trailing_silence_ms": ep.trailing_silence_ms,
                "early_silence_ms": ep.early_silence_ms,
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.calls, args.concurrency))))


if __name__ == "__main__":
    main()
