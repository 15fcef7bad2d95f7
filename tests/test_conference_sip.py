"""A conference of real SIP peers: three headless baresip instances on 127.0.0.1, two on PCMU
and one on PCMA, each playing its own tone and recording what it hears through our RTP."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from sipp.peers import BARESIP, BaresipPeer, baresip_uas, tone, wait_listening

from robot.carriers.base import CallState
from robot.carriers.sip import SipCall, SipCarrier
from robot.control.conference import Conference, MemberOptions

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BARESIP is None, reason="baresip (Debian baresip-core) missing"),
]

PEERS = ((400, "PCMU/8000"), (700, "PCMA/8000"), (1000, "PCMU/8000"))
#: Frames the room mixes with all three in before they hang up (counted, not timed).
MIXED_FRAMES = 150


def band_db(samples: np.ndarray, hz: float) -> float:
    """Peak level within 15 Hz of ``hz`` (Hann window), in dB of a full-scale sine."""
    window = np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * window)) * 2 / window.sum()
    freqs = np.fft.rfftfreq(len(samples), 1 / 8000)
    band = spectrum[(freqs > hz - 15) & (freqs < hz + 15)]
    return float(20 * np.log10(band.max() / 32768 + 1e-12))


async def answered(call: SipCall) -> None:
    async with asyncio.timeout(10):
        async for event in call.events():
            if event.kind in ("answered", "failed", "hangup"):
                break
    assert call.state is CallState.ANSWERED


async def test_three_sip_peers_hear_each_other_and_not_themselves(tmp_path: Path) -> None:
    events: list[tuple[str, dict[str, Any]]] = []
    room = Conference(1, "sip", on_event=lambda kind, data: events.append((kind, data)))
    with contextlib.ExitStack() as stack:
        peers: list[BaresipPeer] = []
        for index, (hz, codecs) in enumerate(PEERS):
            workdir = tmp_path / f"peer{index}"
            workdir.mkdir()
            source = workdir / "tone.wav"
            sf.write(str(source), tone(hz, 20000, level=0.25), 8000, subtype="PCM_16")
            peers.append(stack.enter_context(baresip_uas(workdir, source, codecs)))
        carrier = SipCarrier.from_url(f"sip://127.0.0.1:{peers[0].port};local_host=127.0.0.1")
        calls: list[SipCall] = []
        try:
            for peer in peers:
                await wait_listening(peer.port)
                call = await carrier.dial(f"sip:robot-test@127.0.0.1:{peer.port}")
                await answered(call)
                calls.append(call)
                room.add(call, MemberOptions(beep=False))
                if len(calls) == 2:
                    assert room.relayed  # two SIP legs: RTP relayed, not mixed
            assert not room.relayed
            assert [c.rtp.payload_type for c in calls] == [0, 8, 0]
            start = room.frames
            async with asyncio.timeout(30):
                while room.frames - start < MIXED_FRAMES:
                    await asyncio.sleep(0.1)
            for call in calls:
                await call.hangup()
            await room.ended.wait()
        finally:
            await carrier.close()
        heard = [peer.received_audio() for peer in peers]
    assert [k for k, _ in events].count("participant.left") == 3
    for (hz, _), samples in zip(PEERS, heard, strict=True):
        window = samples[-MIXED_FRAMES * 160 :][: 120 * 160]  # all three in the room
        others = [band_db(window, other) for other, _ in PEERS if other != hz]
        assert min(others) > -30.0, others
        assert max(others) - min(others) < 3.0, others
        assert band_db(window, hz) < min(others) - 35.0, (hz, band_db(window, hz), others)
