"""intake: FHIR referral messages and local-authority portal imports

Revision ID: 0008_intake
Revises: 0007_integrations
Create Date: 2026-11-23 12:00:00

Owned by: issue 7 (fhir, la_imports). Filled in by hand or with `alembic revision --autogenerate` diffed into here.
"""

from collections.abc import Sequence

revision: str = "0008_intake"
down_revision: str | None = "0007_integrations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
