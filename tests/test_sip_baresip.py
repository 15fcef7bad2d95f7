"""The SIP carrier calls a real baresip on 127.0.0.1: audio both ways, checked by FFT."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sipp.peers import (
    BARESIP,
    baresip_uas,
    dominant_frequency_hz,
    port_is_free,
    tone,
    wait_listening,
)

from robot.audio import AudioChunk
from robot.carriers.base import CallState
from robot.carriers.sip import SipCarrier

pytestmark = pytest.mark.skipif(BARESIP is None, reason="baresip (Debian baresip-core) missing")

ANSWER_HZ = 800
PROMPT_HZ = 1300


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
async def test_audio_both_ways_with_baresip(tmp_path: Path, codec: str) -> None:
    answer = tmp_path / "answer.wav"
    sf.write(str(answer), tone(ANSWER_HZ, 3000), 8000, subtype="PCM_16")
    # baresip offering only A-law in its answer makes us switch to payload type 8
    codecs = "PCMU/8000,PCMA/8000" if codec == "PCMU" else "PCMA/8000"
    with baresip_uas(tmp_path, answer, codecs) as peer:
        await wait_listening(peer.port)
        carrier = SipCarrier.from_url(f"sip://127.0.0.1:{peer.port};local_host=127.0.0.1")
        call = await carrier.dial(f"sip:robot-test@127.0.0.1:{peer.port}", ring_timeout_s=10)
        frames: list[AudioChunk] = []

        async def read_audio() -> None:
            async for chunk in call.audio():
                frames.append(chunk)

        reader = asyncio.create_task(read_audio())
        async with asyncio.timeout(10):
            async for event in call.events():
                if event.kind in ("answered", "failed"):
                    break
        assert call.state is CallState.ANSWERED
        assert call.rtp.payload_type == (0 if codec == "PCMU" else 8)
        await call.play(AudioChunk.from_array(tone(PROMPT_HZ, 2000), 8000))
        async with asyncio.timeout(10):
            await call.playback_done()
        await asyncio.sleep(0.3)  # the tail of the prompt reaches baresip
        await call.hangup()
        await reader
        rtp_port = call.rtp.local_port
        await carrier.close()
        assert port_is_free(rtp_port)
        heard_by_peer = peer.received_audio()
    # what we heard: baresip's answer, 20 ms frames, about as long as the call
    assert all(f.samples == 160 and f.rate == 8000 for f in frames)
    ours = np.concatenate([f.to_array() for f in frames])
    assert 1.5 <= len(ours) / 8000 <= 10.0
    assert np.abs(ours).max() > 5000
    assert abs(dominant_frequency_hz(ours) - ANSWER_HZ) < 15
    # what baresip heard: our prompt, non-silent, at its frequency
    assert len(heard_by_peer) / 8000 >= 2.0
    assert np.sqrt(np.mean(heard_by_peer.astype(np.float64) ** 2)) > 1000
    assert abs(dominant_frequency_hz(heard_by_peer) - PROMPT_HZ) < 15
    assert call.signalling.final_status == 200 and call.signalling.hangup_by == "local"
