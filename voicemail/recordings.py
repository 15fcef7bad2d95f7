"""Running the answering-machine detector over whole recordings (files, test audio).

The CLI (``callrobot voicemail detect``), the bench and tests feed recordings to a
:class:`~voicemail.detector.VoicemailDetector` in 20 ms frames, as a call would.
"""

from __future__ import annotations

from pathlib import Path

from robot.audio import TELEPHONY_RATE_HZ, AudioChunk
from robot.errors import ValidationError
from voicemail.detector import VoicemailDetector
from voicemail.settings import DetectorSettings, Verdict


def detect_audio(
    audio: AudioChunk, settings: DetectorSettings | None = None, *, frame_ms: int = 20
) -> Verdict:
    """Run a fresh detector over a whole recording, fed in ``frame_ms`` frames."""
    detector = VoicemailDetector(settings)
    return detect_with(detector, audio, frame_ms=frame_ms)


def detect_with(detector: VoicemailDetector, audio: AudioChunk, *, frame_ms: int = 20) -> Verdict:
    """Reset ``detector`` and run it over ``audio`` (reuses loaded engines across files)."""
    detector.reset()
    if audio.rate != TELEPHONY_RATE_HZ:
        audio = audio.resampled(TELEPHONY_RATE_HZ)
    for frame in audio.frames(frame_ms):
        verdict = detector.feed(frame)
        if verdict is not None:
            return verdict
    return detector.finish()


def read_callee_audio(path: str | Path) -> AudioChunk:
    """Read a recording as 8 kHz mono PCM, with a clear error naming the file."""
    from robot.audio import read_wav

    file = Path(path)
    if not file.is_file():
        raise ValidationError(f"{file}: no such file")
    try:
        audio = read_wav(file, TELEPHONY_RATE_HZ)
    except ValidationError:
        raise  # checked on opening: the message already names the file and the problem
    except Exception as e:  # soundfile raises LibsndfileError, RuntimeError, ValueError...
        raise ValidationError(f"{file}: not a readable audio file ({e})") from e
    if audio.samples == 0:
        raise ValidationError(f"{file}: contains no audio samples")
    return audio


def detect_file(path: str | Path, settings: DetectorSettings | None = None) -> Verdict:
    """Detect on one file (see :func:`read_callee_audio` for the errors)."""
    return detect_audio(read_callee_audio(path), settings)
