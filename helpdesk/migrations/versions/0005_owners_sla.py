"""owners and SLA: queue membership, first-response clocks on tickets

Revision ID: 0005_owners_sla
Revises: 0004_triage
Create Date: 2026-12-01 10:00:00
"""
from collections.abc import Sequence

revision: str = '0005_owners_sla'
down_revision: str | None = '0004_triage'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
