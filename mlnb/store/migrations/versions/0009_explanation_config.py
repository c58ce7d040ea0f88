"""A version's explanationConfig.

The attribution method that explains a version's predictions, its
parameters and mlnb's baseline, as ML Engine's ``Version.explanationConfig``
holds them; ``NULL``: the default method.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("versions", sa.Column("explanation_config", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("versions", "explanation_config")
