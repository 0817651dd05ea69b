"""Count the SQL statements an engine executes: N+1 regressions show up as counts that grow
with list sizes, which no timing test can see reliably."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass
class StatementLog:
    statements: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def queries(self) -> list[str]:
        """The statements that read data (BEGIN/COMMIT and friends left out)."""
        return [s for s in self.statements if s.lstrip().upper().startswith(("SELECT", "WITH"))]


@contextmanager
def counting_statements(engine: AsyncEngine) -> Iterator[StatementLog]:
    log = StatementLog()

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        log.statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield log
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)
