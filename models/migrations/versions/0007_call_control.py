"""Call control: the tenant's phone numbers (routing, default actions, tags) and masking
sessions with their participants.

Revision ID: 0007_call_control
Revises: 0006_audit_log
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import models.types

revision = "0007_call_control"
down_revision = "0006_audit_log"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "masking_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("expires_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", name="uq_masking_session_name"),
    )
    with op.batch_alter_table("masking_session", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_masking_session_tenant_id"), ["tenant_id"], unique=False
        )

    op.create_table(
        "phone_number",
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("routing_url", sa.String(length=2000), nullable=True),
        sa.Column("fallback_url", sa.String(length=2000), nullable=True),
        sa.Column(
            "default_actions",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column(
            "tags",
            sa.JSON(none_as_null=True).with_variant(
                postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), "postgresql"
            ),
            nullable=False,
        ),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("routing_secret", sa.String(length=200), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("number", name="uq_phone_number_number"),
    )
    with op.batch_alter_table("phone_number", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phone_number_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "masking_participant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("real_number", sa.String(length=20), nullable=False),
        sa.Column("proxy_number_id", sa.Integer(), nullable=False),
        sa.Column("proxy_number", sa.String(length=20), nullable=False),
        sa.Column("expires_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proxy_number_id"],
            ["phone_number.id"],
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["masking_session.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("real_number", "proxy_number", name="uq_masking_real_proxy"),
        sa.UniqueConstraint("session_id", "real_number", name="uq_masking_session_real"),
    )


def downgrade() -> None:
    op.drop_table("masking_participant")
    with op.batch_alter_table("phone_number", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phone_number_tenant_id"))

    op.drop_table("phone_number")
    with op.batch_alter_table("masking_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_masking_session_tenant_id"))

    op.drop_table("masking_session")
