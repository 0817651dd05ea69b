"""integrations: connector instances, raw archive, webhook inbox, cursors

Revision ID: 0007_integrations
Revises: 0006_event_notify
Create Date: 2026-11-23 12:00:00

Owned by: issue 7 (integrations). Filled in by hand or with `alembic revision --autogenerate` diffed into here.
"""

from collections.abc import Sequence

revision: str = "0007_integrations"
down_revision: str | None = "0006_event_notify"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
