"""list indexes: the queue summaries and the staff lists at a million tickets

Revision ID: 0014_list_indexes
Revises: 0013_attachments
Create Date: 2026-12-01 13:05:00
"""
from collections.abc import Sequence

revision: str = '0014_list_indexes'
down_revision: str | None = '0013_attachments'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
