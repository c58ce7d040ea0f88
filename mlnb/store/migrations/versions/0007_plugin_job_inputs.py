"""Jobs of a plug-in's kind: their input, and kind names past 16 characters.

A job kind registered by a plug-in (the ``mlnb.job_kinds`` entry points)
takes an input of its own, read by the kind's spec at submission and kept
as ``jobInput``; its name follows the project naming rule, 64 characters
at most.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("job_input", sa.JSON(), nullable=True))
    # SQLite keeps any length in a VARCHAR; only servers that enforce it
    # need the wider column (and SQLite could change it only by copying the table).
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("jobs", "kind", type_=sa.String(64), existing_type=sa.String(16))


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("jobs", "kind", type_=sa.String(16), existing_type=sa.String(64))
    op.drop_column("jobs", "job_input")
