"""Turn latency over the simulated network with the real engines.

Latency of a turn = from the end of the callee's speech (the last voiced audio, so the
endpoint silence is included) to the moment the robot's first audio of the answer is queued
to the carrier. Calls run one or two at a time so the figure is the engine's, not a queue's.

Each turn is also split into stages (``CallReport.turn_stages``): ``endpoint`` (silence until
the endpoint), ``decode_queue`` (waiting for a decoding thread), ``decode_run`` (decoding),
``decode_wait`` (endpoint -> transcript; early decoding hides part of queue + run), ``queue``
(transcript -> taken up by the session), ``nlu`` (dialogue manager), ``synthesis`` (reply ->
first audio ready).

Prints one JSON line: p50/p95/max in ms, p50/p95 per stage, turns measured, late decodes,
engines and settings.
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
from robot.load import percentile  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "dialogues" / "scripts" / "lead_qualification.yaml"
HUMANS = ["+12025550101", "+12025550102", "+12025550106", "+12025550108", "+12025550103"]


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
        stages: dict[str, list[float]] = {}
        late_decodes = 0

        async def one(number: str) -> None:
            async with limit:
                report = await engine.call(
                    carrier,
                    number,
                    loaded,
                    lead={"first_name": "John"},
                    timezone="America/New_York",
                )
                nonlocal late_decodes
                latencies.extend(report.turn_latencies_ms)
                late_decodes += report.late_decodes
                for turn in report.turn_stages:
                    for stage, ms in turn.items():
                        stages.setdefault(stage, []).append(ms)

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
            "p95_ms": round(percentile(latencies, 95) or 0.0, 1),
            "max_ms": round(max(latencies), 1),
            "stages_ms": {
                stage: {
                    "p50": round(statistics.median(values), 1),
                    "p95": round(percentile(values, 95) or 0.0, 1),
                }
                for stage, values in sorted(stages.items())
                if stage != "total"
            },
            "late_decodes": late_decodes,
            "warm_up_s": round(warm_s, 2),
            "engines": {
                "tts": "piper joe (prompt cache)",
                "asr": "faster-whisper tiny.en int8",
                "vad": engine.vad_kind,
            },
            "endpoint": {
                "trailing_silence_ms": ep.trailing_silence_ms,
                "early_silence_ms": ep.early_silence_ms,
                "decode_timeout_ms": engine.settings.speech.decode_timeout_ms,
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
