"""A webhook endpoint may belong to one call tree (a ``status_callback``): ``scope``.

Revision ID: 0012_status_callbacks
Revises: 0011_recordings
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_status_callbacks"
down_revision = "0011_recordings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoint", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoint", schema=None) as batch_op:
        batch_op.drop_column("scope")
