"""The field of a predict request's body whose value routes it, as a
routing key does (``NULL``: only the ``X-Mlnb-Routing-Key`` header).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("models", sa.Column("routing_key_field", sa.String(128), nullable=True))


def downgrade() -> None:
    op.drop_column("models", "routing_key_field")
