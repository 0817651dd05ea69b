"""governance: exception cases, escalation, actions

Revision ID: 0005_governance
Revises: 0004_field_facts_mobile
Create Date: 2026-11-23 12:00:00

Owned by: issue 6 (governance). Filled in by hand or with `alembic revision --autogenerate` diffed into here.
"""

from collections.abc import Sequence

revision: str = "0005_governance"
down_revision: str | None = "0004_field_facts_mobile"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
