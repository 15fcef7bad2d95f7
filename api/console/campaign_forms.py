"""The campaign form: its fields read into :class:`CampaignCreate`, with an error per field.

Every rule is the API's own: the model's field limits (:class:`CampaignCreate`), the calling
window (:meth:`CallingWindow.from_dict`), the retry policy (:meth:`RetryPolicy.from_dict`),
the zone (:func:`zone_info`) and the region (:func:`check_region`). Each is run on the one
field it checks, so the form can show every problem next to its field at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from models.campaign import CampaignCreate
from robot.dialler.campaigns import check_region
from robot.dialler.retry import DEFAULT_DELAYS_S, DEFAULT_FINAL_DISPOSITIONS, RetryPolicy
from robot.errors import CallrobotError
from robot.windows import DEFAULT_HOURS_MIN, WEEKDAYS, CallingWindow, zone_info

#: Fields of the form that go to :class:`CampaignCreate` as they are.
BASIC_FIELDS = ("name", "default_region", "default_timezone", "caller_id")
NUMBER_FIELDS = ("priority", "max_concurrent_calls")
#: The calling window's default hours as the form shows them.
DEFAULT_SPAN = f"{DEFAULT_HOURS_MIN[0] // 60:02d}:00-{DEFAULT_HOURS_MIN[1] // 60:02d}:00"
DELAY_KEYS = tuple(str(key) for key in DEFAULT_DELAYS_S)


@dataclass
class CampaignForm:
    """What the form holds (as typed) and the problems found, by field name."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    data: CampaignCreate | None = None

    @classmethod
    def blank(cls) -> CampaignForm:
        values: dict[str, Any] = {
            "name": "",
            "script_id": "",
            "default_region": "US",
            "default_timezone": "UTC",
            "priority": "1",
            "max_concurrent_calls": "10",
            "caller_id": "",
            "excluded_dates": "",
            "max_attempts": "3",
            "extra_callback_attempts": "2",
            "final_dispositions": sorted(DEFAULT_FINAL_DISPOSITIONS),
        }
        values.update({f"hours_{day}": DEFAULT_SPAN for day in WEEKDAYS})
        values.update({f"delay_{key}": str(DEFAULT_DELAYS_S[key]) for key in DEFAULT_DELAYS_S})
        return cls(values=values)


def _number(text: str) -> int | float | str:
    """A typed number as a number; anything else stays text for the validator to name."""
    text = text.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d*", text):
        return float(text)
    return text


def _check(errors: dict[str, str], name: str, rule: Callable[..., Any], *args: Any) -> Any:
    """``rule(*args)``, or None with its message noted under ``name``."""
    try:
        return rule(*args)
    except CallrobotError as e:
        errors[name] = str(e)
    return None


def _window(form: Mapping[str, str], errors: dict[str, str]) -> dict[str, Any]:
    hours: dict[str, str | None] = {}
    for day in WEEKDAYS:
        spec = form.get(f"hours_{day}", "").strip()
        value = None if spec in ("", "closed") else spec
        one_day = {"hours": {day: value}}
        if _check(errors, f"hours_{day}", CallingWindow.from_dict, one_day):
            hours[day] = value
    dates = [d for d in re.split(r"[\s,]+", form.get("excluded_dates", "")) if d]
    _check(errors, "excluded_dates", CallingWindow.from_dict, {"excluded_dates": dates})
    return {"hours": hours, "excluded_dates": dates}


def _retry(form: Mapping[str, str], dispositions: list[str], errors: dict[str, str]) -> Any:
    policy: dict[str, Any] = {}
    for name in ("max_attempts", "extra_callback_attempts"):
        if not form.get(name, "").strip():
            continue  # left empty: the default
        value = _number(form.get(name, ""))
        if _check(errors, name, RetryPolicy.from_dict, {name: value}):
            policy[name] = value
    delays: dict[str, Any] = {}
    for key in DELAY_KEYS:
        if not form.get(f"delay_{key}", "").strip():
            continue
        value = _number(form.get(f"delay_{key}", ""))
        if _check(errors, f"delay_{key}", RetryPolicy.from_dict, {"delays_s": {key: value}}):
            delays[key] = value
    policy["delays_s"] = delays
    finals = {"final_dispositions": dispositions}
    if _check(errors, "final_dispositions", RetryPolicy.from_dict, finals):
        policy["final_dispositions"] = dispositions
    return policy


def read_campaign_form(
    form: Mapping[str, str], dispositions: list[str], script_version: int | None
) -> CampaignForm:
    """Check every field; ``data`` is set only when nothing is wrong.

    ``script_version`` is the version of the chosen script (``None`` when none was chosen
    or it is not the tenant's: the caller reports that under ``script_id``).
    """
    result = CampaignForm(values={**form, "final_dispositions": dispositions})
    errors = result.errors
    window = _window(form, errors)
    retry = _retry(form, dispositions, errors)
    zone = form.get("default_timezone", "").strip()
    _check(errors, "default_timezone", zone_info, zone)
    region = form.get("default_region", "").strip()
    _check(errors, "default_region", check_region, region)
    if not form.get("name", "").strip():
        errors["name"] = "name: must not be empty"
    raw: dict[str, Any] = {key: form.get(key, "").strip() for key in BASIC_FIELDS}
    raw["caller_id"] = raw["caller_id"] or None
    for key in NUMBER_FIELDS:
        raw[key] = _number(form.get(key, ""))
    script_id = form.get("script_id", "").strip()
    raw["script_id"] = int(script_id) if script_id.isdigit() else None
    raw["script_version"] = script_version
    raw["calling_window"] = window
    raw["retry_policy"] = retry
    try:
        data = CampaignCreate.model_validate(raw)
    except PydanticValidationError as e:
        for problem in e.errors():
            name = str(problem["loc"][0]) if problem["loc"] else "name"
            errors.setdefault(name, f"{name}: {problem['msg']}")
        return result
    if not errors:
        result.data = data
    return result
