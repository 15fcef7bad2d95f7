"""``POST /v1/calls`` with ``actions``: check the request, write the call's row, start the call.

The actions are the call-control vocabulary (:func:`robot.control.actions.parse_actions`;
errors name the action's index and field). ``caller_id``, when given, must be one of the
tenant's numbers: it serves ``redirect``/``action_url`` and its ``routing_secret`` signs the
``status_callback`` requests (which therefore need it). The call runs in the process's
:class:`~robot.control.service.CallControl` (:func:`robot.control.outbound.run_outbound`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session, select

from api.control import call_control
from api.deps import tenant_id_of
from api.placement import call_number, open_call_row
from models.number import PhoneNumber
from robot.config import Settings
from robot.control.actions import parse_actions
from robot.control.events import StatusCallback, new_call_id
from robot.control.media_store import check_media_ids
from robot.control.outbound import OutboundOrder, check_runnable
from robot.control.routing import STATUS_EVENTS
from robot.crm.status_callback import check_status_callback
from robot.errors import ValidationError
from robot.phone import is_e164

if TYPE_CHECKING:
    from api.routes.calls import CallRequest


def _caller_number(session: Session, tenant_id: int, caller_id: str | None) -> PhoneNumber | None:
    if caller_id is None:
        return None
    if not is_e164(caller_id):
        raise ValidationError("caller_id: not an E.164 number")
    row = session.exec(
        select(PhoneNumber).where(
            PhoneNumber.tenant_id == tenant_id, PhoneNumber.number == caller_id
        )
    ).first()
    if row is None:
        raise ValidationError("caller_id: not one of your numbers (register it: POST /v1/numbers)")
    return row


def _status_callback(
    data: CallRequest, number: PhoneNumber | None, settings: Settings
) -> StatusCallback | None:
    if data.status_callback is None:
        if data.events is not None:
            raise ValidationError("events: only with a status_callback")
        return None
    url = check_status_callback(data.status_callback, allow_private=settings.webhooks_allow_private)
    if number is None:
        raise ValidationError(
            "status_callback: needs caller_id, one of your numbers (its routing_secret signs "
            "the requests)"
        )
    for index, name in enumerate(data.events or []):
        if name not in STATUS_EVENTS:
            known = ", ".join(sorted(STATUS_EVENTS))
            raise ValidationError(f"events[{index}]: unknown event {name!r} (known: {known})")
    types = tuple(dict.fromkeys(data.events or sorted(STATUS_EVENTS)))
    return StatusCallback(url, number.routing_secret, types)


def prepare_action_call(
    session: Session, tenant_id: int, data: CallRequest, settings: Settings, *, engine: bool
) -> OutboundOrder:
    """Check everything, then write the call's row (blocking; ``engine``: the process can
    run ``robot`` actions and speech)."""
    number = call_number(data.number, data.region, settings.carrier_url)
    actions = parse_actions(data.actions, field="actions")
    if not actions:
        raise ValidationError("actions: give at least one action")
    caller = _caller_number(session, tenant_id, data.caller_id)
    callback = _status_callback(data, caller, settings)
    check_runnable(actions, redirects=caller is not None, engine=engine)
    check_media_ids(session.connection(), tenant_id, actions)
    record_id = open_call_row(session, tenant_id, number, settings)
    detached: Any = None
    if caller is not None:
        detached = PhoneNumber.model_validate(caller.model_dump())
    return OutboundOrder(
        record_id=record_id,
        tenant_id=tenant_id,
        call_id=new_call_id(),
        number=number,
        actions=actions,
        caller_id=data.caller_id,
        caller_number=detached,
        ring_timeout_s=data.ring_timeout_s,
        status_callback=callback,
    )


async def start_action_call(
    data: CallRequest, request: Request, session: Session, settings: Settings, tenant: Any
) -> OutboundOrder:
    """Start a call that runs ``data.actions`` in the process's call control."""
    control = await call_control(request.app)
    order = await run_in_threadpool(
        prepare_action_call,
        session,
        tenant_id_of(tenant),
        data,
        settings,
        engine=control.call_engine is not None,
    )
    control.start_outbound(order)
    return order
