"""Who hears of a model's events (a version refused by its gates, a new
default, a changed split): mlnb's ``notifications`` of a ``Model``
(``NULL``: the host's settings).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("models", sa.Column("notifications", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("models", "notifications")
