"""workspace lists: full-text search, tags, saved views and the indexes the staff lists sort by

Revision ID: 0009_workspace_lists
Revises: 0008_self_served
Create Date: 2026-12-01 12:10:00
"""
from collections.abc import Sequence

revision: str = '0009_workspace_lists'
down_revision: str | None = '0008_self_served'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
