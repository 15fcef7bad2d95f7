"""Shared fixtures."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from robot.config import Settings, override_settings

from fixtures.api_harness import ApiHarness, open_api
from fixtures.database import BACKENDS, open_fresh_database

# Whole calls with the real engines run on a shared, busy machine here: a decode or a
# voicemail verdict may take longer than its production deadline (3 s), which would turn an
# answer into a "sorry?" or talk to a machine, and make those tests depend on CPU speed. The
# deadlines themselves are tested with fakes (tests/test_turn_taking.py), set explicitly.
os.environ.setdefault("CALLROBOT_SPEECH__DECODE_TIMEOUT_MS", "120000")
os.environ.setdefault("CALLROBOT_SPEECH__VERDICT_GRACE_MS", "120000")
# What the recognizer hears must not depend on the machine either: CTranslate2 picks its
# kernels by CPU (AVX-512 where there is one), and their rounding differs a little. Every
# machine here has AVX2, so every test run decodes with the same kernels.
os.environ.setdefault("CT2_FORCE_CPU_ISA", "AVX2")

# Nothing a test runs (commands in this process or in subprocesses) may write under the real
# home folder: the default data and cache folders point into a temporary folder instead.
_HOME_STANDIN = tempfile.mkdtemp(prefix="callrobot-tests-")
atexit.register(shutil.rmtree, _HOME_STANDIN, True)
os.environ["XDG_DATA_HOME"] = os.path.join(_HOME_STANDIN, "data")
os.environ["XDG_CACHE_HOME"] = os.path.join(_HOME_STANDIN, "cache")
for _name in ("CALLROBOT_DATA_DIR", "CALLROBOT_CACHE_DIR"):
    os.environ.pop(_name, None)


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path) -> Iterator[Settings]:
    """Every test gets its own data and cache directories and default settings."""
    settings = Settings(data_dir=tmp_path / "var", cache_dir=tmp_path / "cache")
    override_settings(settings)
    yield settings
    override_settings(None)


@pytest.fixture(params=BACKENDS)
def api(
    request: pytest.FixtureRequest, tmp_path: Path, isolated_settings: Settings
) -> Iterator[ApiHarness]:
    """The API over a fresh database of each backend (PostgreSQL when configured)."""
    for db in open_fresh_database(request.param, tmp_path):
        yield from open_api(db.engine, isolated_settings)
