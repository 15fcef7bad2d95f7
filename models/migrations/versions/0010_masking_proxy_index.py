"""Index the proxy number of masking participants.

Deleting a phone number checks the foreign key from ``masking_participant.proxy_number_id``;
without this index that check reads every participant (a million in ``bench/masking.py``).

Revision ID: 0010_masking_proxy_index
Revises: 0009_callbacks
"""

from __future__ import annotations

from alembic import op

revision = "0010_masking_proxy_index"
down_revision = "0009_callbacks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("masking_participant", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_masking_participant_proxy_number_id"), ["proxy_number_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("masking_participant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_masking_participant_proxy_number_id"))
