"""Alembic environment, configured in code (no alembic.ini) so migrations run from the package.

``models.migrate.upgrade`` passes an open connection in ``config.attributes["connection"]``
and ``transaction_per_migration`` (each migration commits on its own, so the locks one takes
are released before the next one runs).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import models.all_tables  # noqa: F401  (registers every table)

target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        from models.db import make_engine

        url = context.config.get_main_option("sqlalchemy.url")
        with make_engine(url).begin() as connection:
            _run(connection)
        return
    _run(connection)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        transaction_per_migration=bool(
            context.config.attributes.get("transaction_per_migration", False)
        ),
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `callrobot db upgrade`")
run_migrations_online()
