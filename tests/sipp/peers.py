"""Real SIP peers for the SIP carrier tests: SIPp scenarios and a headless baresip."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCENARIOS = Path(__file__).parent
SIPP = shutil.which("sipp")
BARESIP = shutil.which("baresip")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    while True:
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        other = socket.SOCK_STREAM if kind == socket.SOCK_DGRAM else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, other) as check:
            try:
                check.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port


def free_media_port() -> int:
    """A port P with P..P+3 free for UDP: SIPp binds audio RTP/RTCP on P, P+1 and video on
    P+2, P+3 (a taken video port fails the whole call)."""
    while True:
        port = free_port()
        if port <= 65532 and all(port_is_free(port + i) for i in range(1, 4)):
            return port


def free_port_pair() -> int:
    """A port P with P and P+1 free for UDP and TCP (baresip puts SIP/TLS on P+1)."""
    while True:
        port = free_port(socket.SOCK_STREAM)
        if port < 65535 and port_is_free(port + 1) and tcp_port_is_free(port + 1):
            return port


def tcp_port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _started_listening(
    process: subprocess.Popen[bytes], port: int, timeout_s: float = 15.0
) -> bool:
    deadline = time.monotonic() + timeout_s
    while port_is_free(port):
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def tone(frequency_hz: float, duration_ms: int, rate: int = 8000, level: float = 0.4) -> np.ndarray:
    t = np.arange(rate * duration_ms // 1000) / rate
    return (np.sin(2 * np.pi * frequency_hz * t) * level * 32767).astype("<i2")


def write_ulaw_wav(path: Path, samples: np.ndarray) -> None:
    import soundfile as sf

    sf.write(str(path), samples, 8000, subtype="ULAW")


def dominant_frequency_hz(samples: np.ndarray, rate: int = 8000) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


@dataclass
class SippPeer:
    process: subprocess.Popen[bytes]
    port: int
    media_port: int
    workdir: Path

    def wait(self, timeout_s: float = 15.0) -> int:
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def errors(self) -> str:
        logs = sorted(self.workdir.glob("*_errors.log"))
        return "\n".join(p.read_text(errors="replace")[-2000:] for p in logs)


@contextlib.contextmanager
def sipp_uas(
    scenario: str, workdir: Path, *, transport: str = "u1", keys: dict[str, str] | None = None
) -> Iterator[SippPeer]:
    """Run SIPp as a UAS with one of tests/sipp/*.xml for exactly one call."""
    assert SIPP is not None
    for _attempt in range(3):  # another process may grab a port between probe and bind
        port, media_port = free_port(), free_media_port()
        command = [SIPP, "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1"]
        command += ["-mi", "127.0.0.1", "-p", str(port), "-mp", str(media_port)]
        command += ["-t", transport, "-m", "1", "-nostdin", "-trace_err"]
        command += ["-timeout", "30s", "-timeout_error"]
        for name, value in (keys or {}).items():
            command += ["-key", name, value]
        stderr_path = workdir / "sipp.stderr"
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                command,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        if transport.startswith("t") or _started_listening(process, port):
            break
        process.kill()
        process.wait()
    else:
        raise AssertionError(f"sipp did not start: {stderr_path.read_text()[-500:]}")
    peer = SippPeer(process, port, media_port, workdir)
    try:
        yield peer
    finally:
        if process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        if process.poll() is None:
            process.kill()
            process.wait()


@contextlib.contextmanager
def sipp_uac(
    scenario: str,
    workdir: Path,
    target_port: int,
    *,
    service: str,
    transport: str = "u1",
    extra_args: tuple[str, ...] = (),
) -> Iterator[SippPeer]:
    """Run SIPp as a UAC placing one call with ``scenario`` to ``service`` at
    127.0.0.1:``target_port`` (``[service]`` in the scenario); ``extra_args`` go to SIPp as
    they are (``-cid_str`` for a known Call-ID)."""
    assert SIPP is not None
    port, media_port = free_port(), free_media_port()
    command = [SIPP, f"127.0.0.1:{target_port}", "-sf", str(SCENARIOS / scenario)]
    command += ["-s", service, "-i", "127.0.0.1", "-mi", "127.0.0.1"]
    command += ["-p", str(port), "-mp", str(media_port), "-t", transport, "-m", "1"]
    command += ["-nostdin", "-trace_err", "-timeout", "30s", "-timeout_error", *extra_args]
    with (workdir / "sipp.stderr").open("wb") as stderr:
        process = subprocess.Popen(
            command, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr
        )
    try:
        yield SippPeer(process, port, media_port, workdir)
    finally:
        if process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        if process.poll() is None:
            process.kill()
            process.wait()


async def wait_listening(port: int, timeout_s: float = 5.0) -> None:
    """Wait until something listens on UDP ``port`` of 127.0.0.1."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while port_is_free(port):
        if loop.time() > deadline:
            raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")
        await asyncio.sleep(0.05)


BARESIP_CONFIG = """\
module_path		/usr/lib/baresip/modules
poll_method		epoll
sip_listen		127.0.0.1:{port}
call_local_timeout	120
audio_player		alsa,null
audio_alert		alsa,null
audio_source		aufile,{source}
ausrc_srate		8000
auplay_srate		8000
ausrc_channels		1
auplay_channels		1
snd_path		{recordings}
rtp_stats		no
module			g711.so
module			aufile.so
module			alsa.so
module			sndfile.so
module_tmp		account.so
"""


@dataclass
class BaresipPeer:
    process: subprocess.Popen[bytes]
    port: int
    recordings: Path
    log: Path

    def received_audio(self) -> np.ndarray:
        """What baresip decoded from us (its sndfile ``-dec.wav`` dump), 8 kHz."""
        import soundfile as sf

        dumps = sorted(self.recordings.glob("*-dec.wav"))
        if not dumps:
            raise AssertionError(f"baresip wrote no recording; log:\n{self.log.read_text()}")
        data, rate = sf.read(str(dumps[-1]), dtype="int16")
        assert rate == 8000
        return np.asarray(data)


@contextlib.contextmanager
def baresip_uas(
    workdir: Path, source_wav: Path, codecs: str = "PCMU/8000,PCMA/8000"
) -> Iterator[BaresipPeer]:
    """A headless baresip that auto-answers, plays ``source_wav`` and records what it hears.

    No sound card: playback goes to ALSA's ``null`` device, recording is the sndfile module's
    dump of the decoded stream.
    """
    assert BARESIP is not None
    config_dir = workdir / "baresip"
    recordings = workdir / "recordings"
    config_dir.mkdir()
    recordings.mkdir()
    (config_dir / "accounts").write_text(
        f"<sip:robot-test@127.0.0.1>;regint=0;answermode=auto;audio_codecs={codecs}\n"
    )
    log = workdir / "baresip.log"
    for _attempt in range(3):  # another process may grab the port between probe and bind
        port = free_port_pair()
        (config_dir / "config").write_text(
            BARESIP_CONFIG.format(port=port, source=source_wav, recordings=recordings)
        )
        with log.open("wb") as out:
            process = subprocess.Popen(
                [BARESIP, "-f", str(config_dir)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if _started_listening(process, port):
            break
        process.kill()
        process.wait()
    else:
        raise AssertionError(f"baresip did not start; log:\n{log.read_text()}")
    peer = BaresipPeer(process, port, recordings, log)
    try:
        yield peer
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
