"""Signatures, the outbox transaction, dead letters through the API, and ``callrobot crm-sink``."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from models.call import Call
from models.transactions import DatabaseError, session_scope, write_transaction
from models.types import utc_now
from models.webhook import OutboxEvent, WebhookDelivery
from robot.crm.delivery import DeliveryWorker
from robot.crm.outbox import record_call_events
from robot.crm.signing import SignatureError, sign, verify_signature
from robot.crm.sink import EventSink, SinkServer
from robot.dialler.worker import call_end_values
from robot.runner import report_to_result
from robot.session import CallReport

from fixtures.api_harness import ApiHarness
from fixtures.database import VALID_SCRIPT
from fixtures.webhook_receiver import FAST, SECRET, FlakyReceiver, add_endpoint

BODY = b'{"id":"evt_1","type":"call.completed","created_at":"2026-11-26T02:00:00+00:00","data":{}}'


def test_signature_round_trip_and_every_way_it_can_fail() -> None:
    now = 1_800_000_000
    header = sign("s3cret", BODY, now)
    assert header.startswith(f"t={now},v1=")
    assert verify_signature("s3cret", BODY, header, now=now + 10) == now
    # Secret rotation: any one matching v1 value is enough.
    rotated = f"{header},v1={'0' * 64}"
    assert verify_signature("s3cret", BODY, rotated, now=now) == now
    failures = {
        "does not match": ("other", BODY, header, now),
        "does not match ": ("s3cret", BODY + b" ", header, now),
        "away from now": ("s3cret", BODY, header, now + 301),
        "missing": ("s3cret", BODY, None, now),
        "no v1": ("s3cret", BODY, f"t={now}", now),
        "no t=": ("s3cret", BODY, "v1=abc", now),
        "bad timestamp": ("s3cret", BODY, "t=yesterday,v1=abc", now),
    }
    for expected, (secret, body, bad_header, at) in failures.items():
        with pytest.raises(SignatureError, match=expected.strip()):
            verify_signature(secret, body, bad_header, now=at)


def running_call_with_an_endpoint(api: ApiHarness) -> int:
    """A call row of tenant acme (not ended yet), which has a webhook endpoint."""
    add_endpoint(api.engine, "http://127.0.0.1:9/", tenant="acme")
    with session_scope(api.engine) as session:
        call = Call(tenant_id=api.tenants["acme"][0], number="+12025550143")
        session.add(call)
        session.flush()
        assert call.id is not None
        return call.id


def test_outbox_rows_roll_back_with_the_call_state(api: ApiHarness) -> None:
    call_id = running_call_with_an_endpoint(api)
    with pytest.raises(DatabaseError), write_transaction(api.engine) as conn:
        conn.execute(
            Call.__table__.update().values(outcome="human", disposition="qualified", qualified=True)
        )  # type: ignore[attr-defined]
        assert len(record_call_events(conn, call_id)) == 2
        conn.execute(Call.__table__.insert().values(id=call_id))  # type: ignore[attr-defined]  # fails
    with api.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(OutboxEvent)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(WebhookDelivery)).scalar_one() == 0
    with write_transaction(api.engine) as conn:
        conn.execute(
            Call.__table__.update().values(outcome="human", disposition="qualified", qualified=True)
        )  # type: ignore[attr-defined]
        ids = record_call_events(conn, call_id, public_base_url="https://robot.example.com")
    with api.engine.connect() as conn:
        rows = conn.execute(select(OutboxEvent.event_id, OutboxEvent.body)).all()  # type: ignore[call-overload]
    assert [r.event_id for r in rows] == ids
    qualified = json.loads(rows[1].body)
    assert qualified["type"] == "lead.qualified"
    assert qualified["data"]["number"] == "+12025550143"
    assert qualified["data"]["recording_url"] is None


async def test_dead_delivery_is_listed_and_redelivered_through_the_api(api: ApiHarness) -> None:
    flaky = FlakyReceiver()
    flaky.plan = lambda _event_id, _try: "fail" if flaky.failing else "ok"
    flaky.failing = True  # type: ignore[attr-defined]
    server = SinkServer(("127.0.0.1", 0), flaky.sink, flaky.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = api.request(
            "POST", "/v1/webhooks", json={"url": server.url, "secret": SECRET}
        ).json()
        script = api.request(
            "POST", "/v1/scripts", content=VALID_SCRIPT, headers={"Content-Type": "text/yaml"}
        ).json()
        call = api.request(
            "POST", "/v1/calls", json={"number": "+12025550143", "script_id": script["id"]}
        ).json()
        for _ in range(600):
            if api.request("GET", f"/v1/calls/{call['id']}").json()["ended_at"]:
                break
            await asyncio.sleep(0.05)
        settings = FAST.model_copy(update={"retry_for_s": 0.1})
        await asyncio.wait_for(
            DeliveryWorker(api.engine, settings, allow_private=True).run(until_idle=True), 60
        )
        url = f"/v1/webhooks/{endpoint['id']}/deliveries"
        dead = api.request("GET", url, params={"status": "dead"}).json()["items"]
        assert [d["event_type"] for d in dead] == [
            "call.completed",
            "recording.ready",
            "lead.qualified",
        ]
        assert all(d["last_error"] == "HTTP 500" for d in dead)
        detail = api.request("GET", f"/v1/webhooks/deliveries/{dead[2]['id']}").json()
        assert detail["body"]["data"]["answers"] == {"consent": True, "interest": "solar"}
        assert detail["body"]["data"]["consent"] is True
        assert detail["attempt_log"][0]["status_code"] == 500
        flaky.failing = False  # type: ignore[attr-defined]
        for delivery in dead:
            again = api.request("POST", f"/v1/webhooks/deliveries/{delivery['id']}/redeliver")
            assert again.status_code == 202
            assert again.json()["status"] == "pending"
        await asyncio.wait_for(
            DeliveryWorker(api.engine, FAST, allow_private=True).run(until_idle=True), 60
        )
        assert [flaky.events[e]["type"] for e in flaky.accepted] == [d["event_type"] for d in dead]
        assert api.request("GET", url, params={"status": "dead"}).json()["items"] == []
    finally:
        server.shutdown()
        server.server_close()


def test_crm_sink_command_prints_verified_events_once(tmp_path: Path) -> None:
    executable = Path(sys.executable).parent / "callrobot"
    command = [str(executable), "crm-sink", "--secret", SECRET, "--port", "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [*command, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stderr is not None and process.stdout is not None
        line = process.stderr.readline()
        assert line.startswith("listening on http://127.0.0.1:"), line
        url = line.split()[-1]
        body = json.dumps({"id": "evt_a", "type": "call.completed", "data": {"x": 1}}).encode()
        headers = {"Callrobot-Event-Id": "evt_a", "Content-Type": "application/json"}
        signed = {**headers, "Callrobot-Signature": sign(SECRET, body)}
        assert httpx.post(url, content=body, headers=signed).status_code == 200
        assert httpx.post(url, content=body, headers=signed).json() == {"status": "duplicate"}
        forged = {**headers, "Callrobot-Signature": sign("wrong", body)}
        assert httpx.post(url, content=body, headers=forged).status_code == 401
        stale = {**headers, "Callrobot-Signature": sign(SECRET, body, int(time.time()) - 600)}
        assert httpx.post(url, content=body, headers=stale).status_code == 401
        process.terminate()
        out, _ = process.communicate(timeout=10)
        events = [json.loads(x) for x in out.splitlines() if x.strip()]
        assert events == [{"id": "evt_a", "type": "call.completed", "data": {"x": 1}}]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_request_cut_off_mid_body_is_incomplete_not_a_bad_signature() -> None:
    """A sender killed while sending leaves a short body: not an event, not a forgery."""
    sink = EventSink(SECRET)
    server = SinkServer(("127.0.0.1", 0), sink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    body = b'{"id": "evt_cut", "type": "call.completed"}'
    head = (
        f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\ncallrobot-signature: {sign(SECRET, body)}\r\n\r\n"
    ).encode()
    try:
        with socket.create_connection(server.server_address[:2], timeout=10) as peer:
            peer.sendall(head + body[:10])
            peer.shutdown(socket.SHUT_WR)
            assert peer.recv(1024) == b""  # no answer: the request never completed
        deadline = time.monotonic() + 30
        while sink.incomplete == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (sink.incomplete, sink.rejected, sink.seen) == (1, 0, set())
        # The whole request still gets through afterwards.
        whole = httpx.post(
            f"http://127.0.0.1:{server.server_address[1]}/",
            content=body,
            headers={"callrobot-signature": sign(SECRET, body)},
        )
        assert whole.status_code == 200 and sink.seen == {"evt_cut"}
    finally:
        server.shutdown()
        server.server_close()


def test_event_sink_rejects_mismatched_event_id_header() -> None:
    sink = EventSink(SECRET)
    body = b'{"id": "evt_b"}'
    headers = {"callrobot-signature": sign(SECRET, body), "callrobot-event-id": "evt_c"}
    assert sink.accept(body, headers)[0] == 400
    assert sink.seen == set()


@pytest.mark.parametrize(
    ("disposition", "qualified_dispositions", "qualified"),
    [
        ("transferred", ("qualified", "transferred"), True),
        ("transferred", ("qualified",), False),
        ("qualified", ("qualified",), True),
        ("not_interested", ("qualified", "transferred"), False),
    ],
)
def test_the_script_names_the_dispositions_that_make_a_qualified_lead(
    api: ApiHarness, disposition: str, qualified_dispositions: tuple[str, ...], qualified: bool
) -> None:
    call_id = running_call_with_an_endpoint(api)
    report = CallReport(call_id="sim-1", outcome="human", disposition=disposition, answered_ms=900)
    result = report_to_result(report, utc_now(), qualified_dispositions)
    with write_transaction(api.engine) as conn:
        conn.execute(
            Call.__table__.update()  # type: ignore[attr-defined]
            .where(Call.__table__.c.id == call_id)  # type: ignore[attr-defined]
            .values(**call_end_values(result, utc_now()))
        )
        record_call_events(conn, call_id)
    with api.engine.connect() as conn:
        types = set(conn.execute(select(OutboxEvent.type)).scalars())  # type: ignore[call-overload]
        stored = conn.execute(select(Call.qualified)).scalar_one()  # type: ignore[call-overload]
    assert stored is qualified
    assert ("lead.qualified" in types) is qualified
    assert "call.completed" in types
