"""A schedule's run may wait for its input (the schedule's ``inputWait``):
what it waits for, and when a host next tries to submit it (both ``NULL``
for a run that does not wait).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("schedule_runs") as batch:
        batch.add_column(sa.Column("waiting_for", sa.Text(), nullable=True))
        batch.add_column(sa.Column("retry_time", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("schedule_runs") as batch:
        batch.drop_column("retry_time")
        batch.drop_column("waiting_for")
