"""Call-progress tones a caller hears from us: ringback while a dialled party rings.

The ringback is the North American one (ITU-T E.180): 440 Hz + 480 Hz, 2 s on, 4 s off.
"""

from __future__ import annotations

import numpy as np

from robot.audio import TELEPHONY_RATE_HZ, AudioChunk, silence

RINGBACK_HZ = (440.0, 480.0)
RINGBACK_ON_MS = 2000
RINGBACK_OFF_MS = 4000
#: Each tone's level (peak, as a fraction of full scale): about -19 dBm0 together.
RINGBACK_LEVEL = 0.1


def ringback_cadence() -> tuple[AudioChunk, AudioChunk]:
    """(tone, pause) of one ringback cycle, 8 kHz 16-bit PCM."""
    t = np.arange(TELEPHONY_RATE_HZ * RINGBACK_ON_MS // 1000) / TELEPHONY_RATE_HZ
    wave = sum(np.sin(2 * np.pi * hz * t) for hz in RINGBACK_HZ) * RINGBACK_LEVEL * 32767
    tone = AudioChunk(np.asarray(wave).astype("<i2").tobytes(), TELEPHONY_RATE_HZ)
    return tone, silence(RINGBACK_OFF_MS)
