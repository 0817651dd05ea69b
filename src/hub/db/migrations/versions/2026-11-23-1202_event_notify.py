"""event notifications for feed readers on every replica

Revision ID: 0006_event_notify
Revises: 0005_governance
Create Date: 2026-11-23 12:00:00

Owned by: issue 6 (feed). Filled in by hand or with `alembic revision --autogenerate` diffed into here.
"""

from collections.abc import Sequence

revision: str = "0006_event_notify"
down_revision: str | None = "0005_governance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
