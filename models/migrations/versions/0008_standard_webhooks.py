"""Webhook endpoints may ask for Standard Webhooks signatures besides Callrobot-Signature.

Revision ID: 0008_standard_webhooks
Revises: 0007_call_control
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_standard_webhooks"
down_revision = "0007_call_control"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoint", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("standard_webhooks", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoint", schema=None) as batch_op:
        batch_op.drop_column("standard_webhooks")
