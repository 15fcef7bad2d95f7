"""Test support: a fresh, migrated database per test on SQLite or on a real PostgreSQL.

PostgreSQL runs come from ``CALLROBOT_TEST_POSTGRES_URL``; each test gets its own schema
(dropped afterwards), so tests never see each other's rows. Without the URL the PostgreSQL
variant is skipped, except under ``CI=true`` where a missing or unreachable server fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from models.db import make_engine, upgrade

POSTGRES_URL_ENV = "CALLROBOT_TEST_POSTGRES_URL"
#: Parameters for database fixtures; the PostgreSQL one carries the ``postgres`` marker.
BACKENDS = ("sqlite", pytest.param("postgres", marks=pytest.mark.postgres))


@dataclass(frozen=True, slots=True)
class FreshDatabase:
    engine: Engine
    #: URL another process can open to reach the same database (and schema).
    url: str
    backend: str


def _postgres_url_or_skip() -> str:
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        message = f"{POSTGRES_URL_ENV} is not set"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: CI must run the PostgreSQL tests")
        pytest.skip(message)
    return url


def open_fresh_database(backend: str, tmp_path: Path) -> Iterator[FreshDatabase]:
    """Yield a migrated database of ``backend`` and remove it afterwards."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'callrobot-test.db'}"
        engine = make_engine(url)
        upgrade(engine)
        yield FreshDatabase(engine, url, backend)
        engine.dispose()
        return
    base_url = _postgres_url_or_skip()
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base_url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except SQLAlchemyError as e:
        admin.dispose()
        message = f"PostgreSQL at {make_url(base_url).host} is unreachable: {e}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    url = (
        make_url(base_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    engine = make_engine(url)
    try:
        upgrade(engine)
        yield FreshDatabase(engine, url, backend)
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FreshDatabase]:
    """A fresh migrated database, once on SQLite and once on PostgreSQL."""
    yield from open_fresh_database(request.param, tmp_path)
