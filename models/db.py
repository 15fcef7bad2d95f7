"""Engine and migrations.

SQLite (the default, one file under ``data_dir``) runs in WAL mode with a busy timeout so
several worker processes can share it; transactions begin as :mod:`models.transactions` asks.
PostgreSQL is used when ``CALLROBOT_DATABASE_URL`` says so. Nothing is created at import time.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel, create_engine

import models.all_tables  # noqa: F401  (every table known before the first query)
from models.transactions import install_sqlite_begin
from robot.config import get_settings
from robot.errors import ConfigError, MissingExtraError

logger = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 30.0


def is_postgres(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "postgresql"


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event emit BEGIN itself (DEFERRED or IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    install_sqlite_begin(engine)


def make_engine(url: str | None = None, *, echo: bool = False) -> Engine:
    """Build an engine for ``url`` (default: the configured database)."""
    url = url or get_settings().resolved_database_url()
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        _install_sqlite_hooks(engine)
        return engine
    if url.startswith("postgresql"):
        try:
            import psycopg  # noqa: F401
        except ImportError as e:
            raise MissingExtraError("PostgreSQL", "postgres", "psycopg[binary]") from e
        return create_engine(url, echo=echo, pool_pre_ping=True)
    raise ConfigError(f"database_url: unsupported database URL scheme in {url.split(':', 1)[0]!r}")


def upgrade(engine: Engine, revision: str = "head", *, allow_newer: bool = True) -> str | None:
    """Bring the schema up to ``revision`` with the migrations shipped in this package, waiting
    for running processes' locks as ``Settings.migrations`` says (:mod:`models.migrate`).
    Returns the database's revision afterwards."""
    from models.migrate import UpgradePolicy
    from models.migrate import upgrade as run_upgrade

    limits = get_settings().migrations
    policy = UpgradePolicy(limits.lock_timeout_ms, limits.retry_for_s, limits.retry_interval_s)
    return run_upgrade(engine, revision, policy=policy, allow_newer=allow_newer)


def create_schema(engine: Engine) -> None:
    """Create every table directly from the models (tests); production uses :func:`upgrade`."""
    SQLModel.metadata.create_all(engine)
