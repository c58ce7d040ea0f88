"""The registry: models, versions and the models' history.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("online_prediction_logging", sa.Boolean(), nullable=False),
        sa.Column("online_prediction_console_logging", sa.Boolean(), nullable=False),
        sa.Column("default_version", sa.String(128), nullable=True),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.UniqueConstraint("project", "name", name="uq_models_project_name"),
    )
    op.create_table(
        "versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "model_id",
            sa.Integer(),
            sa.ForeignKey("models.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("framework", sa.String(64), nullable=True),
        sa.Column("deployment_uri", sa.Text(), nullable=False),
        sa.Column("artifact_uri", sa.Text(), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("runtime_version", sa.String(32), nullable=True),
        sa.Column("python_version", sa.String(32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("manual_scaling", sa.JSON(), nullable=True),
        sa.Column("auto_scaling", sa.JSON(), nullable=True),
        sa.Column("prediction_class", sa.Text(), nullable=True),
        sa.Column("package_uris", sa.JSON(), nullable=False),
        sa.Column("packages", sa.JSON(), nullable=False),
        sa.Column("machine_type", sa.String(64), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("create_time", sa.DateTime(), nullable=False),
        sa.Column("last_use_time", sa.DateTime(), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.UniqueConstraint("model_id", "name", name="uq_versions_model_name"),
    )
    op.create_index("ix_versions_model_id", "versions", ["model_id"])
    op.create_table(
        "model_events",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("project", sa.String(128), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("version", sa.String(128), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_model_events_model_time", "model_events", ["project", "model", "time"])


def downgrade() -> None:
    op.drop_table("model_events")
    op.drop_index("ix_versions_model_id", "versions")
    op.drop_table("versions")
    op.drop_table("models")
