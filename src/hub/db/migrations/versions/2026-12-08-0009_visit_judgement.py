"""visit judgement: every visit is judged late/missed once per plan, whenever it arrives

Revision ID: 0009_visit_judgement
Revises: 0008_intake
Create Date: 2026-12-08 00:10:00

The due-visit scan used to look back a window from its previous run, so visits already past
on the first scan, visits created or imported after their time and visits moved into the past
were never judged. Each visit now carries when it was judged late and missed
(`late_judged_at`, `missed_judged_at`); the scan reads the visits not yet judged through a
partial index that holds only those still awaiting a judgement.

Backfill: a visit that already has a late or missed case is judged as of the case's opening.
Unattended visits that started more than two days before the upgrade and were never judged are
marked judged at the upgrade without an event or a case: raising months of history at once would
bury the offices' live work under cases nobody can act on (their status still reads MISSED).
Those of the last two days are judged by the first scan after the upgrade.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_visit_judgement"
down_revision: str | None = "0008_intake"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AWAITING = (
    "missed_judged_at IS NULL AND cancelled_at IS NULL "
    "AND checked_in_at IS NULL AND checked_out_at IS NULL"
)

# A visit with a late (missed) case was judged late (missed) when its first such case opened.
JUDGED_LATE_FROM_CASES = """
    UPDATE visits SET late_judged_at = cases.opened_at
    FROM (
        SELECT visit_id, min(opened_at) AS opened_at FROM exception_cases
        WHERE rule = 'visit_late' AND subject_type = 'visit' AND visit_id IS NOT NULL
        GROUP BY visit_id
    ) AS cases
    WHERE cases.visit_id = visits.id
"""
JUDGED_MISSED_FROM_CASES = """
    UPDATE visits SET missed_judged_at = cases.opened_at
    FROM (
        SELECT visit_id, min(opened_at) AS opened_at FROM exception_cases
        WHERE rule = 'visit_missed' AND subject_type = 'visit' AND visit_id IS NOT NULL
        GROUP BY visit_id
    ) AS cases
    WHERE cases.visit_id = visits.id
"""
HISTORY_JUDGED_AT_UPGRADE = """
    UPDATE visits
    SET late_judged_at = coalesce(late_judged_at, now()), missed_judged_at = now()
    WHERE missed_judged_at IS NULL AND cancelled_at IS NULL
      AND checked_in_at IS NULL AND checked_out_at IS NULL
      AND planned_start < now() - interval '2 days'
"""


def upgrade() -> None:
    op.add_column("visits", sa.Column("late_judged_at", sa.DateTime(timezone=True)))
    op.add_column("visits", sa.Column("missed_judged_at", sa.DateTime(timezone=True)))
    op.execute(JUDGED_LATE_FROM_CASES)
    op.execute(JUDGED_MISSED_FROM_CASES)
    op.execute(HISTORY_JUDGED_AT_UPGRADE)
    op.create_index(
        "ix_visits_awaiting_judgement",
        "visits",
        ["planned_start"],
        unique=False,
        postgresql_where=sa.text(AWAITING),
    )


def downgrade() -> None:
    op.drop_index(
        "ix_visits_awaiting_judgement", table_name="visits", postgresql_where=sa.text(AWAITING)
    )
    op.drop_column("visits", "missed_judged_at")
    op.drop_column("visits", "late_judged_at")
