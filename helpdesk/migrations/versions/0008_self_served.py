"""self-served tickets and the best suggestion's score: deflection counted, knowledge gaps found

Revision ID: 0008_self_served
Revises: 0007_incidents
Create Date: 2026-12-01 12:05:00
"""
from collections.abc import Sequence

revision: str = '0008_self_served'
down_revision: str | None = '0007_incidents'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
