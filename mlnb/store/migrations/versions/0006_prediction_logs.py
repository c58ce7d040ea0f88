"""Online prediction logs in the store.

Sampled requests and answers of models with ``onlinePredictionLogging``
were JSON-lines files in each serving machine's home; as rows, any
machine's Engine reads them, whichever server answered.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "prediction_log_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.String(128), nullable=False),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
    )
    op.create_index("ix_prediction_log_entries_model", "prediction_log_entries", ["project", "model", "id"])


def downgrade() -> None:
    op.drop_index("ix_prediction_log_entries_model", table_name="prediction_log_entries")
    op.drop_table("prediction_log_entries")
