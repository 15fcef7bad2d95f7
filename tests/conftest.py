"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from robot.config import Settings, override_settings


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path) -> Iterator[Settings]:
    """Every test gets its own data directory and default settings."""
    settings = Settings(data_dir=tmp_path / "var")
    override_settings(settings)
    yield settings
    override_settings(None)
