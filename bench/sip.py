"""How many simultaneous SIP calls with RTP both ways one process sustains.

The peer is SIPp on 127.0.0.1 (built-in UAS scenario, RTP echo): every call sends a 20 ms
G.711 packet every 20 ms and receives the echo through the jitter buffer into its audio
queue, which a consumer drains as a call session would. A packet is late when it leaves more
than 10 ms after its slot. The number of calls grows until 1% or more of the packets are
late in every attempt at that count; the largest count below that is reported with every
run's figures, CPU per call-second and the machine's load. Prints one JSON line.

Usage: python bench/sip.py [--seconds 6] [--max-calls 400] [--attempts 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from typing import Any

import numpy as np

from robot.audio import AudioChunk
from robot.carriers.sip import SipCall, SipCarrier

LATE_LIMIT = 0.01


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def drain(call: SipCall, frames: list[int]) -> None:
    async for _chunk in call.audio():
        frames[0] += 1


async def run(calls: int, seconds: float, sipp: str) -> dict[str, Any]:
    port, media_port = free_port(), free_port()
    peer = subprocess.Popen(
        [
            sipp,
            "-sn",
            "uas",
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-p",
            str(port),
            "-mp",
            str(media_port),
            "-rtp_echo",
            "-nostdin",
            "-max_socket",
            "2000",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    carrier = SipCarrier.from_url(f"sip://127.0.0.1:{port};local_host=127.0.0.1")
    try:
        await asyncio.sleep(0.5)
        tone = np.sin(np.arange(int(8000 * seconds)) * 2 * np.pi * 440 / 8000) * 8000
        prompt = AudioChunk.from_array(tone.astype("<i2"), 8000)
        placed = []
        for i in range(calls):  # set calls up at 100 per second, as a dialler would pace them
            placed.append(await carrier.dial(f"{1000 + i}", ring_timeout_s=10))
            await asyncio.sleep(0.01)
        answered = []
        for call in placed:
            async for event in call.events():
                if event.kind in ("answered", "failed"):
                    break
            if call.state == "answered":
                answered.append(call)
        frames = [0]
        drains = [asyncio.create_task(drain(call, frames)) for call in answered]
        await asyncio.sleep(0.5)  # all streams running before the window opens
        before = [(c.rtp.sent_packets, c.rtp.late_packets) for c in answered]
        frames_before = frames[0]
        started = time.perf_counter()
        cpu_started = time.process_time()
        for call in answered:
            await call.play(prompt)
        await asyncio.sleep(seconds)
        elapsed = time.perf_counter() - started
        cpu_s = time.process_time() - cpu_started
        sent = sum(c.rtp.sent_packets - b[0] for c, b in zip(answered, before, strict=True))
        late = sum(c.rtp.late_packets - b[1] for c, b in zip(answered, before, strict=True))
        received = frames[0] - frames_before
        await asyncio.gather(*(call.hangup() for call in answered))
        await asyncio.gather(*drains)
        return {
            "calls": calls,
            "answered": len(answered),
            "unanswered_final_statuses": sorted(
                str(c.signalling.final_status) for c in placed if c not in answered
            ),
            "sent_packets": sent,
            "late_packets": late,
            "late_ratio": round(late / sent, 5) if sent else 1.0,
            "received_frames_per_s": round(received / elapsed, 1),
            # CPU of this process per call per second of call: load-independent cost
            "cpu_ms_per_call_second": round(1000 * cpu_s / (len(answered) * elapsed), 2)
            if answered
            else None,
            "load_average_1min": round(os.getloadavg()[0], 2),
        }
    finally:
        await carrier.close()
        peer.terminate()
        peer.wait(10)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--max-calls", type=int, default=400)
    parser.add_argument("--attempts", type=int, default=2, help="tries per call count")
    args = parser.parse_args()
    sipp = shutil.which("sipp")
    if sipp is None:
        print(json.dumps({"bench": "sip", "error": "sipp (Debian sip-tester) is not installed"}))
        sys.exit(1)
    runs = []
    best = 0
    calls = 10
    while calls <= args.max_calls:
        # On a shared machine one scheduling hiccup makes a whole slot late for every call,
        # so a level counts as sustained when one of its attempts stays under the limit.
        passed = False
        for _attempt in range(args.attempts):
            result = await run(calls, args.seconds, sipp)
            runs.append(result)
            if result["answered"] == calls and result["late_ratio"] < LATE_LIMIT:
                passed = True
                break
        if not passed:
            break
        best = calls
        calls = calls * 2 if calls < 40 else calls + 20
    print(
        json.dumps(
            {
                "bench": "sip",
                "max_calls_below_1pct_late": best,
                "seconds_per_run": args.seconds,
                "peer": "sipp uas with rtp_echo on 127.0.0.1",
                "runs": runs,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
