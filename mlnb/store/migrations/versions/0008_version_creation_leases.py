"""Version creations under a lease.

A CREATING version's creator renews ``lease_expires`` while it copies and
loads the files; a version whose lease ran out reads FAILED (its creator
died) and is recorded so, its files removed, at explicit points.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("versions", sa.Column("lease_expires", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("versions", "lease_expires")
