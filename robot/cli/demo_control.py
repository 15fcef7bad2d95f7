"""``callrobot demo --call-control``: a masked call and a callback on the simulated network.

Through the real product path: a SQLite database under the data directory holds the tenant's
proxy numbers, a masking session and the callback; :class:`~robot.control.service.CallControl`
takes the rider's call to its proxy number and bridges it to the driver (neither sees the
other's number), then places a callback (the agent first, an announcement, ringback, the
customer with a whisper and a key to accept, the bridge). Every leg's events are delivered
as signed webhooks to a local receiver that verifies them, and printed in order.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from datetime import UTC, datetime
from typing import Any

from robot.carriers.personas import Persona

RIDER, DRIVER = "+12025550141", "+12025550142"
AGENT, CUSTOMER = "+12025550151", "+12025550152"
PROXIES = ("+12025550181", "+12025550182")
SHOWN_TO_AGENT, SHOWN_TO_CUSTOMER = "+12025550100", "+12025550101"


def demo_personas() -> list[Persona]:
    """Who takes part: a rider and a driver (masked), an agent and a customer (callback)."""
    people: list[dict[str, Any]] = [
        {
            "name": "rider",
            "numbers": [RIDER],
            "hello": None,
            "lines": [{"say": "Hi, I am at the front door.", "hangup_after": True}],
        },
        # Picks up quickly: the rider answers what it hears once the ringback gives way.
        {
            "name": "driver",
            "numbers": [DRIVER],
            "hello": "Hello, this is your driver.",
            "ring_ms": 300,
        },
        {
            "name": "agent",
            "numbers": [AGENT],
            "hello": None,
            "noise": {"color": "pink", "snr_db": 25},
        },
        {
            "name": "customer",
            "numbers": [CUSTOMER],
            "hello": "Hello?",
            "lines": [
                {"dtmf": "1", "think_ms": 300},
                {
                    "say": "Thanks for calling back.",
                    "interrupt_after_ms": 1500,
                    "hangup_after": True,
                },
            ],
        },
    ]
    common = {"kind": "human", "ring_ms": 1500, "answer_delay_ms": 200}
    return [Persona.model_validate(common | person) for person in people]


async def run_call_control_demo(speed: float = 1.0) -> list[dict[str, Any]]:
    """Run both scenes; return the events the receiver accepted, in arrival order."""
    import httpx

    from models.callback import Callback
    from models.db import make_engine, upgrade
    from models.number import PhoneNumber
    from models.transactions import session_scope
    from models.webhook import WebhookEndpoint
    from robot.carriers.sim import SimCarrier
    from robot.config import get_settings
    from robot.control.masking import add_participant, create_session
    from robot.control.routing import RoutingClient
    from robot.control.service import CallControl, RegistryVoice
    from robot.crm.delivery import DeliveryWorker
    from robot.crm.sink import EventSink, SinkServer
    from robot.dialler import get_or_create_tenant

    data_dir = get_settings().data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    db = make_engine(f"sqlite:///{data_dir / f'demo-call-control-{stamp}.db'}")
    upgrade(db)
    events: list[dict[str, Any]] = []
    secret = secrets.token_hex(16)
    server = SinkServer(("127.0.0.1", 0), EventSink(secret=secret, on_event=events.append))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    tenant_id = get_or_create_tenant(db, "demo")
    with session_scope(db) as session:
        session.add(WebhookEndpoint(tenant_id=tenant_id, url=server.url, secret=secret))
        for number in PROXIES:
            session.add(
                PhoneNumber(
                    tenant_id=tenant_id,
                    number=number,
                    routing_secret=secrets.token_hex(16),
                    tags=["proxy"],
                )
            )
        session.flush()
        masking = create_session(session, tenant_id, "ride-42", 3600)
        assert masking.id is not None
        rider = add_participant(session, tenant_id, masking.id, RIDER)
        add_participant(session, tenant_id, masking.id, DRIVER)
        rider_proxy = rider.proxy_number
        order = Callback(
            tenant_id=tenant_id,
            a=AGENT,
            b=CUSTOMER,
            caller_id_a=SHOWN_TO_AGENT,
            caller_id_b=SHOWN_TO_CUSTOMER,
            announce_a="Calling your customer back now.",
            whisper_b="This is Acme returning your call. Press one to talk to us.",
            confirm_digit="1",
            ring_timeout_s=20,
        )
        session.add(order)
        session.flush()
        order = Callback.model_validate(order.model_dump())
    carrier = SimCarrier(demo_personas(), speed=speed)
    try:
        async with httpx.AsyncClient() as client:
            router = RoutingClient(db, client, allow_private=True)
            control = CallControl(db, carrier, RegistryVoice(), router=router)
            control.ring_in(RIDER, rider_proxy)
            await control.wait_idle()
            control.start_callback(order)
            await control.wait_idle()
            await control.close()
        await asyncio.wait_for(DeliveryWorker(db, allow_private=True).run(until_idle=True), 60)
    finally:
        server.shutdown()
        server.server_close()
        db.dispose()
    return events


def event_line(event: dict[str, Any]) -> str:
    """One event as a line: type, the leg and its seq, and what it says."""
    data = event.get("data", {})
    leg = data.get("leg") or data.get("direction", "")
    where = f"callback {data['callback_id']}" if "callback_id" in data else "masked call"
    details = [
        f"{key}={data[key]}"
        for key in ("outcome", "outcome_b", "digit", "hangup_by", "bridged_target")
        if data.get(key) is not None
    ]
    if event.get("type") == "dial.completed":
        details.append("targets=" + ",".join(t["outcome"] for t in data.get("targets", [])))
    return (
        f"{where:<12} {leg:<8} {str(data.get('call_id', ''))[:13]:<13} "
        f"seq {data.get('seq', '?'):>2}  {event.get('type', ''):<15} {' '.join(details)}"
    )
