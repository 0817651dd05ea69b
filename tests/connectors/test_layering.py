"""The hard rule of DESIGN.md §7: `connectors` never imports `hub` (the hub imports it)."""

from __future__ import annotations

import ast
from pathlib import Path

CONNECTORS = Path(__file__).parents[2] / "connectors"


def hub_imports(path: Path) -> list[str]:
    """`file:line module` for every absolute import of `hub` or a `hub.` submodule."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [
            f"{path.name}:{node.lineno} {name}" for name in names if name.split(".")[0] == "hub"
        ]
    return found


def test_no_connector_module_imports_hub() -> None:
    modules = sorted(CONNECTORS.rglob("*.py"))
    assert len(modules) > 10  # the walk really found the package
    assert [line for module in modules for line in hub_imports(module)] == []


def test_the_check_sees_every_form_of_hub_import(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, hub\n"
        "from hub.errors import HubError\n"
        "import hub.kit.time as t\n"
        "from hubspot import client\n"  # a different package that merely starts with "hub"
        "from . import hub as sibling\n"  # a relative import inside connectors
    )
    assert hub_imports(probe) == [
        "probe.py:1 hub",
        "probe.py:2 hub.errors",
        "probe.py:3 hub.kit.time",
    ]
