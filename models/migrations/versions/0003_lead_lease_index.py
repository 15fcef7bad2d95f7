"""Index the leases of leads, to count the calls a campaign has in flight across workers.

Revision ID: 0003_lead_lease_index
Revises: 0002_api_webhooks
"""

from __future__ import annotations

from alembic import op

revision = "0003_lead_lease_index"
down_revision = "0002_api_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.create_index("ix_lead_lease", ["campaign_id", "lease_until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_lease")
