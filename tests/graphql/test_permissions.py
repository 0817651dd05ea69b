"""Every root field declares who may use it (Phoenix's test): a field added without a
permission fails here, before it can leak."""

from __future__ import annotations

from strawberry.permission import PermissionExtension
from strawberry.types.base import get_object_definition

from hub.graphql.schema import schema


def test_every_root_field_carries_a_permission() -> None:
    missing: list[str] = []
    checked = 0
    for root in (schema.query, schema.mutation, schema.subscription):
        if root is None:
            continue
        definition = get_object_definition(root, strict=True)
        for field in definition.fields:
            checked += 1
            if not any(isinstance(ext, PermissionExtension) for ext in field.extensions):
                missing.append(f"{definition.name}.{field.python_name}")
    assert checked >= 4
    assert missing == []
