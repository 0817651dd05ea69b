"""GraphQL inputs of the la_imports domain."""

from __future__ import annotations

import base64
import binascii

import strawberry

from hub.errors import InvalidInput
from hub.la_imports.types import PortalImportFormat


@strawberry.input(description="A brokerage export to import for one contract.")
class ImportPortalFileInput:
    contract_id: strawberry.ID
    format: PortalImportFormat
    content: str = strawberry.field(
        description="The file's content: its text, or with `base64: true` its bytes in base64 "
        "(so a file is archived exactly as it was, whatever its encoding)."
    )
    filename: str = strawberry.field(description="The file's name, for the report and the log.")
    base64: bool = strawberry.field(
        default=False, description="`content` is base64 of the file's bytes."
    )

    def content_bytes(self) -> bytes:
        if not self.base64:
            return self.content.encode("utf-8")
        try:
            return base64.b64decode(self.content, validate=True)
        except (binascii.Error, ValueError) as problem:
            raise InvalidInput("content", "is not valid base64", code="INVALID_BASE64") from problem
