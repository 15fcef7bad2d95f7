"""End to end over real SIP: the robot's dialogue calls a baresip that answers like a person.

baresip auto-answers and plays a recorded "hello" (Asterisk's core sounds), then stays
silent and hangs up when its file ends; the call session hears the hello, decides a human
answered and speaks the script's greeting. baresip records what it heard, and the robot's
ASR must find the greeting's words in that recording.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sipp.peers import BARESIP, baresip_uas, wait_listening

from robot.audio import AudioChunk
from robot.carriers.sip import SipCarrier

HELLO = Path("/usr/share/asterisk/sounds/en/hello.wav")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BARESIP is None, reason="baresip (Debian baresip-core) missing"),
    pytest.mark.skipif(not HELLO.exists(), reason="asterisk-core-sounds-en-wav missing"),
]


async def test_robot_dialogue_over_sip_with_baresip(tmp_path: Path) -> None:
    from dialogues.loader import load_script
    from robot.engine import CallEngine

    hello, rate = sf.read(str(HELLO), dtype="int16")
    answer = np.concatenate([np.zeros(rate // 2, "int16"), hello, np.zeros(rate * 18, "int16")])
    sf.write(str(tmp_path / "answer.wav"), answer, rate, subtype="PCM_16")
    scripts = Path(__file__).parent.parent / "dialogues" / "scripts"
    loaded = load_script(scripts / "delivery_confirmation.yaml")
    engine = CallEngine()
    lead = {
        "first_name": "Maria",
        "order_id": "4721",
        "delivery_day": "Friday",
        "address": "12 Elm Street",
    }
    with baresip_uas(tmp_path, tmp_path / "answer.wav") as peer:
        await wait_listening(peer.port)
        carrier = SipCarrier.from_url(f"sip://127.0.0.1:{peer.port};local_host=127.0.0.1")
        try:
            report = await engine.call(
                carrier,
                f"sip:robot-test@127.0.0.1:{peer.port}",
                loaded,
                lead=lead,
                recording_dir=tmp_path / "calls",
            )
        finally:
            await carrier.close()
        heard_by_callee = peer.received_audio()
    assert report.error is None
    assert report.outcome == "human"
    assert report.signalling["final_status"] == 200
    robot_lines = [t.text for t in report.transcript if t.who == "robot"]
    assert any("QuickShip" in line for line in robot_lines)
    callee_lines = [t.text.lower() for t in report.transcript if t.who == "callee"]
    assert any("hello" in line for line in callee_lines)  # the robot's ASR heard baresip
    assert report.signalling["hangup_by"] == "remote"
    # baresip's recording holds the robot's speech, and our ASR understands it
    assert np.sqrt(np.mean(heard_by_callee.astype(np.float64) ** 2)) > 300
    recognizer = engine.registry.recognizer("en")
    text = recognizer.transcribe(AudioChunk(heard_by_callee[: 8000 * 20].tobytes(), 8000)).text
    words = set(text.lower().replace(",", " ").replace(".", " ").split())
    assert {"delivery", "order"} & words, text
