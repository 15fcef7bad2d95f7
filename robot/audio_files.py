"""Opening audio files from outside with checks: the one way every reader opens a WAV.

``replay``, ``asr``, ``voicemail detect`` and the simulated callee's recordings all read files
through :func:`read_audio_file`. Before any sample is read it checks what the file claims
(a format soundfile knows, the sample rate, the channels and the length, against
``Settings.input_limits``) and, for a RIFF/WAVE file, that the data chunk the header
announces is really in the file: a truncated file or a header claiming 4 GB is refused with
an :class:`AudioFileError` naming the file, never read as far as the header says.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import TYPE_CHECKING

from robot.errors import ValidationError
from robot.input_limits import InputLimits, setting_name

if TYPE_CHECKING:
    import numpy as np

__all__ = ["AudioFileError", "check_riff_wave", "read_audio_file"]

#: RIFF chunks walked before giving up on finding ``data`` (real files have a handful).
MAX_RIFF_CHUNKS = 64


class AudioFileError(ValidationError):
    """An audio file is unreadable, malformed or past a limit; the message names the file."""


def check_riff_wave(path: Path) -> None:
    """For a RIFF/WAVE file: the ``fmt `` and ``data`` chunks exist and fit in the file.

    Other files (RF64, FLAC, ...) pass unchecked here; libsndfile reads them.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        position = 12
        seen_fmt = False
        for _ in range(MAX_RIFF_CHUNKS):
            handle.seek(position)
            chunk = handle.read(8)
            if len(chunk) < 8:
                break
            kind, length = chunk[:4], struct.unpack("<I", chunk[4:])[0]
            available = size - position - 8
            if kind == b"data":
                if not seen_fmt:
                    raise AudioFileError(f"{path}: WAV 'data' chunk comes before its 'fmt ' chunk")
                if length > available:
                    raise AudioFileError(
                        f"{path}: truncated or lying WAV header: the data chunk claims "
                        f"{length} bytes but the file holds {available} after it"
                    )
                return
            if length > available:
                raise AudioFileError(
                    f"{path}: truncated WAV file: chunk {kind!r} claims {length} bytes "
                    f"but the file holds {available} after it"
                )
            seen_fmt = seen_fmt or kind == b"fmt "
            position += 8 + length + (length & 1)  # chunks are padded to an even length
    raise AudioFileError(f"{path}: not a complete WAV file: no 'data' chunk")


def read_audio_file(path: str | Path, limits: InputLimits | None = None) -> tuple[np.ndarray, int]:
    """``(samples, rate)``: int16 samples shaped (frames, channels), after every check."""
    import soundfile as sf

    limits = limits or _current_limits()
    file = Path(path)
    if not file.is_file():
        raise AudioFileError(f"{file}: no such file")
    try:
        check_riff_wave(file)
        info = sf.info(str(file))
    except OSError as e:
        raise AudioFileError(f"{file}: cannot read: {e.strerror or e}") from e
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        raise AudioFileError(f"{file}: not a readable audio file ({e})") from e
    if not limits.audio_min_rate_hz <= info.samplerate <= limits.audio_max_rate_hz:
        raise AudioFileError(
            f"{file}: sample rate {info.samplerate} Hz is outside "
            f"{limits.audio_min_rate_hz}-{limits.audio_max_rate_hz} Hz (limits "
            f"{setting_name('audio_min_rate_hz')}, {setting_name('audio_max_rate_hz')})"
        )
    if not 1 <= info.channels <= limits.audio_max_channels:
        raise AudioFileError(
            f"{file}: {info.channels} channels, at most {limits.audio_max_channels} "
            f"(limit {setting_name('audio_max_channels')})"
        )
    max_frames = int(limits.audio_max_seconds * info.samplerate)
    if info.frames > max_frames:
        raise AudioFileError(
            f"{file}: {info.frames / info.samplerate:.0f} s of audio, more than "
            f"{limits.audio_max_seconds:g} s (limit {setting_name('audio_max_seconds')})"
        )
    try:
        # frames= bounds the allocation even if the decoder's length was wrong.
        data, rate = sf.read(str(file), frames=max(info.frames, 0), dtype="int16", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as e:
        raise AudioFileError(f"{file}: not a readable audio file ({e})") from e
    return data, int(rate)


def _current_limits() -> InputLimits:
    from robot.config import get_settings

    return get_settings().input_limits
