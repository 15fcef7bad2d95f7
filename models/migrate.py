"""Running the schema migrations beside processes that keep using the database.

Migrations follow the expand/contract rule (README "Schema changes while workers run",
checked by ``tests/test_migrations_rule.py``): the previous release's code keeps working on
the new schema, so workers need not stop for an upgrade. What this module adds is that an
upgrade never stalls them for long and never waits for ever:

- each migration commits on its own (a lock taken by one is released before the next);
- on PostgreSQL every statement waits at most ``lock_timeout_ms`` for a table lock. A change
  that has to wait queues every later query on that table behind it, so a short timeout caps
  how long running workers stall; the migration is rolled back and tried again after
  ``retry_interval_s``, for ``retry_for_s`` in all, then the upgrade fails with an error that
  says which lock it waited for. SQLite's busy timeout plays the same part there;
- concurrent upgrades (several services starting at once) take turns on a PostgreSQL
  advisory lock keyed by the schema;
- a database already migrated past what this code knows (a newer release upgraded it while
  this older process restarts) is left as it is: by the rule, this code still works on it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from models.transactions import DatabaseError

logger = logging.getLogger(__name__)

#: PostgreSQL's SQLSTATE for "could not obtain lock" (``lock_timeout`` ran out).
LOCK_NOT_AVAILABLE = "55P03"
#: Advisory lock namespace of schema upgrades (with the schema's name).
ADVISORY_KEY = "callrobot-schema-upgrade:"


@dataclass(frozen=True, slots=True)
class UpgradePolicy:
    """How long an upgrade waits for other processes' locks (``Settings.migrations``)."""

    lock_timeout_ms: int = 2000
    retry_for_s: float = 300.0
    retry_interval_s: float = 2.0


class SchemaAheadError(DatabaseError):
    """The database is at a revision this code does not know: a newer release migrated it."""


def migrations_dir() -> Path:
    return Path(__file__).resolve().parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return config


def code_head() -> str:
    """The newest revision this code ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "no migrations shipped"
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision (None before the first migration)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_lock_wait(error: BaseException) -> bool:
    """Whether ``error`` says a statement gave up waiting for another process's lock."""
    if isinstance(error, DBAPIError):
        if getattr(error.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            return True
        return "database is locked" in str(error.orig)
    return False


def upgrade(
    engine: Engine,
    revision: str = "head",
    *,
    policy: UpgradePolicy | None = None,
    allow_newer: bool = True,
) -> str | None:
    """Bring the schema up to ``revision``; returns the database's revision afterwards.

    A migration that could not get a lock in time is retried (see the module docstring).
    With ``allow_newer`` a database ahead of this code is left alone (a warning is logged);
    without it :class:`SchemaAheadError` is raised.
    """
    policy = policy or UpgradePolicy()
    deadline = time.monotonic() + policy.retry_for_s
    tries = 0
    while True:
        tries += 1
        try:
            return _upgrade_once(engine, revision, policy, allow_newer)
        except SQLAlchemyError as e:
            if not is_lock_wait(e):
                raise DatabaseError(f"migration to {revision} failed: {e}") from e
            if time.monotonic() + policy.retry_interval_s > deadline:
                raise DatabaseError(
                    f"migration to {revision} gave up after {tries} tries in "
                    f"{policy.retry_for_s:.0f} s: a running process holds a lock it needs "
                    f"({_first_line(e)}); find it in pg_stat_activity / pg_locks"
                ) from e
            logger.warning(
                "migration to %s could not get a lock within %d ms (try %d): %s; "
                "rolled back, trying again in %.1f s",
                revision,
                policy.lock_timeout_ms,
                tries,
                _first_line(e),
                policy.retry_interval_s,
            )
            time.sleep(policy.retry_interval_s)


def _first_line(error: SQLAlchemyError) -> str:
    orig = getattr(error, "orig", None) or error
    return str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__


def _upgrade_once(
    engine: Engine, revision: str, policy: UpgradePolicy, allow_newer: bool
) -> str | None:
    postgres = engine.dialect.name == "postgresql"
    with engine.connect() as conn:
        if postgres:
            conn.exec_driver_sql(f"SET lock_timeout = {int(policy.lock_timeout_ms)}")
            conn.execute(
                text("SELECT pg_advisory_lock(hashtext(:key || current_schema()))"),
                {"key": ADVISORY_KEY},
            )
        conn.commit()
        try:
            return _migrate(conn, revision, allow_newer)
        finally:
            if postgres and not conn.closed:
                conn.rollback()
                conn.execute(
                    text("SELECT pg_advisory_unlock(hashtext(:key || current_schema()))"),
                    {"key": ADVISORY_KEY},
                )
                conn.commit()


def _migrate(conn: Connection, revision: str, allow_newer: bool) -> str | None:
    config = _config()
    script = ScriptDirectory.from_config(config)
    current = MigrationContext.configure(conn).get_current_revision()
    conn.commit()  # no transaction open: each migration then runs in its own
    if current is not None and not _known(script, current):
        message = (
            f"the database is at revision {current}, newer than this release's "
            f"{script.get_current_head()}: it was upgraded by a newer release"
        )
        if not allow_newer:
            raise SchemaAheadError(message)
        logger.warning("%s; leaving the schema as it is", message)
        return current
    config.attributes["connection"] = conn
    config.attributes["transaction_per_migration"] = True
    command.upgrade(config, revision)
    after = MigrationContext.configure(conn).get_current_revision()
    conn.commit()
    if after != current:
        logger.info("database schema upgraded from %s to %s", current, after)
    return after


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except CommandError:
        return False
