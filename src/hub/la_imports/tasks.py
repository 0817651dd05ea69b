"""Worker jobs of the la_imports domain.

`la_imports.process_batch` applies a large import's rows a chunk at a time. It reads the file
from the inbound archive and resumes from the batch's stored position, so it can run twice
(arq retries, a worker restart) without applying a row twice; its `_job_id` is the batch id.
"""

from __future__ import annotations

import uuid
from typing import Any

from arq.worker import func

from hub.la_imports import service

JOB_NAME = "la_imports.process_batch"


def job_id(batch_id: uuid.UUID) -> str:
    return f"{JOB_NAME}:{batch_id}"


async def process_batch(ctx: dict[str, Any], batch_id: str) -> dict[str, Any]:
    progress = await service.process(
        ctx["sessions"], batch_id=uuid.UUID(batch_id), clock=ctx["clock"]
    )
    return {
        "batch_id": batch_id,
        "status": progress.status.value,
        "processed": progress.processed,
        "total": progress.total,
    }


PROCESS_BATCH = func(process_batch, name=JOB_NAME)
