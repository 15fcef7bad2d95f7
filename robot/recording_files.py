"""Recording files in the recordings folder, the one place every host reads and writes them.

The folder (``Settings.recordings_root()``; ``CALLROBOT_RECORDINGS_DIR``) is shared by every
host of a deployment (an NFS export or another shared mount). The database keeps each file's
path *relative* to it (:func:`stored_path`), so a host that mounts the folder elsewhere still
finds the file, and :func:`resolve_stored` refuses any stored path that would lead outside it
(``..``, an absolute path elsewhere, a symbolic link out), so a row can never make the API
serve another file of the host. :func:`wav_facts` measures a finished file for its row.
"""

from __future__ import annotations

import hashlib
import secrets
import wave
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from robot.errors import NotFoundError

__all__ = [
    "WavFacts",
    "new_recording_file",
    "resolve_stored",
    "stored_or_absolute",
    "stored_path",
    "wav_facts",
]

_HASH_CHUNK = 1 << 20


def _inside(root: Path, path: Path) -> bool:
    return path == root or root in path.parents


def stored_path(root: Path, path: Path) -> str:
    """``path`` relative to ``root`` (POSIX separators) for the database; ValueError when it
    is not inside ``root``."""
    real_root = root.resolve()
    real = path.resolve()
    if not _inside(real_root, real):
        raise ValueError(f"{path} is outside the recordings folder {root}")
    return real.relative_to(real_root).as_posix()


def stored_or_absolute(root: Path, path: str | None) -> str | None:
    """What a call row stores for a recording written at ``path``: relative to ``root``, or
    (a file written elsewhere, e.g. a one-off call with its own folder) the absolute path,
    which the API will not serve."""
    if path is None:
        return None
    try:
        return stored_path(root, Path(path))
    except ValueError:
        return str(Path(path).resolve())


def resolve_stored(root: Path, stored: str) -> Path:
    """The file a stored path names under ``root``; :class:`NotFoundError` for a path that
    leads outside it. Absolute paths (rows written before paths were relative) are accepted
    only when they are inside ``root``."""
    real_root = root.resolve()
    candidate = Path(stored) if Path(stored).is_absolute() else real_root / PurePosixPath(stored)
    real = candidate.resolve()
    if not _inside(real_root, real) or real == real_root:
        raise NotFoundError("the recording's path is outside the recordings folder")
    return real


def new_recording_file(root: Path, tenant_id: int, source: str) -> Path:
    """A new file's path: ``control/TENANT/SOURCE-RANDOM.wav`` (folders made)."""
    folder = root / "control" / str(tenant_id)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{source}-{secrets.token_hex(8)}.wav"


@dataclass(frozen=True, slots=True)
class WavFacts:
    channels: int
    sample_rate: int
    duration_ms: int
    size_bytes: int
    sha256: str


def wav_facts(path: Path) -> WavFacts:
    """Channels, rate, length, size and SHA-256 of a finished WAV file."""
    with wave.open(str(path), "rb") as wav:
        channels, rate, frames = wav.getnchannels(), wav.getframerate(), wav.getnframes()
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return WavFacts(channels, rate, round(1000 * frames / rate), size, digest.hexdigest())
