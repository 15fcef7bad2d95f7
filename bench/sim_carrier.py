"""How many simultaneous sim-carrier calls one event loop paces on time, and persona synthesis cost.

Each call dials a bundled human persona, plays a robot prompt (Piper) every few seconds and
reads the persona's audio. A callee frame is *late* when it arrives more than one frame
(20 ms) after its place on the call's timeline. The carrier alone is measured: no ASR, VAD or
dialogue runs, so this is the ceiling the simulated network puts on a capacity test.

Prints one JSON line: {"calls", "seconds", "frames", "late_frames_pct", "p99_lateness_ms",
"max_lateness_ms", "cpu_pct", "synth_ms_per_line", "cached_lookup_us"}.
Options: --calls N (default 32), --seconds S (default 12).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import numpy as np

from robot.carriers.persona_loader import load_personas
from robot.carriers.personas import PersonaKind
from robot.carriers.sim import SimCarrier
from robot.carriers.sim_audio import persona_speech, synthesize_persona_speech
from robot.carriers.sim_call import SimCall
from robot.speech.piper import PiperSynthesizer


async def drive(call: SimCall, prompt_pcm: object, seconds: float, lateness: list[float]) -> None:
    loop = asyncio.get_running_loop()

    async def read() -> None:
        origin: tuple[float, float] | None = None
        async for frame in call.audio():
            now = loop.time()
            if call.signalling.answer_ms is None or frame.timestamp_ms is None:
                continue
            if origin is None:
                origin = (now, frame.timestamp_ms)
                continue
            due = origin[0] + (frame.timestamp_ms - origin[1]) / 1000.0
            lateness.append(max(0.0, (now - due) * 1000.0))

    reader = asyncio.create_task(read())
    deadline = loop.time() + seconds
    while loop.time() < deadline and call.state != "ended":
        if call.state == "answered":
            await call.play(prompt_pcm)  # type: ignore[arg-type]
        await asyncio.sleep(3.0)
    await call.hangup()
    await reader


async def run(calls: int, seconds: float) -> dict[str, object]:
    humans = [p for p in load_personas() if p.kind == PersonaKind.HUMAN]
    fast = [p.model_copy(update={"ring_ms": 200, "patience_ms": 600_000}) for p in humans]
    prompt = PiperSynthesizer().synthesize("Are you still interested in getting a quote?")
    for p in fast:  # synthesize every line before timing the network
        for text in p.texts():
            await asyncio.wrap_future(persona_speech(p.voice, text))
    carrier = SimCarrier(fast)
    lateness: list[float] = []
    cpu0, wall0 = time.process_time(), time.monotonic()
    dialled = [await carrier.dial(fast[i % len(fast)].numbers[0]) for i in range(calls)]
    await asyncio.gather(*(drive(c, prompt, seconds, lateness) for c in dialled))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    await carrier.close()
    values = np.asarray(lateness)
    return {
        "calls": calls,
        "seconds": seconds,
        "frames": int(values.size),
        "late_frames_pct": round(100.0 * float(np.mean(values > 20.0)), 3),
        "p99_lateness_ms": round(float(np.percentile(values, 99)), 2),
        "max_lateness_ms": round(float(values.max()), 2),
        "cpu_pct": round(100.0 * cpu / wall, 1),
    }


def synthesis_cost() -> dict[str, float]:
    persona = next(p for p in load_personas() if p.name == "interested")
    texts = [line.say for line in persona.lines]
    synthesize_persona_speech(persona.voice, "Warm up.")
    started = time.perf_counter()
    for text in texts:
        synthesize_persona_speech(persona.voice, text)
    per_line_ms = 1000.0 * (time.perf_counter() - started) / len(texts)
    persona_speech(persona.voice, texts[0]).result()
    started = time.perf_counter()
    for _ in range(1000):
        persona_speech(persona.voice, texts[0])
    lookup_us = 1e6 * (time.perf_counter() - started) / 1000
    return {"synth_ms_per_line": round(per_line_ms, 1), "cached_lookup_us": round(lookup_us, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    figures = asyncio.run(run(args.calls, args.seconds))
    figures.update(synthesis_cost())
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
