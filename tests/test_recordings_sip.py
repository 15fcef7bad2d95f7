"""A bridged call between two real SIP peers, recorded in two channels.

Two headless baresip instances on 127.0.0.1 play their own tone (A 400 Hz, B 1000 Hz). The
robot calls A (the caller's leg, as a callback does), then runs ``dial`` to B with
``record: {channels: 2}``: the WAV file in the recordings folder must hold A's tone on the
left and B's on the right, each channel with the other party's tone at least 20 dB lower;
its row and its ``recording.completed`` event (the caller leg's next ``seq``) must describe
that file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from sipp.peers import BARESIP, baresip_uas, tone, wait_listening
from sqlmodel import Session, select

from models.recording import Recording
from models.webhook import OutboxEvent
from robot.carriers.sip import SipCarrier
from robot.config import Settings
from robot.control.actions import Dial
from robot.control.events import CallEvents
from robot.control.runner import ActionRunner, Leg
from robot.dialler.campaigns import get_or_create_tenant
from robot.recording_files import resolve_stored
from tests.fakes import ToneTts

from fixtures.database import open_fresh_database

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(BARESIP is None, reason="baresip (Debian baresip-core) missing"),
]

A_HZ, B_HZ = 400, 1000


def band_db(samples: np.ndarray, hz: float) -> float:
    """Peak level within 15 Hz of ``hz`` (Hann window), in dB of a full-scale sine."""
    window = np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * window)) * 2 / window.sum()
    freqs = np.fft.rfftfreq(len(samples), 1 / 8000)
    band = spectrum[(freqs > hz - 15) & (freqs < hz + 15)]
    return float(20 * np.log10(band.max() / 32768 + 1e-12))


async def test_a_bridged_sip_call_is_recorded_caller_left_callee_right(
    tmp_path: Path, isolated_settings: Settings
) -> None:
    db = next(iter(open_fresh_database("sqlite", tmp_path)))
    tenant_id = get_or_create_tenant(db.engine, "acme")
    with contextlib.ExitStack() as stack:
        peers = []
        for name, hz in (("a", A_HZ), ("b", B_HZ)):
            workdir = tmp_path / name
            workdir.mkdir()
            source = workdir / "tone.wav"
            sf.write(str(source), tone(hz, 30000, level=0.25), 8000, subtype="PCM_16")
            peers.append(stack.enter_context(baresip_uas(workdir, source, "PCMU/8000")))
        a, b = peers
        carrier = SipCarrier.from_url(f"sip://127.0.0.1:{a.port};local_host=127.0.0.1")
        events = CallEvents(db.engine, tenant_id, "call:bridge-test")
        try:
            await wait_listening(a.port)
            await wait_listening(b.port)
            call = await carrier.dial(f"sip:robot-test@127.0.0.1:{a.port}")
            leg = Leg(call, events.leg(direction="outbound", to="A"))
            async with asyncio.timeout(15):
                await leg.answered.wait()
            runner = ActionRunner(call, ToneTts(), carrier=carrier, leg=leg)
            dial = Dial.model_validate(
                {
                    "targets": [f"sip:robot-test@127.0.0.1:{b.port}"],
                    "time_limit_s": 3,
                    "record": {"channels": 2},
                }
            )
            result = await runner.dial(dial)
            await leg.hangup()
            await leg.close()
        finally:
            await events.close()
            await carrier.close()
    assert result.bridged_target == 0, result

    with Session(db.engine) as session:
        (row,) = session.exec(select(Recording)).all()
        outbox = session.exec(
            select(OutboxEvent).order_by(OutboxEvent.id)  # type: ignore[arg-type]
        ).all()
        bodies = [(e.type, json.loads(e.body)["data"]) for e in outbox]
    assert (row.source, row.channels, row.sample_rate, row.tenant_id) == (
        "dial",
        2,
        8000,
        tenant_id,
    )
    assert not Path(row.path).is_absolute()
    path = resolve_stored(isolated_settings.recordings_root(), row.path)
    content = path.read_bytes()
    assert row.sha256 == hashlib.sha256(content).hexdigest() and row.size_bytes == len(content)

    data, rate = sf.read(str(path), dtype="int16")
    assert rate == 8000 and data.shape[1] == 2
    assert abs(row.duration_ms - 1000 * len(data) / 8000) <= 1
    assert len(data) >= 8000, "the bridge was recorded for less than a second"
    middle = data[len(data) // 4 : 3 * len(data) // 4]
    left, right = middle[:, 0], middle[:, 1]
    assert band_db(left, A_HZ) > -30.0 and band_db(right, B_HZ) > -30.0
    assert band_db(left, B_HZ) < band_db(left, A_HZ) - 20.0, "B leaks into A's channel"
    assert band_db(right, A_HZ) < band_db(right, B_HZ) - 20.0, "A leaks into B's channel"

    # The caller leg's events: bridged, then the recording, then the dial's end, in seq order.
    caller_id = row.call_id
    mine = [(kind, d) for kind, d in bodies if d.get("call_id") == caller_id]
    kinds = [kind for kind, _ in mine]
    assert kinds.index("call.bridged") < kinds.index("recording.completed")
    assert kinds.index("recording.completed") < kinds.index("dial.completed")
    assert [d["seq"] for _, d in mine] == list(range(1, len(mine) + 1))
    completed = next(d for kind, d in mine if kind == "recording.completed")
    assert completed["recording_id"] == row.id and completed["sha256"] == row.sha256
    assert completed["recording_url"] == f"/v1/recordings/{row.id}/media"
    assert (completed["channels"], completed["source"]) == (2, "dial")
