"""A model's traffic: how requests to the model are shared among its
versions (``NULL``: the default takes all), named pointers to versions
(aliases such as ``champion``), and a shadow version that gets a copy of a
share of the traffic without answering.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("models", sa.Column("traffic_split", sa.JSON(), nullable=True))
    op.add_column("models", sa.Column("aliases", sa.JSON(), nullable=True))
    op.add_column("models", sa.Column("shadow", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("models", "shadow")
    op.drop_column("models", "aliases")
    op.drop_column("models", "traffic_split")
