"""Shared fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot.config import Settings, override_settings

# Whole calls with the real engines run on a shared, busy machine here: a decode or a
# voicemail verdict may take longer than its production deadline (3 s), which would turn an
# answer into a "sorry?" or talk to a machine, and make those tests depend on CPU speed. The
# deadlines themselves are tested with fakes (tests/test_turn_taking.py), set explicitly.
os.environ.setdefault("CALLROBOT_SPEECH__DECODE_TIMEOUT_MS", "120000")
os.environ.setdefault("CALLROBOT_SPEECH__VERDICT_GRACE_MS", "120000")


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path) -> Iterator[Settings]:
    """Every test gets its own data directory and default settings."""
    settings = Settings(data_dir=tmp_path / "var")
    override_settings(settings)
    yield settings
    override_settings(None)
