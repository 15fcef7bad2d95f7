"""Calls say whether they made a qualified lead (the script's ``qualified_dispositions``).

Revision ID: 0005_call_qualified
Revises: 0004_outbox_dedupe_key
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_call_qualified"
down_revision = "0004_outbox_dedupe_key"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("qualified", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Before scripts could name their qualified dispositions, only "qualified" was one.
    call = sa.table("call", sa.column("qualified", sa.Boolean), sa.column("disposition"))
    op.execute(call.update().where(call.c.disposition == "qualified").values(qualified=True))


def downgrade() -> None:
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.drop_column("qualified")
