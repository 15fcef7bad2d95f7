"""``POST /v1/calls`` with ``actions``: the call is dialled on the simulated network from one of
the tenant's numbers, its actions run once answered, its row gets the end, its events reach
the tenant's endpoint and its ``status_callback`` (real receivers on 127.0.0.1); invalid
requests name the action's index and field; tenants and quotas hold."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from models.call import Call
from models.number import PhoneNumber
from models.transactions import session_scope
from robot.carriers.personas import Persona
from robot.carriers.sim import SimCall, SimCarrier
from robot.config import Settings, override_settings
from robot.control.service import CallControl
from robot.crm.delivery import DeliveryWorker
from tests.fakes import ToneTts

from fixtures.api_harness import ApiHarness, open_api
from fixtures.database import BACKENDS, open_fresh_database
from fixtures.routing_receiver import RoutingReceiver, serve_routing
from fixtures.webhook_receiver import FAST, FlakyReceiver, add_endpoint, serve_receiver

ROUTING_SECRET = "rtsec_test_secret_0123456789"
ALICE, BUSY, SUPPORT, OTHER = "+12025550170", "+12025550171", "+12025550100", "+12025550109"
ACTIONS = [
    {"say": {"text": "Your order has shipped. Press 1 to hear it again."}},
    {"gather": {"max_digits": 1, "timeout_s": 20}},
    {"hangup": {}},
]
#: Longest wait for a call to end (a guard against a hang; nothing is timed).
GUARD_S = 60.0


class RecordingCarrier(SimCarrier):
    """The sim carrier, keeping what each dial asked for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.dials: list[tuple[str, str | None]] = []

    async def dial(self, number: str, **options: Any) -> SimCall:
        self.dials.append((number, options.get("caller_id")))
        return await super().dial(number, **options)


def persona(number: str, **fields: Any) -> Persona:
    base = {"name": f"p{number[-2:]}", "numbers": [number], "kind": "human", "hello": None}
    return Persona.model_validate(base | {"ring_ms": 100, "answer_delay_ms": 0} | fields)


@pytest.fixture(params=BACKENDS)
def api(
    request: pytest.FixtureRequest, tmp_path: Path, isolated_settings: Settings
) -> Iterator[ApiHarness]:
    carrier = RecordingCarrier(
        [persona(ALICE, lines=[{"dtmf": "1", "think_ms": 100}]), persona(BUSY, kind="busy")],
        prompt_end_silence_ms=300,
    )
    quotas = isolated_settings.quotas.model_copy(update={"max_queued_calls": 2})
    # The receivers here listen on 127.0.0.1 (the routing client reads the process's settings).
    settings = isolated_settings.model_copy(
        update={"quotas": quotas, "webhooks_allow_private": True}
    )
    override_settings(settings)
    for db in open_fresh_database(request.param, tmp_path):
        control = CallControl(
            db.engine, carrier, ToneTts(), recording_dir=settings.recordings_root()
        )
        for harness in open_api(db.engine, settings, call_control=control):
            for tenant, number in (("acme", SUPPORT), ("globex", OTHER)):
                with session_scope(db.engine) as session:
                    session.add(
                        PhoneNumber(
                            tenant_id=harness.tenants[tenant][0],
                            number=number,
                            routing_secret=ROUTING_SECRET,
                        )
                    )
            yield harness


def carrier_of(api: ApiHarness) -> RecordingCarrier:
    control: CallControl = api.client.app.state.call_control  # type: ignore[attr-defined]
    assert isinstance(control.carrier, RecordingCarrier)
    return control.carrier


def wait_ended(api: ApiHarness, url: str, tenant: str = "acme") -> dict[str, Any]:
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        body: dict[str, Any] = api.request("GET", url, tenant).json()
        if body["ended_at"] is not None:
            return body
        time.sleep(0.05)
    raise AssertionError(f"call {url} did not end in {GUARD_S} s")


def deliver(api: ApiHarness) -> None:
    worker = DeliveryWorker(api.engine, FAST, allow_private=True)
    asyncio.run(asyncio.wait_for(worker.run(until_idle=True), GUARD_S))


def test_a_call_runs_its_actions_and_reports_to_its_status_callback(api: ApiHarness) -> None:
    status = FlakyReceiver(secret=ROUTING_SECRET)
    crm = FlakyReceiver()
    with serve_receiver(status) as status_url, serve_receiver(crm) as crm_url:
        add_endpoint(api.engine, crm_url)
        request = {
            "number": ALICE,
            "actions": ACTIONS,
            "caller_id": SUPPORT,
            "status_callback": status_url,
            "ring_timeout": 20,
        }
        accepted = api.request("POST", "/v1/calls", json=request)
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        leg_id = body["call_id"]
        assert leg_id.startswith("call_") and body["url"] == f"/v1/calls/{body['id']}"
        detail = wait_ended(api, body["url"])
        deliver(api)

    assert carrier_of(api).dials == [(ALICE, SUPPORT)]
    assert detail["outcome"] == "completed" and detail["answered_at"] is not None
    assert detail["duration_ms"] > 0 and detail["error"] is None
    assert (detail["signalling"]["final_status"], detail["signalling"]["hangup_by"]) == (
        200,
        "local",
    )
    timeline = [e["type"] for e in detail["events"] if e["event_id"]]
    assert timeline == [
        "call.initiated",
        "call.ringing",
        "call.answered",
        "dtmf.received",
        "call.completed",
    ]
    # The tenant's endpoint gets every event (no second, campaign-shaped call.completed).
    crm_events = [crm.events[event_id] for event_id in crm.accepted]
    assert [e["type"] for e in crm_events] == timeline
    assert crm_events[3]["data"]["digit"] == "1"
    # The status callback gets the progress events, signed with the caller id's routing secret.
    received = [status.events[event_id] for event_id in status.accepted]
    assert status.sink.rejected == 0
    assert [e["type"] for e in received] == [
        "call.initiated",
        "call.ringing",
        "call.answered",
        "call.completed",
    ]
    data = [e["data"] for e in received]
    assert [d["seq"] for d in data] == [1, 2, 3, 5]
    assert all(
        (d["call_id"], d["direction"], d["from"], d["to"]) == (leg_id, "outbound", SUPPORT, ALICE)
        for d in data
    )
    assert (data[-1]["outcome"], data[-1]["hangup_by"]) == ("completed", "local")
    # Another tenant sees nothing of it.
    assert api.request("GET", body["url"], tenant="globex").status_code == 404
    assert api.request("GET", "/v1/calls", tenant="globex").json()["items"] == []
    assert api.request("GET", "/v1/webhooks").json()["items"][0]["url"] == crm_url


def test_a_redirect_asks_the_caller_ids_routing_url_style_signed(api: ApiHarness) -> None:
    menu = {"actions": [{"gather": {"max_digits": 1, "timeout_s": 20}}, {"hangup": {}}]}
    routing = RoutingReceiver(ROUTING_SECRET, plan=[menu])
    with serve_routing(routing) as url:
        request = {
            "number": ALICE,
            "caller_id": SUPPORT,
            "actions": [{"say": {"text": "One moment"}}, {"redirect": {"url": url}}],
        }
        accepted = api.request("POST", "/v1/calls", json=request)
        assert accepted.status_code == 202, accepted.text
        detail = wait_ended(api, accepted.json()["url"])
    # The request was signed with the caller id's routing secret (the receiver checks it).
    (asked,) = routing.requests
    assert asked["type"] == "call.redirect"
    data = asked["data"]
    assert (data["call_id"], data["from"], data["to"]) == (
        accepted.json()["call_id"],
        SUPPORT,
        ALICE,
    )
    assert detail["outcome"] == "completed"
    # The redirected list ran: the key pressed reached its gather.
    types = [e["type"] for e in detail["events"] if e["event_id"]]
    assert "dtmf.received" in types and "redirect.failed" not in types


def test_a_busy_number_ends_the_call_without_running_actions(api: ApiHarness) -> None:
    accepted = api.request("POST", "/v1/calls", json={"number": BUSY, "actions": ACTIONS})
    assert accepted.status_code == 202, accepted.text
    detail = wait_ended(api, accepted.json()["url"])
    assert (detail["outcome"], detail["answered_at"]) == ("busy", None)
    assert (detail["q850"], detail["signalling"]["final_status"]) == (17, 486)
    assert carrier_of(api).dials == [(BUSY, None)]
    types = [e["type"] for e in detail["events"] if e["event_id"]]
    assert types[0] == "call.initiated" and types[-1] == "call.completed"
    assert "call.answered" not in types


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        (
            {"actions": [{"say": {"text": "Hi"}}, {"gather": {"timeout_s": 0}}]},
            "actions[1].gather.timeout_s",
        ),
        ({"actions": [{"sing": {}}]}, "actions[0]: unknown action 'sing'"),
        ({"actions": []}, "actions: give at least one action"),
        (
            {"actions": [{"redirect": {"url": "https://crm.example.com/next"}}]},
            "actions[0]: redirect needs",
        ),
        ({"actions": [{"conference": {"name": "room"}}]}, "actions[0]: conference"),
        ({"caller_id": OTHER}, "caller_id: not one of your numbers"),
        ({"caller_id": "12345"}, "caller_id: not an E.164 number"),
        ({"status_callback": "https://crm.example.com/status"}, "status_callback: needs caller_id"),
        (
            {"status_callback": "ftp://crm.example.com/s", "caller_id": SUPPORT},
            "status_callback: only http",
        ),
        (
            {
                "status_callback": "https://crm.example.com/s",
                "caller_id": SUPPORT,
                "events": ["call.ringing", "call.bogus"],
            },
            "events[1]: unknown event",
        ),
        ({"script_id": 1}, "actions: give script_id or actions, not both"),
        ({"ring_timeout_s": 0}, "ring_timeout_s"),
    ],
)
def test_invalid_requests_name_the_action_and_field(
    api: ApiHarness, change: dict[str, Any], detail: str
) -> None:
    answer = api.request("POST", "/v1/calls", json={"number": ALICE, "actions": ACTIONS} | change)
    assert answer.status_code == 422, answer.text
    assert detail in answer.json()["detail"]
    assert carrier_of(api).dials == []
    assert api.request("GET", "/v1/calls").json()["items"] == []


def test_queued_calls_quota_holds_for_action_calls(api: ApiHarness) -> None:
    tenant_id = api.tenants["acme"][0]
    with session_scope(api.engine) as session:  # calls placed and not ended yet
        for _ in range(api.settings.quotas.max_queued_calls):
            session.add(Call(tenant_id=tenant_id, number=BUSY, worker="api"))
    answer = api.request("POST", "/v1/calls", json={"number": ALICE, "actions": ACTIONS})
    assert answer.status_code == 409, answer.text
    assert "max_queued_calls" in answer.json()["detail"]
    assert carrier_of(api).dials == []
    # Another tenant's calls do not count against this one.
    other = api.request(
        "POST", "/v1/calls", tenant="globex", json={"number": BUSY, "actions": ACTIONS}
    )
    assert other.status_code == 202, other.text
    assert wait_ended(api, other.json()["url"], "globex")["outcome"] == "busy"


def test_play_media_id_must_name_the_tenants_own_upload(api: ApiHarness) -> None:
    from tests.test_api_media import WAV, wav_bytes

    mine = api.request("POST", "/v1/media", content=wav_bytes(), headers=WAV).json()["id"]
    theirs = api.request(
        "POST", "/v1/media", tenant="globex", content=wav_bytes(), headers=WAV
    ).json()["id"]
    for wanted in (theirs, "med_" + "0" * 24):
        actions = [{"play": {"media_id": mine}}, {"play": {"media_id": wanted}}]
        answer = api.request("POST", "/v1/calls", json={"number": ALICE, "actions": actions})
        assert answer.status_code == 422, answer.text
        detail = answer.json()["detail"]
        assert f"actions[1].play.media_id: no uploaded media '{wanted}'" in detail
        assert "actions[0]" not in detail
    assert carrier_of(api).dials == []
    actions = [{"play": {"media_id": mine}}, {"hangup": {}}]
    accepted = api.request("POST", "/v1/calls", json={"number": ALICE, "actions": actions})
    assert accepted.status_code == 202, accepted.text
    detail = wait_ended(api, accepted.json()["url"])
    assert detail["outcome"] == "completed" and detail["error"] is None
    (alice,) = carrier_of(api).calls  # the one call placed
    heard = alice.heard_robot_audio.to_array()
    assert (abs(heard) > 1000).sum() >= 8000 * 0.4  # the 0.5 s upload reached the callee
