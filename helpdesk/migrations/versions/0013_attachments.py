"""attachments: files a requester sends with a ticket or a message, stored on disk, described here

Revision ID: 0013_attachments
Revises: 0012_identities_limits
Create Date: 2026-12-01 12:30:00
"""
from collections.abc import Sequence

revision: str = '0013_attachments'
down_revision: str | None = '0012_identities_limits'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
