"""Jobs held by leases of job hosts, and job logs in the store.

A job records which queue it waits in (one machine's on-demand host, or
the team's job hosts), which host holds it and until when; its log lines
are rows, so that any machine's Engine reads and follows them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("queue", sa.String(300), nullable=True))
        batch.add_column(sa.Column("lease_holder", sa.String(300), nullable=True))
        batch.add_column(sa.Column("lease_expires", sa.DateTime(), nullable=True))
    op.create_table(
        "job_log_lines",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("job_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("time", sa.String(40), nullable=False),
        sa.Column("replica", sa.String(256), nullable=False),
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.UniqueConstraint("project", "job_id", "seq", name="uq_job_log_lines_job_seq"),
    )


def downgrade() -> None:
    op.drop_table("job_log_lines")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("lease_expires")
        batch.drop_column("lease_holder")
        batch.drop_column("queue")
