"""How many conference members one core mixes with under 1% late frames.

Rooms of ``--size`` members (each sending its own tone, the way a carrier delivers decoded
G.711 audio: one 20 ms frame per member every 20 ms) run their own 20 ms clocks in one event
loop, i.e. on one core. A frame is late when its tick runs more than 10 ms after its slot
(``LATE_AFTER_S``; slots a stalled loop skips count as late too). The number of rooms doubles
until 1% or more of the frames are late in each of ``--attempts`` runs (other work on the
machine can make one run late), then the count between the last step under 1% and
the first one over it is halved (bisection) while the time budget lasts; the largest member
count under 1% is ``members_per_core``, with every step's figures and the CPU time per
member per 20 ms frame (``cpu_us_per_member_frame``). ``mixing_cost`` is the CPU time of the
same work ticked back to back without a clock, and the member count one core could carry at
100% by that measure (it does not depend on what else runs on the machine; the late-frame
steps do). Prints one JSON line with the CPU model (``lscpu``) and the load average.

Usage: nice python bench/conference.py [--seconds 3] [--size 4] [--max-members 2048]
    [--attempts 2] [--budget-s 150]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from typing import Any

import numpy as np

from robot.audio import AudioChunk
from robot.carriers.sip.clock import FRAME_S, LATE_AFTER_S
from robot.control.conference import Conference, Member, MemberOptions
from robot.load import cpu_info

MAX_LATE_PCT = 1.0


class SinkCall:
    """A member's call: what the room plays to it is counted and dropped."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.frames = 0

    async def play(self, chunk: AudioChunk) -> None:
        self.frames += 1

    async def hangup(self, reason: str | None = None) -> None:
        pass


def tone_frames(hz: float, count: int = 50) -> list[AudioChunk]:
    t = np.arange(160 * count) / 8000
    return AudioChunk.from_array(0.2 * np.sin(2 * np.pi * hz * t), 8000).frames()


async def feed(members: list[Member], stop: asyncio.Event) -> None:
    """The carriers' side: one frame to every member every 20 ms (deadline scheduled)."""
    loop = asyncio.get_running_loop()
    tones = [tone_frames(300 + 100 * (i % 8)) for i in range(8)]
    start, slot = loop.time(), 0
    while not stop.is_set():
        delay = start + slot * FRAME_S - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        for index, member in enumerate(members):
            frames = tones[index % 8]
            member.push(frames[slot % len(frames)])
        slot += 1


async def run_step(rooms_count: int, size: int, seconds: float) -> dict[str, Any]:
    rooms = [
        Conference(i + 1, f"bench-{i}", on_event=lambda kind, data: None)
        for i in range(rooms_count)
    ]
    members = [
        room.add(SinkCall(f"{room.id}-{n}"), MemberOptions(beep=False), read_audio=False)  # type: ignore[arg-type]
        for room in rooms
        for n in range(size)
    ]
    stop = asyncio.Event()
    feeder = asyncio.create_task(feed(members, stop))
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    frames = sum(room.frames for room in rooms)
    late = sum(room.late_frames for room in rooms)
    stop.set()
    await feeder
    for room in rooms:
        await room.end()
    member_s = len(members) * wall
    return {
        "rooms": rooms_count,
        "members": len(members),
        "frames": frames,
        "late_frames_pct": round(100.0 * late / max(frames, 1), 3),
        "cpu_pct": round(100.0 * cpu / wall, 1),
        "cpu_ms_per_member_s": round(1000.0 * cpu / member_s, 3),
        "cpu_us_per_member_frame": round(1e6 * cpu / member_s * FRAME_S, 2),
        "underruns": sum(m.buffer.underruns for m in members),
    }


async def mixing_cost(rooms_count: int, size: int, frames: int) -> dict[str, Any]:
    """CPU per member-frame with no clock: every room ticked back to back (what a core could
    do if nothing else ran on it; the clocked steps show what it does on this machine now)."""
    rooms = [
        Conference(i + 1, f"cost-{i}", on_event=lambda kind, data: None, clocked=False)
        for i in range(rooms_count)
    ]
    members = [
        room.add(SinkCall(f"{room.id}-{n}"), MemberOptions(beep=False), read_audio=False)  # type: ignore[arg-type]
        for room in rooms
        for n in range(size)
    ]
    tones = [tone_frames(300 + 100 * (i % 8)) for i in range(8)]
    cpu0 = time.process_time()
    for slot in range(frames):
        for index, member in enumerate(members):
            member.push(tones[index % 8][slot % 50])
        for room in rooms:
            await room.tick()
    cpu = time.process_time() - cpu0
    for room in rooms:
        await room.end()
    per_member_frame_s = cpu / (len(members) * frames)
    return {
        "members": len(members),
        "cpu_us_per_member_frame": round(1e6 * per_member_frame_s, 2),
        "members_per_core_by_cpu": int(FRAME_S / per_member_frame_s),
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    started = time.monotonic()
    cost = await mixing_cost(16, args.size, 200)
    steps: list[dict[str, Any]] = []
    passed: dict[int, dict[str, Any]] = {}  # rooms -> step, for counts under the limit

    async def step(rooms_count: int) -> bool:
        """Whether a count stays under the limit in one of ``--attempts`` runs."""
        for _ in range(args.attempts):
            result = await run_step(rooms_count, args.size, args.seconds)
            steps.append(result)
            if result["late_frames_pct"] < MAX_LATE_PCT:
                passed[rooms_count] = result
                return True
            if not time_left():
                break
        return False

    def time_left() -> bool:
        return time.monotonic() - started + args.seconds + 1 < args.budget_s

    # Double until a step has too many late frames (or the cap or the budget is reached)...
    low, high = 0, None
    rooms_count = 1
    while rooms_count * args.size <= args.max_members and time_left():
        if not await step(rooms_count):
            high = rooms_count
            break
        low = rooms_count
        rooms_count *= 2
    # ...then halve the gap between the last count under the limit and the first over it.
    while high is not None and high - low > 1 and time_left():
        middle = (low + high) // 2
        if await step(middle):
            low = middle
        else:
            high = middle
    best = passed.get(low)
    return {
        "bench": "conference",
        **cpu_info(),
        "cores_used": 1,
        "room_size": args.size,
        "members_per_core": best["members"] if best else 0,
        "cpu_us_per_member_frame": best["cpu_us_per_member_frame"] if best else None,
        "first_over_limit_members": high * args.size if high is not None else None,
        "mixing_cost": cost,
        "max_late_pct": MAX_LATE_PCT,
        "late_after_ms": round(1000 * LATE_AFTER_S, 1),
        "seconds_per_step": args.seconds,
        "attempts": args.attempts,
        "budget_s": args.budget_s,
        "elapsed_s": round(time.monotonic() - started, 1),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "steps": steps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--size", type=int, default=4)
    parser.add_argument("--max-members", type=int, default=2048)
    parser.add_argument(
        "--attempts", type=int, default=2, help="Runs of a count before it counts as over."
    )
    parser.add_argument(
        "--budget-s", type=float, default=150.0, help="Stop stepping after about this long."
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args))))


if __name__ == "__main__":
    main()
