"""field facts (visits) and the mobile command log

Revision ID: 0004_field_facts_mobile
Revises: 0003_care_graph
Create Date: 2026-11-23 12:00:00

Owned by: issue 5 (visits facts, mobile). Filled in by hand or with `alembic revision --autogenerate` diffed into here.
"""

from collections.abc import Sequence

revision: str = "0004_field_facts_mobile"
down_revision: str | None = "0003_care_graph"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
