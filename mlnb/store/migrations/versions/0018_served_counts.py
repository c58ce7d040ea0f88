"""What each serving process answered per version, flush period by flush
period (requests, failed ones, times to answer by bucket): a rollout reads
a canary's error rate and latency from these, summed over every server,
whether or not the model logs its requests.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "served_counts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("period_end", sa.DateTime(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("latency", sa.JSON(), nullable=False),
    )
    op.create_index("ix_served_counts_model", "served_counts", ["project", "model", "period_end"])


def downgrade() -> None:
    op.drop_index("ix_served_counts_model", table_name="served_counts")
    op.drop_table("served_counts")
