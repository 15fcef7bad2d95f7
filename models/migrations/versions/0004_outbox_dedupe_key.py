"""Outbox events name the fact they report (``dedupe_key``, unique), so it is reported once.

Revision ID: 0004_outbox_dedupe_key
Revises: 0003_lead_lease_index
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_outbox_dedupe_key"
down_revision = "0003_lead_lease_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dedupe_key", sa.String(length=120), nullable=True))
        batch_op.create_unique_constraint("uq_outbox_event_dedupe_key", ["dedupe_key"])


def downgrade() -> None:
    with op.batch_alter_table("outbox_event", schema=None) as batch_op:
        batch_op.drop_constraint("uq_outbox_event_dedupe_key", type_="unique")
        batch_op.drop_column("dedupe_key")
