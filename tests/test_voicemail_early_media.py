"""Early-media announcements (SIT, carrier phrases) and waiting for the beep."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from robot.audio import AudioChunk, read_wav, silence
from robot.carriers.base import CallOutcome
from voicemail.devset_audio import tone
from voicemail.early_media import BeepWaiter, EarlyMediaDetector
from voicemail.phrases import PocketsphinxPhraseSpotter

SOUNDS = Path("/usr/share/asterisk/sounds/en")


def join(*parts: AudioChunk | np.ndarray) -> AudioChunk:
    return AudioChunk(
        b"".join(
            p.pcm if isinstance(p, AudioChunk) else AudioChunk.from_array(p, 8000).pcm
            for p in parts
        ),
        8000,
    )


def feed_all(listener: EarlyMediaDetector | BeepWaiter, audio: AudioChunk) -> Any:
    for frame in audio.frames(20):
        result = listener.feed(frame)
        if result is not None:
            return result
    return None


@pytest.mark.parametrize(
    ("tones_hz", "lengths_s", "name", "outcome"),
    [
        ((913.8, 1370.6, 1776.7), (0.276, 0.276, 0.38), "intercept", CallOutcome.INVALID_NUMBER),
        ((985.2, 1370.6, 1776.7), (0.38, 0.276, 0.38), "vacant code", CallOutcome.INVALID_NUMBER),
        ((913.8, 1428.5, 1776.7), (0.276, 0.38, 0.38), "reorder", CallOutcome.NETWORK_ERROR),
        ((985.2, 1428.5, 1776.7), (0.38, 0.38, 0.38), "no circuit", CallOutcome.NETWORK_ERROR),
    ],
)
def test_sit_in_early_media_names_its_kind(
    tones_hz: tuple[float, ...], lengths_s: tuple[float, ...], name: str, outcome: CallOutcome
) -> None:
    sit = [tone(f, d, 0.25) for f, d in zip(tones_hz, lengths_s, strict=True)]
    audio = join(silence(300), *sit, read_wav(SOUNDS / "ss-noservice.wav", 8000))
    found = feed_all(EarlyMediaDetector(), audio)
    assert found is not None
    assert found.reason == f"SIT tone ({name})"
    assert found.outcome == outcome


def test_carrier_phrase_in_early_media_without_sit() -> None:
    detector = EarlyMediaDetector(PocketsphinxPhraseSpotter())
    found = feed_all(detector, join(silence(200), read_wav(SOUNDS / "ss-noservice.wav", 8000)))
    assert found is not None
    assert found.reason == 'phrase "the number you have dialed"'
    assert found.outcome == CallOutcome.INVALID_NUMBER


def test_ringback_is_not_an_announcement() -> None:
    # North American ringback: 440 + 480 Hz, 2 s on, 4 s off (two tones: never "pure").
    t = np.arange(16000) / 8000
    ring = (0.15 * np.sin(2 * np.pi * 440 * t) + 0.15 * np.sin(2 * np.pi * 480 * t)).astype(
        np.float32
    )
    assert feed_all(EarlyMediaDetector(), join(ring, silence(4000), ring)) is None


def test_beep_waiter_fires_when_the_beep_ends() -> None:
    greeting = read_wav(SOUNDS / "vm-nobodyavail.wav", 8000)
    audio = join(greeting, silence(400), tone(1000, 0.5), silence(2000))
    waiter = BeepWaiter()
    at_ms = feed_all(waiter, audio)
    beep_end_ms = greeting.duration_ms + 400 + 500
    assert at_ms is not None and beep_end_ms <= at_ms < beep_end_ms + 200
    assert waiter.reason is not None and waiter.reason.startswith("beep 1000 Hz")


def test_beep_waiter_gives_up_after_quiet_greeting_end() -> None:
    greeting = read_wav(SOUNDS / "vm-nobodyavail.wav", 8000)
    waiter = BeepWaiter(quiet_ms=1500)
    at_ms = feed_all(waiter, join(greeting, silence(3000)))
    assert at_ms is not None
    assert greeting.duration_ms + 1300 < at_ms < greeting.duration_ms + 1900
    assert waiter.reason == "no beep; quiet for 1.5 s"


def test_cannot_complete_announcement_means_invalid_number() -> None:
    detector = EarlyMediaDetector(PocketsphinxPhraseSpotter())
    found = feed_all(detector, read_wav(SOUNDS / "cannot-complete-as-dialed.wav", 8000))
    assert found is not None
    assert "cannot be completed" in found.reason
    assert found.outcome == CallOutcome.INVALID_NUMBER
