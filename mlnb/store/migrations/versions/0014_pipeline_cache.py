"""The outputs of pipeline steps, by the content hash of what they were
given: a step given the same again is not run again.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pipeline_cache",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("step", sa.String(128), nullable=False),
        sa.Column("pipeline", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pipeline_cache")
