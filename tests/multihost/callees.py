"""The callees: one SIPp (tests/multihost/callee.xml) answering every lead on 127.0.0.1.

SIPp logs each INVITE with the ``X-Attempt-Id`` the worker sent and the moment (ms since
SIPp started) the callee was done with the call; :func:`read_calls` turns that log into one
:class:`CalleeCall` per SIP call.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sipp.peers import port_is_free

SCENARIO = Path(__file__).with_name("callee.xml")
SIPP = shutil.which("sipp")
#: Longest a callee keeps a call (ring 1.5 s + talk 8 s, or ring 4 s): an unlogged end is
#: taken to be this long after the INVITE.
LONGEST_CALL_MS = 10_000


@dataclass
class CalleeCall:
    sip_call_id: str
    attempt_id: int | None
    number: str
    invited_ms: int
    ended_ms: int | None = None
    how: str | None = None

    @property
    def until_ms(self) -> int:
        return self.ended_ms if self.ended_ms is not None else self.invited_ms + LONGEST_CALL_MS


@dataclass
class Callees:
    process: subprocess.Popen[bytes]
    port: int
    workdir: Path

    def stop(self) -> None:
        """Stop SIPp so that it writes out its logs (SIGINT, then SIGKILL after 10 s)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_text(self) -> str:
        logs = sorted(self.workdir.glob("*_logs.log"))
        return "".join(p.read_text(errors="replace") for p in logs)

    def errors(self) -> str:
        return "".join(p.read_text(errors="replace")[-3000:] for p in self.workdir.glob("*err*"))


@contextlib.contextmanager
def run_callees(workdir: Path, port: int, media_port: int) -> Iterator[Callees]:
    """Run SIPp as a UAS for any number of calls on 127.0.0.1:``port``."""
    assert SIPP is not None
    workdir.mkdir(parents=True, exist_ok=True)
    command = [SIPP, "-sf", str(SCENARIO), "-i", "127.0.0.1", "-p", str(port)]
    command += ["-mi", "127.0.0.1", "-mp", str(media_port), "-t", "u1", "-nostdin"]
    command += ["-trace_logs", "-trace_err", "-max_recv_loops", "10000"]
    with (workdir / "sipp.stderr").open("wb") as stderr:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    callees = Callees(process, port, workdir)
    deadline = time.monotonic() + 15
    while port_is_free(port):  # SIPp has not bound its port yet
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            stderr_text = (workdir / "sipp.stderr").read_text(errors="replace")
            raise AssertionError(f"SIPp did not start: {stderr_text[-2000:]}")
        time.sleep(0.1)
    try:
        yield callees
    finally:
        callees.stop()


def read_calls(log_text: str) -> list[CalleeCall]:
    """One entry per SIP call from the callee log (INVITE and END lines)."""
    calls: dict[str, CalleeCall] = {}
    ends: dict[str, tuple[int, str]] = {}
    for line in log_text.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if parts[0] == "INVITE" and len(parts) >= 5:
            attempt_text, ruri, sip_call_id, tick = parts[1:5]
            number = ruri.removeprefix("INVITE sip:")
            attempt = int(attempt_text) if attempt_text.isdigit() else None
            calls[sip_call_id] = CalleeCall(sip_call_id, attempt, number, int(tick))
        elif parts[0] == "END" and len(parts) >= 5:
            sip_call_id, tick, how = parts[2:5]
            ends[sip_call_id] = (int(tick), how)
    for sip_call_id, (tick, how) in ends.items():
        if sip_call_id in calls:
            calls[sip_call_id].ended_ms, calls[sip_call_id].how = tick, how
    return list(calls.values())
