"""``db upgrade`` beside running processes: it waits for their locks a bounded time, retries,
gives up with an error that says why, and leaves a database a newer release migrated alone.

The lock is held on ``alembic_version``, which every upgrade from an older revision writes,
so the tests hold whatever the newest migration changes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from typer.testing import CliRunner

from models.migrate import (
    SchemaAheadError,
    UpgradePolicy,
    _config,
    code_head,
    current_revision,
    upgrade,
)
from models.transactions import DatabaseError
from robot.cli import app

from fixtures.database import BACKENDS, FreshDatabase, open_fresh_database

#: Short waits so that the tests see several tries; they wait for events, never for time.
QUICK = UpgradePolicy(lock_timeout_ms=100, retry_for_s=120.0, retry_interval_s=0.2)


def previous_revision() -> str:
    down = ScriptDirectory.from_config(_config()).get_revision(code_head()).down_revision
    assert isinstance(down, str)
    return down


@pytest.fixture
def previous_pg(tmp_path: Path) -> Iterator[FreshDatabase]:
    """A PostgreSQL schema migrated to the revision before this code's newest."""
    yield from open_fresh_database("postgres", tmp_path, previous_revision())


@pytest.fixture(params=BACKENDS)
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FreshDatabase]:
    yield from open_fresh_database(request.param, tmp_path)


class Tries(logging.Handler):
    """Counts the upgrade's "could not get a lock" warnings, from any thread."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "could not get a lock" in record.getMessage():
            self.count += 1
            self.seen.set()


@pytest.fixture
def tries() -> Iterator[Tries]:
    handler = Tries()
    logger = logging.getLogger("models.migrate")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


def hold_version_lock(db: FreshDatabase) -> tuple[object, object]:
    """Another session holding a lock that the upgrade needs, as a long transaction would."""
    conn = db.engine.connect()
    transaction = conn.begin()
    conn.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
    return conn, transaction


@pytest.mark.postgres
def test_upgrade_retries_while_a_lock_is_held_and_finishes_once_it_is_released(
    previous_pg: FreshDatabase, tries: Tries
) -> None:
    conn, transaction = hold_version_lock(previous_pg)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["revision"] = upgrade(previous_pg.engine, policy=QUICK)
        except Exception as e:  # reported below
            outcome["error"] = e

    worker = threading.Thread(target=run)
    worker.start()
    try:
        assert tries.seen.wait(60), "the upgrade never reported a lock wait"
    finally:
        transaction.rollback()  # type: ignore[attr-defined]
        conn.close()  # type: ignore[attr-defined]
    worker.join(60)
    assert not worker.is_alive(), "the upgrade did not finish after the lock was released"
    assert "error" not in outcome, outcome.get("error")
    assert outcome["revision"] == code_head()
    assert current_revision(previous_pg.engine) == code_head()
    assert tries.count >= 1


@pytest.mark.postgres
def test_upgrade_gives_up_naming_the_lock_and_leaves_the_schema_as_it_was(
    previous_pg: FreshDatabase, tries: Tries
) -> None:
    conn, transaction = hold_version_lock(previous_pg)
    try:
        policy = UpgradePolicy(lock_timeout_ms=100, retry_for_s=1.0, retry_interval_s=0.2)
        with pytest.raises(DatabaseError, match=r"gave up after .* holds a lock") as raised:
            upgrade(previous_pg.engine, policy=policy)
        assert "lock timeout" in str(raised.value)
    finally:
        transaction.rollback()  # type: ignore[attr-defined]
        conn.close()  # type: ignore[attr-defined]
    assert tries.count >= 1
    assert current_revision(previous_pg.engine) == previous_revision()
    # Nothing of the newest migration was left half done: a later upgrade goes through.
    assert upgrade(previous_pg.engine, policy=QUICK) == code_head()


def test_a_database_a_newer_release_migrated_is_left_alone(
    fresh_db: FreshDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    newer = "9999_from_a_newer_release"
    with fresh_db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": newer})
    with caplog.at_level(logging.WARNING, logger="models.migrate"):
        assert upgrade(fresh_db.engine) == newer  # what a service does when it starts
    assert f"the database is at revision {newer}, newer than this release's" in caplog.text
    with pytest.raises(SchemaAheadError, match=newer):
        upgrade(fresh_db.engine, allow_newer=False)
    result = CliRunner().invoke(app, ["db", "upgrade", "--database", fresh_db.url])
    assert result.exit_code == 1
    assert newer in result.output
    assert current_revision(fresh_db.engine) == newer
