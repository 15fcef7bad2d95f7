"""A PostgreSQL of the test's own, in its own data folder and port, that the test can stop
and start again (Debian's server binaries; run as the ``postgres`` user when we are root)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

BIN_ROOT = Path("/usr/lib/postgresql")


def server_bin() -> Path | None:
    """The newest installed server's bin folder, or None."""
    versions = sorted(
        (p for p in BIN_ROOT.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return versions[-1] if versions else None


class OwnPostgres:
    """``initdb`` once, then :meth:`start` / :meth:`stop` as often as the test likes."""

    def __init__(self, port: int) -> None:
        bin_dir = server_bin()
        assert bin_dir is not None, "PostgreSQL server binaries are not installed"
        self.bin = bin_dir
        self.port = port
        # Under /tmp, not pytest's folder: the server user must be able to reach it.
        self.root = Path(tempfile.mkdtemp(prefix="callrobot-multihost-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # the server refuses to run as root
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as_user = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://callrobot@127.0.0.1:{self.port}/callrobot"

    def _run(self, tool: str, *args: str, timeout_s: float = 120.0) -> None:
        command = [*self._as_user, str(self.bin / tool), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}")

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "callrobot", "-A", "trust", "-E", "UTF8")
        self.start()
        host = ["-h", "127.0.0.1", "-p", str(self.port)]
        self._run("createdb", *host, "-U", "callrobot", "callrobot")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200 -c fsync=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop at once: open connections are cut, as when the server goes away."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
