"""The process's :class:`~robot.control.service.CallControl`, made once per application.

Built from ``settings.carrier_url`` on first use (or at start-up with ``run_workers``, so a
``sip://...;listen=HOST:PORT`` carrier takes inbound calls from the start); tests hand their
own to ``create_app(call_control=...)``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI

from robot.control.service import CallControl, RegistryVoice


async def call_control(app: FastAPI) -> CallControl:
    """The application's call control, started."""
    state = app.state
    if not hasattr(state, "call_control_lock"):
        state.call_control_lock = asyncio.Lock()
    async with state.call_control_lock:
        if state.call_control is None:
            made = CallControl.from_url(
                state.engine,
                state.settings.carrier_url,
                RegistryVoice(),
                call_engine=_call_engine(state.settings),
                recording_dir=state.settings.recordings_root(),
            )
            await made.start()
            state.call_control = made
            state.own_call_control = True
    control: CallControl = state.call_control
    return control


def _call_engine(settings: Any) -> Any:
    """The engine of ``robot`` actions and speech gathers (models load on first use)."""
    from robot.engine import CallEngine

    return CallEngine(settings=settings, detect_voicemail=False)


async def close_call_control(app: FastAPI) -> None:
    """Close the call control the application made itself (not one handed in)."""
    if getattr(app.state, "own_call_control", False) and app.state.call_control is not None:
        await app.state.call_control.close()
        app.state.call_control = None
