"""event notifications for feed readers on every replica

Revision ID: 0006_event_notify
Revises: 0005_governance
Create Date: 2026-11-23 12:00:00

Every INSERT statement on `events` sends `NOTIFY hub_events, '<highest id>:<contracts>'`:
the distinct contract ids it inserted, comma-separated, or `*` when there are more than a
hundred (a payload must stay under 8000 bytes). PostgreSQL delivers notifications only when the
inserting transaction commits (and drops them if it rolls back), so a listening hub process on
any replica wakes exactly the feeds of those contracts when something new may have settled.
The notification is only a hint: readers then read the log itself.

Two indexes serve feed readers, which walk the log in (transaction id, event id) order: the
only order in which a cursor never passes an event that a still-running transaction commits
later (see `hub.events.feed.FeedPosition`).

The append-only triggers of 0001 (`events_append_only`, `events_no_truncate`) stay as they are.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_event_notify"
down_revision: str | None = "0005_governance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_events_txid", "events", ["txid", "id"])
    op.create_index("ix_events_contract_txid", "events", ["contract_id", "txid", "id"])
    # One notification per statement, not per row: an INSERT of 500 events wakes each
    # listener once. An INSERT of no rows says nothing.
    op.execute(
        """
        CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            highest bigint;
            contract_count integer;
            contracts text := '*';
        BEGIN
            SELECT max(id), count(DISTINCT contract_id) INTO highest, contract_count
            FROM inserted;
            IF highest IS NULL THEN
                RETURN NULL;
            END IF;
            IF contract_count <= 100 THEN
                SELECT coalesce(string_agg(DISTINCT contract_id::text, ','), '') INTO contracts
                FROM inserted;
            END IF;
            PERFORM pg_notify('hub_events', highest::text || ':' || contracts);
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER events_notify AFTER INSERT ON events "
        "REFERENCING NEW TABLE AS inserted "
        "FOR EACH STATEMENT EXECUTE FUNCTION events_notify()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER events_notify ON events")
    op.execute("DROP FUNCTION events_notify()")
    op.drop_index("ix_events_contract_txid", table_name="events")
    op.drop_index("ix_events_txid", table_name="events")
