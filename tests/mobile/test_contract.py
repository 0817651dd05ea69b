"""mobile_contract/ as CI sees it: the manifests are current, every operation of every
supported app release validates against the schema, and a schema change that would break a
shipped app fails the check (F32)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from graphql import parse

from hub.cli import EXIT_DRIFT, main
from hub.graphql.limits import GraphQLLimits, measure
from hub.graphql.schema import schema, schema_sdl
from hub.mobile.documents import (
    MANIFEST_FORMAT,
    check_contract,
    read_operations,
    read_release,
    validation_problems,
    write_contract,
)
from hub.mobile.documents import _schema as build_sdl_schema
from tests.mobile.app_client import CONTRACT

APP_FLOWS = {"RotaPull", "VisitDetail", "RegisterDevice", "SubmitCommands", "ReportOutbox"}


@pytest.fixture
def contract_copy(tmp_path: Path) -> Path:
    target = tmp_path / "mobile_contract"
    shutil.copytree(CONTRACT, target)
    return target


def test_the_committed_contract_is_current_and_valid() -> None:
    """What `hub mobile-manifest --check` runs in CI, against the schema the code exports."""
    assert check_contract(CONTRACT, schema_sdl()) == []


def test_every_operation_validates_and_fits_the_production_limits() -> None:
    operations = read_operations(CONTRACT / "operations")
    assert {operation.name for operation in operations} >= APP_FLOWS
    assert validation_problems(operations, build_sdl_schema(schema_sdl()), where="operations") == []
    limits = GraphQLLimits()
    for operation in operations:
        [measured] = measure(schema._schema, parse(operation.body), limits).values()
        assert measured.depth <= limits.max_depth, operation.name
        assert measured.aliases <= limits.max_aliases, operation.name
        assert measured.cost <= limits.max_cost, operation.name


def test_the_manifest_is_in_apollo_format_with_sha256_ids() -> None:
    document = json.loads((CONTRACT / "manifest.json").read_text())
    assert document["format"] == MANIFEST_FORMAT == "apollo-persisted-query-manifest"
    assert document["version"] == 1
    for entry in document["operations"]:
        assert set(entry) == {"id", "name", "type", "body"}
        assert entry["id"] == hashlib.sha256(entry["body"].encode()).hexdigest()
        assert entry["type"] in ("query", "mutation", "subscription")
    release = read_release(CONTRACT)
    shipped = CONTRACT / "manifests" / release.manifest_name
    assert shipped.read_text() == (CONTRACT / "manifest.json").read_text()


def test_a_schema_change_that_breaks_a_shipped_operation_fails_the_check(
    contract_copy: Path,
) -> None:
    """F32: removing a field a supported app selects fails, naming the operation."""
    sdl = schema_sdl()
    assert "  keySafeCode: String\n" in sdl
    broken = sdl.replace("  keySafeCode: String\n", "  doorCode: String\n", 1)  # a rename
    problems = check_contract(contract_copy, broken)
    assert problems
    assert any("RotaPull no longer validates" in problem for problem in problems)
    assert any("keySafeCode" in problem for problem in problems)
    assert all(problem.startswith(("operations", "manifests/")) for problem in problems)


def test_an_old_release_still_in_use_is_checked_too(contract_copy: Path) -> None:
    """A release whose operations left `operations/` still has phones in the field: its
    manifest keeps being validated, so the schema cannot drop what it uses."""
    old = {
        "format": MANIFEST_FORMAT,
        "version": 1,
        "operations": [
            _entry("OldRota", "query Old { mobileChanges { __typename } }"),
        ],
    }
    (contract_copy / "manifests" / "carer-app@0.9.0.json").write_text(json.dumps(old))
    problems = check_contract(contract_copy, schema_sdl())
    assert len(problems) == 2
    for problem, argument in zip(problems, ("deviceId", "appVersion"), strict=True):
        assert problem.startswith("manifests/carer-app@0.9.0.json: OldRota no longer validates")
        assert f"mobileChanges({argument}:)" in problem


def test_a_tampered_manifest_and_stale_files_are_reported(contract_copy: Path) -> None:
    shipped = contract_copy / "manifests" / read_release(contract_copy).manifest_name
    document = json.loads(shipped.read_text())
    document["operations"][0]["body"] += "\n"
    shipped.write_text(json.dumps(document, indent=2) + "\n")
    (contract_copy / "manifest.json").unlink()
    problems = check_contract(contract_copy, schema_sdl())
    assert "manifest.json is missing: run `hub mobile-manifest`" in problems
    assert f"manifests/{shipped.name} is stale: run `hub mobile-manifest`" in problems
    assert any("id is not the SHA-256 of its body" in problem for problem in problems)


def test_an_operation_edit_makes_the_manifest_stale_until_regenerated(
    contract_copy: Path,
) -> None:
    operation = contract_copy / "operations" / "visit-detail.graphql"
    operation.write_text(operation.read_text().replace("serverTime\n", "serverTime\n", 1) + "\n")
    assert check_contract(contract_copy, schema_sdl()) == []  # formatting: same ids
    operation.write_text(operation.read_text().replace("      serverTime\n", "", 1))
    assert any("stale" in problem for problem in check_contract(contract_copy, schema_sdl()))
    write_contract(contract_copy, schema_sdl())
    assert check_contract(contract_copy, schema_sdl()) == []


def test_the_examples_document_ids_are_kept_current(contract_copy: Path) -> None:
    example = contract_copy / "examples" / "visit-detail.json"
    document = json.loads(example.read_text())
    current = document["request"]["body"]["documentId"]
    document["request"]["body"]["documentId"] = "sha256:" + "1" * 64
    example.write_text(json.dumps(document, indent=2) + "\n")
    assert check_contract(contract_copy, schema_sdl()) == [
        "examples/visit-detail.json: documentId of VisitDetail is stale: run `hub mobile-manifest`"
    ]
    assert example in write_contract(contract_copy, schema_sdl())
    assert json.loads(example.read_text())["request"]["body"]["documentId"] == current
    assert check_contract(contract_copy, schema_sdl()) == []


def test_the_cli_check_exits_4_on_drift_and_names_the_problem(
    contract_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    schema_file = tmp_path / "schema.graphql"
    schema_file.write_text(schema_sdl())
    arguments = ["mobile-manifest", "--contract", str(contract_copy), "--schema", str(schema_file)]
    main([*arguments, "--check"])
    assert "up to date" in capsys.readouterr().out

    schema_file.write_text(schema_sdl().replace("  keySafeCode: String\n", "  doorCode: String\n"))
    with pytest.raises(SystemExit) as exited:
        main([*arguments, "--check"])
    assert exited.value.code == EXIT_DRIFT
    err = capsys.readouterr().err
    assert "RotaPull no longer validates" in err
    assert err.strip().splitlines()[-1].startswith("hub: error: ")

    with pytest.raises(SystemExit) as refused:
        main(arguments)  # writing refuses operations the schema rejects
    assert refused.value.code == 1
    assert "manifest not written" in capsys.readouterr().err


def _entry(name: str, body: str) -> dict[str, str]:
    return {
        "id": hashlib.sha256(body.encode()).hexdigest(),
        "name": name,
        "type": "query",
        "body": body,
    }
