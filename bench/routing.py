"""Post-dial delay that the routing webhook adds to inbound calls, on real SIP over loopback.

The service (:class:`robot.control.service.CallControl` with a ``listen=`` SIP carrier URL,
its own process) takes calls to five numbers of one tenant. Each number's ``routing_url`` is
a real HTTP receiver on 127.0.0.1 (``tests/fixtures/routing_receiver.py``) that verifies the
signature and answers ``say`` + ``hangup``:

- ``answer_0ms``, ``answer_100ms``, ``answer_500ms``: the receiver thinks that long;
- ``timeout_fallback``: the receiver answers after the 4 s budget; ``fallback_url`` answers
  at once;
- ``both_down``: nothing listens at either URL (connection refused, tried twice each); the
  number's ``default_actions`` run.

A small UDP user agent in this process places ``--calls`` calls per case (``--concurrency``
at a time) and times, from sending the INVITE: ``ringing_ms`` (180 Ringing), ``answer_ms``
(200 OK: the routing answer is known) and ``first_audio_ms`` (the first RTP packet that is
not silence: the first action, ``say``, is playing; the voice is a tone, so no speech
synthesis time is in it). Prints one JSON line with p50/p95 per case, the requests each
receiver got, the CPU model (``lscpu``) and the load average.

Usage: nice python bench/routing.py [--calls 20] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

# This file is named like no package, but keep bench/ off the import path all the same.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent.resolve()]
# The test fixtures (tests/fixtures/) provide the routing receiver.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))

from robot.audio import AudioChunk  # noqa: E402
from robot.carriers.sip import g711  # noqa: E402
from robot.load import cpu_info  # noqa: E402

from fixtures.routing_receiver import (  # noqa: E402
    RoutingReceiver,
    closed_port_url,
    serve_routing,
)

SECRET = "rtsec_bench_secret_0123456789"
ACTIONS: list[dict[str, Any]] = [{"say": {"text": "Hello"}}, {"hangup": {}}]
ANSWER = {"actions": ACTIONS}
CALLER = "+12025550170"
#: case -> (number, routing answer delay in s or "late" / "down")
CASES: dict[str, tuple[str, Any]] = {
    "answer_0ms": ("+12025550100", 0.0),
    "answer_100ms": ("+12025550101", 0.1),
    "answer_500ms": ("+12025550102", 0.5),
    "timeout_fallback": ("+12025550103", "late"),
    "both_down": ("+12025550104", "down"),
}
CALL_TIMEOUT_S = 20.0
SILENCE = g711.silence_payload(0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- the service (its own process) -------------------------------------------------------


class ToneVoice:
    """``say`` as a 300 ms tone: the bench times the routing, not speech synthesis."""

    def synthesize(self, text: str) -> AudioChunk:
        import numpy as np

        tone = 8000 * np.sin(2 * np.pi * 440 * np.arange(2400) / 8000)
        return AudioChunk(tone.astype("<i2").tobytes(), 8000)


async def serve(database: str, listen_port: int) -> None:
    """Take calls on ``listen_port`` until standard input closes."""
    import httpx

    from models.db import make_engine
    from robot.control.routing import RoutingClient
    from robot.control.service import CallControl

    engine = make_engine(database)
    trunk = f"127.0.0.1:{free_port()}"  # outbound calls would go there; none are placed
    url = f"sip://{trunk};local_host=127.0.0.1;listen=127.0.0.1:{listen_port}"
    async with httpx.AsyncClient() as client:
        router = RoutingClient(engine, client, allow_private=True)
        control = CallControl.from_url(engine, url, ToneVoice(), router=router)
        await control.start()
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        await control.close()
    engine.dispose()


# --- the caller: a minimal UDP user agent ------------------------------------------------


def _header(message: str, name: str) -> str:
    for line in message.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name:
            return value.strip()
        if not line:
            break
    return ""


def place_call(service_port: int, number: str) -> dict[str, float]:
    """One call: INVITE, 180, 200, ACK, audio, then the service's BYE. Times in ms."""
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sip.bind(("127.0.0.1", 0))
        rtp.bind(("127.0.0.1", 0))
        port, media_port = sip.getsockname()[1], rtp.getsockname()[1]
        call_id, tag = uuid.uuid4().hex, uuid.uuid4().hex[:10]
        sdp = (
            "v=0\r\no=bench 42 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {media_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\n"
        )
        target = f"sip:{number}@127.0.0.1:{service_port}"
        common = (
            f"From: <sip:{CALLER}@127.0.0.1:{port}>;tag={tag}\r\n"
            f"Call-ID: {call_id}\r\n"
            f"Contact: <sip:{CALLER}@127.0.0.1:{port}>\r\nMax-Forwards: 70\r\n"
        )
        invite = (
            f"INVITE {target} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{uuid.uuid4().hex[:16]}\r\n"
            f"To: <{target}>\r\n{common}CSeq: 1 INVITE\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
        )
        times: dict[str, float] = {}
        started = time.perf_counter()
        sip.sendto(invite.encode(), ("127.0.0.1", service_port))
        deadline = started + CALL_TIMEOUT_S
        while time.perf_counter() < deadline:
            ready, _, _ = select.select([sip, rtp], [], [], 0.5)
            now = time.perf_counter()
            if rtp in ready:
                packet = rtp.recv(2048)
                if "first_audio_ms" not in times and packet[12:] != SILENCE:
                    times["first_audio_ms"] = 1000 * (now - started)
            if sip not in ready:
                continue
            message = sip.recv(65535).decode("utf-8", "replace")
            first = message.split("\r\n", 1)[0]
            if first.startswith("SIP/2.0 180") and "ringing_ms" not in times:
                times["ringing_ms"] = 1000 * (now - started)
            elif first.startswith("SIP/2.0 200") and "INVITE" in _header(message, "cseq"):
                if "answer_ms" not in times:
                    times["answer_ms"] = 1000 * (now - started)
                ack = (
                    f"ACK {target} SIP/2.0\r\n"
                    f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK{uuid.uuid4().hex[:16]}\r\n"
                    f"To: {_header(message, 'to')}\r\n{common}CSeq: 1 ACK\r\n"
                    "Content-Length: 0\r\n\r\n"
                )
                sip.sendto(ack.encode(), ("127.0.0.1", service_port))
            elif first.startswith("SIP/2.0 ") and int(first.split()[1]) >= 300:
                raise RuntimeError(f"call to {number} refused: {first}")
            elif first.startswith("BYE "):
                lines = [
                    f"{name}: {_header(message, name.lower())}"
                    for name in ("Via", "From", "To", "Call-ID", "CSeq")
                ]
                ok = "SIP/2.0 200 OK\r\n" + "\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n"
                sip.sendto(ok.encode(), ("127.0.0.1", service_port))
                times["ended_ms"] = 1000 * (now - started)
                return times
        raise RuntimeError(f"call to {number} did not end within {CALL_TIMEOUT_S:g} s: {times}")
    finally:
        sip.close()
        rtp.close()


def summary(samples: list[dict[str, float]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("ringing_ms", "answer_ms", "first_audio_ms"):
        values = sorted(s[key] for s in samples if key in s)
        if not values:
            out[key] = None
            continue
        out[key] = {
            "p50": round(values[len(values) // 2], 1),
            "p95": round(values[min(len(values) - 1, int(0.95 * len(values)))], 1),
            "max": round(values[-1], 1),
        }
    return out


def add_numbers(database: str, routes: dict[str, tuple[str | None, str | None]]) -> None:
    from models.db import make_engine, upgrade
    from models.number import PhoneNumber
    from models.transactions import session_scope
    from robot.dialler.campaigns import get_or_create_tenant

    engine = make_engine(database)
    upgrade(engine)
    tenant_id = get_or_create_tenant(engine, "bench-routing")
    with session_scope(engine) as session:
        for number, (routing_url, fallback_url) in routes.items():
            session.add(
                PhoneNumber(
                    tenant_id=tenant_id,
                    number=number,
                    routing_url=routing_url,
                    fallback_url=fallback_url,
                    default_actions=ACTIONS,
                    routing_secret=SECRET,
                )
            )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="Calls per case.")
    parser.add_argument("--concurrency", type=int, default=4, help="Calls under way at once.")
    parser.add_argument("--serve", nargs=2, metavar=("DATABASE", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.serve[0], int(args.serve[1])))
        return

    receivers: dict[str, dict[str, RoutingReceiver]] = {}
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="callrobot-bench-") as folder:
        routes: dict[str, tuple[str | None, str | None]] = {}
        for case, (number, behaviour) in CASES.items():
            if behaviour == "down":
                routes[number] = (closed_port_url(), closed_port_url())
                receivers[case] = {}
                continue
            if behaviour == "late":
                late = RoutingReceiver(SECRET, plan=["late"], late_s=6.0)
                fallback = RoutingReceiver(SECRET, plan=[ANSWER])
                urls = (
                    stack.enter_context(serve_routing(late)),
                    stack.enter_context(serve_routing(fallback)),
                )
                routes[number] = urls
                receivers[case] = {"routing_url": late, "fallback_url": fallback}
                continue
            receiver = RoutingReceiver(SECRET, plan=[ANSWER], delay_s=float(behaviour))
            routes[number] = (stack.enter_context(serve_routing(receiver)), None)
            receivers[case] = {"routing_url": receiver}
        database = f"sqlite:///{Path(folder) / 'routing.db'}"
        add_numbers(database, routes)
        listen_port = free_port()
        log = (Path(folder) / "service.log").open("w")
        service = subprocess.Popen(
            [sys.executable, __file__, "--serve", database, str(listen_port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert service.stdout is not None and service.stdin is not None
        try:
            if service.stdout.readline().strip() != "ready":
                raise SystemExit(f"the service did not start: {Path(log.name).read_text()}")
            place_call(listen_port, CASES["answer_0ms"][0])  # warm-up, not counted
            results: dict[str, Any] = {}
            with ThreadPoolExecutor(args.concurrency) as pool:
                for case, (number, _) in CASES.items():
                    counts = {k: len(r.requests) for k, r in receivers[case].items()}
                    calls = list(
                        pool.map(place_call, [listen_port] * args.calls, [number] * args.calls)
                    )
                    results[case] = summary(calls) | {
                        "calls": len(calls),
                        "requests": {
                            k: len(r.requests) - counts[k] for k, r in receivers[case].items()
                        },
                    }
        finally:
            service.stdin.close()
            try:
                service.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.kill()
            log.close()
    print(
        json.dumps(
            {
                "bench": "routing",
                "transport": "sip-udp-loopback",
                **cpu_info(),
                "calls_per_case": args.calls,
                "concurrency": args.concurrency,
                "routing_budget_s": 4.0,
                "load_avg_1m": round(os.getloadavg()[0], 2),
                "cases": results,
            }
        )
    )


if __name__ == "__main__":
    main()
