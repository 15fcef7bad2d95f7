"""The processes of the proxy test: Kamailio started from deploy/kamailio/kamailio.cfg, and a
UDP listener that stands where a dead worker was and records what the proxy still sends it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "deploy" / "kamailio" / "kamailio.cfg"
KAMAILIO = shutil.which("kamailio") or (
    "/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None
)
KAMCMD = shutil.which("kamcmd") or (
    "/usr/sbin/kamcmd" if Path("/usr/sbin/kamcmd").exists() else None
)


def wait_for(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``predicate`` every 0.2 s; AssertionError naming ``what`` if it never holds."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


@dataclass
class Kamailio:
    """Kamailio in the foreground with its own runtime folder, control socket and list."""

    workdir: Path
    port: int
    workers: list[int]
    settings: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def ctl(self) -> str:
        return f"unix:{self.workdir / 'kamailio_ctl'}"

    @property
    def log(self) -> Path:
        return self.workdir / "kamailio.log"

    def write_list(self) -> Path:
        path = self.workdir / "dispatcher.list"
        lines = [
            f"1 sip:127.0.0.1:{port} 0 0 duid=worker-{i}" for i, port in enumerate(self.workers)
        ]
        path.write_text("# setid destination flags priority attrs\n" + "\n".join(lines) + "\n")
        return path

    def start(self) -> None:
        assert KAMAILIO is not None
        self.workdir.mkdir(parents=True, exist_ok=True)
        defines = {
            "LISTEN": f"udp:127.0.0.1:{self.port}",
            "DISPATCHER_LIST": f'"{self.write_list()}"',
            "CTL_SOCKET": f'"{self.ctl}"',
            **self.settings,
        }
        command = [KAMAILIO, "-f", str(CONFIG), "-DD", "-E", "-Y", str(self.workdir)]
        command += ["-P", str(self.workdir / "kamailio.pid"), "-m", "64", "-M", "8"]
        for name, value in defines.items():
            command += ["-A", f"{name}={value}"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self._answers_rpc, 30, "kamailio's control socket")

    def _answers_rpc(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"kamailio exited:\n{self.log.read_text(errors='replace')[-3000:]}"
            )
        return (self.workdir / "kamailio_ctl").exists() and self.rpc_ok("core.version")

    def rpc(self, *command: str) -> str:
        assert KAMCMD is not None
        result = subprocess.run(
            [KAMCMD, "-s", self.ctl, *command], capture_output=True, text=True, timeout=20
        )
        if result.returncode != 0:
            raise AssertionError(f"kamcmd {' '.join(command)}: {result.stderr.strip()}")
        return result.stdout

    def rpc_ok(self, *command: str) -> bool:
        try:
            self.rpc(*command)
        except (AssertionError, subprocess.TimeoutExpired):
            return False
        return True

    def states(self) -> dict[int, str]:
        """Each worker's dispatcher flags by port (``AP`` in rotation, ``IP`` out of it)."""
        text = self.rpc("dispatcher.list")
        pairs = re.findall(r"URI: sip:127\.0\.0\.1:(\d+)\s+FLAGS: (\w+)", text)
        return {int(port): flags for port, flags in pairs}

    def counter(self, name: str) -> int:
        """One of kamailio's core counters (``rcv_requests_bye``: BYEs received so far)."""
        match = re.search(rf"core:{name} = (\d+)", self.rpc("stats.get_statistics", "core:"))
        assert match is not None, f"kamailio has no counter {name}"
        return int(match.group(1))

    def active(self, port: int) -> bool:
        return self.states().get(port, "").startswith("A")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):  # its children share its group
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


class StandIn:
    """A socket on a worker's port that records the methods that arrive there.

    With no answers it is a dead worker's address (what the proxy still sends there); with
    ``options_status`` and ``invite_status`` it is a worker that is up but refuses calls
    (``invite_status=503``: overloaded).
    """

    def __init__(
        self, port: int, *, options_status: int | None = None, invite_status: int | None = None
    ) -> None:
        self.port = port
        self._answers = {"OPTIONS": options_status, "INVITE": invite_status}
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", port))
        self._socket.settimeout(0.2)
        self._lock = threading.Lock()
        self._methods: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, source = self._socket.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            method = data.split(b" ", 1)[0].decode(errors="replace")
            with self._lock:
                self._methods.append(method)
            status = self._answers.get(method)
            if status is not None:
                self._socket.sendto(_response(data, status), source)

    def count(self, method: str) -> int:
        with self._lock:
            return self._methods.count(method)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()


REASONS = {200: "OK", 503: "Service Unavailable"}


def _response(request: bytes, status: int) -> bytes:
    """A final response to ``request``: its Vias, From, Call-ID and CSeq, To with a tag."""
    lines = [f"SIP/2.0 {status} {REASONS.get(status, 'Status')}"]
    for line in request.split(b"\r\n\r\n", 1)[0].decode(errors="replace").split("\r\n")[1:]:
        name = line.split(":", 1)[0].strip().lower()
        if name in ("via", "v", "from", "f", "call-id", "i", "cseq"):
            lines.append(line)
        elif name in ("to", "t"):
            lines.append(line if "tag=" in line else f"{line};tag=standin")
    return ("\r\n".join([*lines, "Content-Length: 0", "", ""])).encode()
