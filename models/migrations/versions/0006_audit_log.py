"""Audit log: key creation and revocation, campaign start, pause and stop.

Revision ID: 0006_audit_log
Revises: 0005_call_qualified
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import models.types

revision = "0006_audit_log"
down_revision = "0005_call_qualified"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=True),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenant.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_entry_tenant_id_id", "audit_entry", ["tenant_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_entry_tenant_id_id", table_name="audit_entry")
    op.drop_table("audit_entry")
