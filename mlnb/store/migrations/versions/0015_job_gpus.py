"""The GPUs a job holds on its machine (indices as CUDA_VISIBLE_DEVICES
names them; ``NULL``: none), so that two jobs are never given one GPU.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("gpu_devices", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("jobs", "gpu_devices")
