"""Callbacks: call A, then B, and bridge them.

Revision ID: 0009_callbacks
Revises: 0008_standard_webhooks
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.types

revision = "0009_callbacks"
down_revision = "0008_standard_webhooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "callback",
        sa.Column("a", sa.String(length=200), nullable=False),
        sa.Column("b", sa.String(length=200), nullable=False),
        sa.Column("caller_id_a", sa.String(length=200), nullable=True),
        sa.Column("caller_id_b", sa.String(length=200), nullable=True),
        sa.Column("announce_a", sa.String(length=2000), nullable=True),
        sa.Column("whisper_b", sa.String(length=2000), nullable=True),
        sa.Column("confirm_digit", sa.String(length=1), nullable=True),
        sa.Column("ring_timeout_s", sa.Integer(), nullable=False),
        sa.Column("record", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome_a", sa.String(length=32), nullable=True),
        sa.Column("outcome_b", sa.String(length=32), nullable=True),
        sa.Column("call_id_a", sa.String(length=40), nullable=True),
        sa.Column("call_id_b", sa.String(length=40), nullable=True),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_a_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("bridged_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("callback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_callback_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("callback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callback_tenant_id"))
    op.drop_table("callback")
