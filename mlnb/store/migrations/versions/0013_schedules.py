"""Schedules, and their runs.

A schedule keeps its spec (cron or interval, time zone, bounds, job
template) as the API writes it, its state, the queue whose job hosts fire
it, and where its firing stands. A run is keyed by its schedule and its
due time: the key that makes two hosts that find one run due record it
once.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("queue", sa.String(300), nullable=True),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.Column("update_time", sa.DateTime(), nullable=False),
        sa.Column("next_run_time", sa.DateTime(), nullable=True),
        sa.Column("last_run_time", sa.DateTime(), nullable=True),
        sa.Column("run_count", sa.Integer(), nullable=False),
        sa.Column("skipped_runs", sa.Integer(), nullable=False),
        sa.Column("last_message", sa.Text(), nullable=True),
    )
    op.create_table(
        "schedule_runs",
        sa.Column("project", sa.String(128), primary_key=True),
        sa.Column("schedule", sa.String(128), primary_key=True),
        sa.Column("run_time", sa.DateTime(), primary_key=True),
        sa.Column("job_id", sa.String(128), nullable=False),
        sa.Column("fire_time", sa.DateTime(), nullable=False),
        sa.Column("manual", sa.Boolean(), nullable=False),
        sa.Column("submitted", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("schedule_runs")
    op.drop_table("schedules")
