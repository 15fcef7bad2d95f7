"""Initial schema: tenants, scripts, campaigns, leads, calls and the do-not-call list.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 01:46:08.030851
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import models.types

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("tenant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tenant_name"), ["name"], unique=True)

    op.create_table(
        "dnc_entry",
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "number", name="uq_dnc_tenant_number"),
    )
    with op.batch_alter_table("dnc_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dnc_entry_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "script",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("tenant_id", "name", "version"),
    )
    with op.batch_alter_table("script", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_script_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "campaign",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("script_id", sa.Integer(), nullable=True),
        sa.Column("script_version", sa.Integer(), nullable=True),
        sa.Column("default_region", sa.String(length=2), nullable=False),
        sa.Column("default_timezone", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("max_concurrent_calls", sa.Integer(), nullable=False),
        sa.Column("caller_id", sa.String(length=32), nullable=True),
        sa.Column(
            "calling_window",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column(
            "retry_policy",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["script_id"],
            ["script.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_campaign_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_campaign_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "lead",
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column(
            "variables",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "calling_window",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("time_zones", sa.String(length=1000), nullable=False),
        sa.Column("tz_source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_outcome", sa.String(length=32), nullable=True),
        sa.Column("last_disposition", sa.String(length=32), nullable=True),
        sa.Column("callback_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status_reason", sa.String(length=500), nullable=True),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_until", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "number", name="uq_lead_campaign_number"),
    )
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lead_due", ["campaign_id", "status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_lead_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "call",
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=True),
        sa.Column("started_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("answered_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=True),
        sa.Column("disposition", sa.String(length=32), nullable=True),
        sa.Column("q850", sa.Integer(), nullable=True),
        sa.Column("voicemail_verdict", sa.String(length=16), nullable=True),
        sa.Column("voicemail_reason", sa.String(length=500), nullable=True),
        sa.Column("voicemail_decision_ms", sa.Float(), nullable=True),
        sa.Column(
            "slots",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "transcript",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "signalling",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("recording_path", sa.String(length=1000), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaign.id"],
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["lead.id"],
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_campaign_id"), ["campaign_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_lead_id"), ["lead_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_outcome"), ["outcome"], unique=False)
        batch_op.create_index(batch_op.f("ix_call_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_call_outcome"))
        batch_op.drop_index(batch_op.f("ix_call_lead_id"))
        batch_op.drop_index(batch_op.f("ix_call_campaign_id"))

    op.drop_table("call")
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_tenant_id"))
        batch_op.drop_index("ix_lead_due")

    op.drop_table("lead")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_tenant_id"))
        batch_op.drop_index(batch_op.f("ix_campaign_status"))

    op.drop_table("campaign")
    with op.batch_alter_table("script", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_script_tenant_id"))

    op.drop_table("script")
    with op.batch_alter_table("dnc_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dnc_entry_tenant_id"))

    op.drop_table("dnc_entry")
    with op.batch_alter_table("tenant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tenant_name"))

    op.drop_table("tenant")
