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
    # A live table: built without locking out writers on PostgreSQL (the expand rule).
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_masking_participant_proxy_number_id",
            "masking_participant",
            ["proxy_number_id"],
            unique=False,
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    op.drop_index("ix_masking_participant_proxy_number_id", table_name="masking_participant")
