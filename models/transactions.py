"""Database transactions: the one place that opens them, commits, and maps failures.

On SQLite (WAL mode) a transaction that reads and then writes must take the write lock before
its first read: ``BEGIN IMMEDIATE`` makes it wait for a concurrent commit (up to the busy
timeout) instead of reading a snapshot that the commit makes stale, which SQLite reports as
"database is locked" at the first write. Every write here therefore begins ``IMMEDIATE``;
reads begin ``DEFERRED``. PostgreSQL ignores the option.

- :func:`write_transaction`: a Core connection in one write transaction.
- :func:`session_scope`: an ORM session that commits on success and rolls back on error.
- :func:`for_writes`: the engine a caller that commits by itself (an API route) binds to.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from robot.errors import CallrobotError

#: Execution option read by the SQLite ``begin`` hook: ``DEFERRED`` (default) or ``IMMEDIATE``.
BEGIN_MODE_OPTION = "sqlite_begin"
WRITE_LOCK = {BEGIN_MODE_OPTION: "IMMEDIATE"}


class DatabaseError(CallrobotError):
    """The database refused an operation or could not be reached."""


def install_sqlite_begin(engine: Engine) -> None:
    """Let SQLite transactions begin in the mode their connection asks for.

    The driver's own transaction handling must be off (``isolation_level = None`` on connect)
    so that this hook emits ``BEGIN`` itself.
    """

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(BEGIN_MODE_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def for_writes(engine: Engine) -> Engine:
    """``engine`` with every transaction taking the write lock up front."""
    return engine.execution_options(**WRITE_LOCK)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that takes the write lock up front (``BEGIN IMMEDIATE`` on SQLite)."""
    try:
        with engine.connect().execution_options(**WRITE_LOCK) as conn, conn.begin():
            yield conn
    except SQLAlchemyError as e:
        raise DatabaseError(f"database write failed: {e.__class__.__name__}: {e}") from e


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except SQLAlchemyError as e:
            session.rollback()
            raise DatabaseError(f"database operation failed: {e.__class__.__name__}: {e}") from e
        except BaseException:
            session.rollback()
            raise
