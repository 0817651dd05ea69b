"""The README's example queries are what a newcomer pastes first: they must stay valid."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import parse, validate

from hub.graphql.schema import schema

README = Path(__file__).resolve().parents[1] / "README.md"


def test_every_graphql_example_in_the_readme_validates() -> None:
    blocks = re.findall(r"```graphql\n(.*?)```", README.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 3
    for block in blocks:
        errors = validate(schema._schema, parse(block))
        assert errors == [], (block, [e.message for e in errors])
