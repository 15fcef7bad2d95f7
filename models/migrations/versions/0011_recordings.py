"""Recordings of call control (bridged calls, conference mixes, messages).

Revision ID: 0011_recordings
Revises: 0010_masking_proxy_index
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import models.types

revision = "0011_recordings"
down_revision = "0010_masking_proxy_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recording",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("call_id", sa.String(length=40), nullable=True),
        sa.Column("conference_id", sa.Integer(), nullable=True),
        sa.Column("conference_name", sa.String(length=100), nullable=True),
        sa.Column("channels", sa.Integer(), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("recording", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recording_call_id"), ["call_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_recording_conference_id"), ["conference_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_recording_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("recording", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recording_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_recording_conference_id"))
        batch_op.drop_index(batch_op.f("ix_recording_call_id"))
    op.drop_table("recording")
