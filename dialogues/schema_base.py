"""What every model of the script format shares: unknown keys are refused and models are
frozen (:class:`StrictModel`), and a single string stands for a list of one (:func:`as_list`).
A leaf: :mod:`dialogues.schema` and :mod:`dialogues.conversation_schema` import it."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def as_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return value
