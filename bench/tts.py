"""TTS speed: real-time factor and time to first audio for Piper and espeak-ng.

Time to first audio (TTFA) is how long ``stream()`` takes to yield its first sentence, which
is what a caller waits for before the robot starts talking. RTF is synthesis time / audio
time for the whole text. Engines are loaded (and warmed up) before timing.

Prints one JSON line: {"texts", "engines": {name: {"rtf", "ttfa_ms_p50", "ttfa_ms_max",
"audio_s", "synth_s"}}}.
"""

from __future__ import annotations

import json
import statistics
import time

from robot.speech.base import Synthesizer
from robot.speech.espeak import EspeakSynthesizer
from robot.speech.piper import PiperSynthesizer

TEXTS = [
    "Hello, this is Anna from Bright Energy. Do you have a minute to talk?",
    "Great. I am calling about the solar panel offer you asked about last week. "
    "Are you still interested in a free assessment?",
    "No problem at all. When would be a better time to call you back?",
    "Thank you for your time. Have a wonderful day. Goodbye!",
    "Could you tell me your postcode, please?",
]


def measure(synthesizer: Synthesizer) -> dict[str, float]:
    synthesizer.synthesize("Warm up.")
    ttfa_ms: list[float] = []
    audio_s = synth_s = 0.0
    for text in TEXTS:
        started = time.perf_counter()
        first: float | None = None
        for chunk in synthesizer.stream(text):
            if first is None:
                first = time.perf_counter() - started
            audio_s += chunk.duration_ms / 1000.0
        synth_s += time.perf_counter() - started
        ttfa_ms.append(1000.0 * (first or 0.0))
    return {
        "rtf": round(synth_s / audio_s, 4),
        "ttfa_ms_p50": round(statistics.median(ttfa_ms), 1),
        "ttfa_ms_max": round(max(ttfa_ms), 1),
        "audio_s": round(audio_s, 2),
        "synth_s": round(synth_s, 2),
    }


def main() -> None:
    engines: dict[str, Synthesizer] = {
        "piper (joe-us medium)": PiperSynthesizer(),
        "espeak-ng (en-us)": EspeakSynthesizer("en-us"),
    }
    print(json.dumps({"texts": len(TEXTS), "engines": {n: measure(s) for n, s in engines.items()}}))


if __name__ == "__main__":
    main()
