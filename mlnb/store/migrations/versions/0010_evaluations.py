"""Evaluations of versions, and a model's evaluation gates.

Each evaluation of a version on a labelled dataset: the data's fingerprint,
the task, the metrics scikit-learn computed, when and by whom. Keyed by
names, as the model's history is. A model's gates: what a version's
evaluations must show before it becomes the default (``NULL``: none). A
version's baseline: the profile of its training data and of its
predictions of it, which served instances are compared with (drift).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "evaluations",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("dataset", sa.String(256), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("task", sa.String(32), nullable=False),
        sa.Column("target", sa.String(256), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
    )
    op.create_index("ix_evaluations_version", "evaluations", ["project", "model", "version", "time"])
    op.add_column("models", sa.Column("evaluation_gates", sa.JSON(), nullable=True))
    op.create_table(
        "version_baselines",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("version", sa.String(128), primary_key=True),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("source", sa.String(256), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        # How drift is watched (threshold, window, webhook), the last check's
        # figures and the features an alert was last sent for.
        sa.Column("alerting", sa.JSON(), nullable=True),
        sa.Column("last_check", sa.JSON(), nullable=True),
        sa.Column("alerted", sa.JSON(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("version_baselines")
    op.drop_column("models", "evaluation_gates")
    op.drop_index("ix_evaluations_version", table_name="evaluations")
    op.drop_table("evaluations")
