"""The processes of the several-hosts test: the API and the dialler workers, each a real
``callrobot`` process on its own loopback address, started, killed, frozen and thawed here."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
#: Lease and heartbeat of the workers: the lease outlives the longest callee call (10 s) by
#: far, so a dead worker's lead is never rung while its call may still be up.
LEASE_S = 20.0
HEARTBEAT_S = 4.0
CALLS_PER_WORKER = 4


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Service:
    """One ``callrobot`` process (its output appended to ``log``)."""

    name: str
    args: list[str]
    env: dict[str, str]
    log: Path
    #: Where it runs: ``python -c`` imports from here first (another release's tree).
    cwd: Path = ROOT
    process: subprocess.Popen[bytes] | None = None
    history: list[int] = field(default_factory=list)

    def start(self) -> None:
        command = ["nice", "-n", "5", sys.executable, "-c", "from robot.cli import main; main()"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, *self.args],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.history.append(self.process.pid)

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def owner_prefix(self) -> str:
        """How the worker's name in the database starts (``default_worker_name``)."""
        return f"{socket.gethostname()}:{self.pid}:"

    def signal(self, sig: signal.Signals) -> None:
        """Signal the process and whatever it started (its own process group)."""
        assert self.process is not None
        os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.process is not None
        self.process.wait(30)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM (running calls finish), then SIGKILL; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.process.wait(30)
            return None


def common_env(
    database_url: str, api_url: str, metrics_token: str, recordings_dir: Path
) -> dict[str, str]:
    """What every process shares: the database, and the recordings folder (one shared folder
    for all hosts, as an NFS mount would be; each worker keeps its own data folder)."""
    env = dict(os.environ)
    env.update(
        {
            "CALLROBOT_RECORDINGS_DIR": str(recordings_dir),
            "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1",
            "CALLROBOT_DATABASE_URL": database_url,
            "CALLROBOT_PUBLIC_BASE_URL": api_url,
            "CALLROBOT_METRICS_TOKEN": metrics_token,
            "CALLROBOT_LOG_FORMAT": "json",
            "CALLROBOT_LOG_LEVEL": "INFO",
            "CALLROBOT_WEBHOOKS_ALLOW_PRIVATE": "true",
            "CALLROBOT_WEBHOOKS__TIMEOUT_S": "3",
            "CALLROBOT_WEBHOOKS__BACKOFF_BASE_S": "1",
            "CALLROBOT_WEBHOOKS__BACKOFF_MAX_S": "4",
            "CALLROBOT_WEBHOOKS__POLL_INTERVAL_S": "0.5",
        }
    )
    return env


def worker_env(base: dict[str, str], address: str, sip_port: int, data_dir: Path) -> dict[str, str]:
    """A worker whose SIP and RTP are bound to ``address`` and whose calls need no speech
    recognition (no voicemail detection, no short-answer recogniser, espeak voice)."""
    env = dict(base)
    env.update(
        {
            "CALLROBOT_CARRIER_URL": f"sip://127.0.0.1:{sip_port};local_host={address}",
            "CALLROBOT_DATA_DIR": str(data_dir / "data"),
            "CALLROBOT_CACHE_DIR": str(data_dir / "cache"),
            "CALLROBOT_VOICEMAIL_DETECTION": "false",
            "CALLROBOT_ADMISSION__ENABLED": "false",
            "CALLROBOT_SPEECH__SHORT_ANSWERS__ENABLED": "false",
            "CALLROBOT_SPEECH__TTS": json.dumps({"en": "espeak"}),
            "CALLROBOT_SPEECH__ASR": json.dumps({"en": "pocketsphinx"}),
            "CALLROBOT_DIALLER__LEASE_S": str(LEASE_S),
            "CALLROBOT_DIALLER__HEARTBEAT_S": str(HEARTBEAT_S),
            "CALLROBOT_DIALLER__MAX_CONCURRENT_CALLS": str(CALLS_PER_WORKER),
            "CALLROBOT_DIALLER__CALLS_PER_SECOND": "3",
            "CALLROBOT_DIALLER__POLL_INTERVAL_S": "0.5",
            "CALLROBOT_DIALLER__STORE_RETRY_S": "120",
        }
    )
    return env


def wait_until_serving(url: str, service: Service, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert service.process is not None and service.process.poll() is None, (
            f"{service.name} exited: {service.log.read_text(errors='replace')[-3000:]}"
        )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{service.name} did not answer at {url} within {timeout_s:.0f} s")
