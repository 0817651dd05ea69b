"""Trusted documents: the carers' app runs only the operations in `mobile_contract/`.

The contract directory holds:

    mobile_contract/
      operations/*.graphql          the app's operations (and any fragments they share)
      release.json                  {"app": "carer-app", "version": "1.0.0"}: the release
                                    whose manifest `hub mobile-manifest` writes
      manifest.json                 the current release's manifest, generated
      manifests/<app>@<ver>.json    one frozen manifest per supported app release
      examples/*.json               real requests and responses; an example naming an
                                    `operation` has its `documentId` kept current here

A manifest is in Apollo's persisted-query format
(`{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [...]}`); each
operation's `id` is the lower-case hex SHA-256 of its `body`, and its `body` is the operation
plus the fragments it uses, printed by graphql-core (so reformatting a file does not change an
id). The app sends the id, never the text: `documentId: "sha256:<id>"` (GraphQL over HTTP,
Appendix A) or Apollo's `extensions.persistedQuery.sha256Hash`.

**The allow-list is the union of every manifest in `manifests/`**, not only the current one: an
app below the minimum version may still drain its outbox (`submitCommands`) with the documents
it shipped with. A release's manifest is removed only when no phone can still run it.

`check_contract` is CI's guard (F32): every operation of every supported manifest must still
validate against `schema/schema.graphql`, ids must be the hashes of their bodies, and the
generated files must be current. A schema change that breaks a shipped app fails the build.

Errors:

    HubError
    ├── ContractError               the contract directory cannot be read or is inconsistent
    └── DocumentRefused             a request's document cannot run (`code` says why)
        ├── PersistedDocumentNotFound   PERSISTED_DOCUMENT_NOT_FOUND: unknown or malformed id
        └── PersistedDocumentRequired   PERSISTED_DOCUMENT_REQUIRED: a carer sent query text
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    Visitor,
    build_schema,
    parse,
    print_ast,
    validate,
    visit,
)

from hub.accounts.models import Role
from hub.config import Settings
from hub.errors import ConfigurationError, HubError
from hub.mobile.versions import parse_app_version

MANIFEST_FORMAT = "apollo-persisted-query-manifest"
MANIFEST_VERSION = 1
DOCUMENT_ID_PREFIX = "sha256:"
OPERATIONS_DIR = "operations"
MANIFESTS_DIR = "manifests"
MANIFEST_FILE = "manifest.json"
RELEASE_FILE = "release.json"
EXAMPLES_DIR = "examples"

_HEX_ID = re.compile(r"^[0-9a-f]{64}$")
_APP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


class ContractError(HubError):
    """`mobile_contract/` cannot be read, or contradicts itself (`problems` lists every one)."""

    code = "MOBILE_CONTRACT_INVALID"

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


class DocumentRefused(HubError):
    """The request names no document the caller may run. Nothing was executed."""


class PersistedDocumentNotFound(DocumentRefused):
    code = "PERSISTED_DOCUMENT_NOT_FOUND"


class PersistedDocumentRequired(DocumentRefused):
    code = "PERSISTED_DOCUMENT_REQUIRED"


@dataclass(frozen=True, slots=True)
class PersistedOperation:
    """One manifest entry: `id` is the hex SHA-256 of `body` (UTF-8)."""

    id: str
    name: str
    type: str
    body: str

    @property
    def document_id(self) -> str:
        """The id as GraphQL over HTTP sends it: `sha256:<hex>`."""
        return DOCUMENT_ID_PREFIX + self.id

    def as_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "type": self.type, "body": self.body}


@dataclass(frozen=True, slots=True)
class Release:
    """The app release the current operations belong to (`release.json`)."""

    app: str
    version: str

    @property
    def manifest_name(self) -> str:
        return f"{self.app}@{self.version}.json"


def document_hash(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


# --- reading operations ---------------------------------------------------------------------


def read_operations(operations_dir: Path) -> list[PersistedOperation]:
    """Every named operation in `operations_dir/*.graphql`, each with the fragments it uses
    (from any file), by name. Parse errors, anonymous or duplicate operations, duplicate or
    missing fragments are all reported at once."""
    files = sorted(operations_dir.glob("*.graphql"))
    if not files:
        raise ContractError([f"{operations_dir}: no .graphql operation files"])
    problems: list[str] = []
    operations: list[tuple[str, OperationDefinitionNode]] = []
    fragments: dict[str, FragmentDefinitionNode] = {}
    for path in files:
        try:
            document = parse(path.read_text(encoding="utf-8"))
        except GraphQLError as error:
            problems.append(f"{path.name}: {error.message}")
            continue
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode):
                if definition.name is None:
                    problems.append(f"{path.name}: every operation needs a name")
                else:
                    operations.append((path.name, definition))
            elif isinstance(definition, FragmentDefinitionNode):
                name = definition.name.value
                if name in fragments:
                    problems.append(f"{path.name}: fragment {name} is defined twice")
                fragments[name] = definition
            else:
                problems.append(f"{path.name}: only operations and fragments belong here")
    seen: dict[str, str] = {}
    built: list[PersistedOperation] = []
    for file_name, operation in operations:
        assert operation.name is not None
        name = operation.name.value
        if name in seen:
            problems.append(f"{file_name}: operation {name} is also defined in {seen[name]}")
            continue
        seen[name] = file_name
        try:
            used = _fragments_used(operation, fragments)
        except KeyError as missing:
            problems.append(f"{file_name}: {name} spreads unknown fragment {missing.args[0]}")
            continue
        body = print_ast(DocumentNode(definitions=(operation, *used)))
        built.append(
            PersistedOperation(
                id=document_hash(body), name=name, type=operation.operation.value, body=body
            )
        )
    if problems:
        raise ContractError(problems)
    return sorted(built, key=lambda op: op.name)


def _fragments_used(
    operation: OperationDefinitionNode, fragments: Mapping[str, FragmentDefinitionNode]
) -> list[FragmentDefinitionNode]:
    """The fragments `operation` spreads, directly or through other fragments, in the order
    first reached (a stable order, so the body and its hash are too)."""
    order: list[str] = []
    pending: list[Any] = [operation]
    while pending:
        node = pending.pop(0)
        for name in _spread_names(node):
            if name not in order:
                if name not in fragments:
                    raise KeyError(name)
                order.append(name)
                pending.append(fragments[name])
    return [fragments[name] for name in order]


def _spread_names(node: Any) -> list[str]:
    names: list[str] = []

    class Spreads(Visitor):
        def enter_fragment_spread(self, spread: FragmentSpreadNode, *_args: Any) -> None:
            names.append(spread.name.value)

    visit(node, Spreads())
    return names


# --- manifests ------------------------------------------------------------------------------


def manifest_for(operations: Iterable[PersistedOperation]) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "operations": [op.as_json() for op in sorted(operations, key=lambda op: op.name)],
    }


def render_manifest(manifest: Mapping[str, Any]) -> str:
    """The manifest as committed: two-space JSON, keys in the format's order, final newline."""
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def parse_manifest(text: str, where: str) -> list[PersistedOperation]:
    """The operations of a manifest file; every malformed entry is reported."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ContractError([f"{where}: not JSON ({error.msg} at line {error.lineno})"]) from None
    if not isinstance(document, dict):
        raise ContractError([f"{where}: a manifest is a JSON object"])
    problems: list[str] = []
    if document.get("format") != MANIFEST_FORMAT or document.get("version") != MANIFEST_VERSION:
        problems.append(f"{where}: format must be {MANIFEST_FORMAT!r} version {MANIFEST_VERSION}")
    entries = document.get("operations")
    if not isinstance(entries, list):
        raise ContractError([*problems, f"{where}: `operations` must be a list"])
    operations: list[PersistedOperation] = []
    for index, entry in enumerate(entries):
        label = f"{where}: operations[{index}]"
        if not isinstance(entry, dict) or not all(
            isinstance(entry.get(key), str) for key in ("id", "name", "type", "body")
        ):
            problems.append(f"{label}: needs string id, name, type and body")
            continue
        operation = PersistedOperation(
            id=entry["id"], name=entry["name"], type=entry["type"], body=entry["body"]
        )
        if not _HEX_ID.match(operation.id) or operation.id != document_hash(operation.body):
            problems.append(f"{label} ({operation.name}): id is not the SHA-256 of its body")
            continue
        operations.append(operation)
    if problems:
        raise ContractError(problems)
    return operations


def read_release(contract_dir: Path) -> Release:
    path = contract_dir / RELEASE_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContractError([f"{path}: missing (say which app release this is)"]) from None
    except json.JSONDecodeError as error:
        raise ContractError([f"{path}: not JSON ({error.msg})"]) from None
    app = document.get("app") if isinstance(document, dict) else None
    version = document.get("version") if isinstance(document, dict) else None
    if not isinstance(app, str) or not _APP_NAME.match(app):
        raise ContractError([f"{path}: `app` must be a lower-case name like carer-app"])
    if not isinstance(version, str):
        raise ContractError([f"{path}: `version` must be a version like 1.0.0"])
    try:
        parse_app_version(version, field="version")
    except HubError:
        raise ContractError([f"{path}: `version` must be a version like 1.0.0"]) from None
    return Release(app=app, version=version)


# --- writing and checking -------------------------------------------------------------------


def write_contract(contract_dir: Path, schema_sdl: str) -> list[Path]:
    """Regenerate `manifest.json` and the current release's copy in `manifests/` from
    `operations/`; refuses (ContractError) if an operation does not validate against the
    schema. Returns the files written."""
    release = read_release(contract_dir)
    operations = read_operations(contract_dir / OPERATIONS_DIR)
    problems = validation_problems(operations, _schema(schema_sdl), where=OPERATIONS_DIR)
    if problems:
        raise ContractError(problems)
    text = render_manifest(manifest_for(operations))
    targets = [
        contract_dir / MANIFEST_FILE,
        contract_dir / MANIFESTS_DIR / release.manifest_name,
    ]
    targets[1].parent.mkdir(parents=True, exist_ok=True)
    for target in targets:
        target.write_text(text, encoding="utf-8")
    by_name = {operation.name: operation for operation in operations}
    for path, example in _examples(contract_dir):
        operation = by_name.get(example.get("operation", ""))
        body = example.get("request", {}).get("body", {})
        if operation is not None and body.get("documentId") != operation.document_id:
            body["documentId"] = operation.document_id
            path.write_text(json.dumps(example, indent=2, ensure_ascii=False) + "\n")
            targets.append(path)
    return targets


def _examples(contract_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The example exchanges (`examples/*.json`) that parse as JSON objects."""
    found: list[tuple[Path, dict[str, Any]]] = []
    for path in sorted((contract_dir / EXAMPLES_DIR).glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            continue
        if isinstance(document, dict):
            found.append((path, document))
    return found


def check_contract(contract_dir: Path, schema_sdl: str) -> list[str]:
    """Every way the contract is out of date or broken, as sentences; empty when all is well.

    - an operation in `operations/` or in any supported manifest no longer validates against
      the schema (a shipped app would break: F32);
    - a manifest entry's id is not the hash of its body;
    - `manifest.json` or the current release's copy differs from what `operations/` generates.
    """
    try:
        schema = _schema(schema_sdl)
    except ContractError as error:
        return list(error.problems)
    problems: list[str] = []
    try:
        release: Release | None = read_release(contract_dir)
    except ContractError as error:
        problems.extend(error.problems)
        release = None
    try:
        operations: list[PersistedOperation] | None = read_operations(contract_dir / OPERATIONS_DIR)
    except ContractError as error:
        problems.extend(error.problems)
        operations = None
    if operations is not None:
        problems.extend(validation_problems(operations, schema, where=OPERATIONS_DIR))
        expected = render_manifest(manifest_for(operations))
        generated = [contract_dir / MANIFEST_FILE]
        if release is not None:
            generated.append(contract_dir / MANIFESTS_DIR / release.manifest_name)
        for path in generated:
            current = path.read_text(encoding="utf-8") if path.exists() else None
            if current != expected:
                state = "missing" if current is None else "stale"
                problems.append(
                    f"{path.relative_to(contract_dir)} is {state}: run `hub mobile-manifest`"
                )
        by_name = {operation.name: operation for operation in operations}
        for path, example in _examples(contract_dir):
            name = example.get("operation")
            if name is None:
                continue
            operation = by_name.get(name)
            given = example.get("request", {}).get("body", {}).get("documentId")
            if operation is None:
                problems.append(f"{EXAMPLES_DIR}/{path.name}: no operation named {name}")
            elif given != operation.document_id:
                problems.append(
                    f"{EXAMPLES_DIR}/{path.name}: documentId of {name} is stale: run "
                    "`hub mobile-manifest`"
                )
    manifests = supported_manifest_files(contract_dir / MANIFESTS_DIR)
    if not manifests:
        problems.append(f"{MANIFESTS_DIR}/ holds no supported app manifest")
    for path in manifests:
        where = f"{MANIFESTS_DIR}/{path.name}"
        try:
            shipped = parse_manifest(path.read_text(encoding="utf-8"), where)
        except ContractError as error:
            problems.extend(error.problems)
            continue
        problems.extend(validation_problems(shipped, schema, where=where))
    return problems


def validation_problems(
    operations: Iterable[PersistedOperation], schema: GraphQLSchema, *, where: str
) -> list[str]:
    """graphql-core's `validate` of each operation's body against the schema."""
    problems: list[str] = []
    for operation in operations:
        try:
            document = parse(operation.body)
        except GraphQLError as error:
            problems.append(f"{where}: {operation.name} does not parse: {error.message}")
            continue
        for invalid in validate(schema, document):
            problems.append(f"{where}: {operation.name} no longer validates: {invalid.message}")
    return problems


def _schema(schema_sdl: str) -> GraphQLSchema:
    try:
        return build_schema(schema_sdl)
    except (GraphQLError, TypeError) as error:
        raise ContractError([f"the schema does not build: {error}"]) from None


def supported_manifest_files(manifests_dir: Path) -> list[Path]:
    """`manifests/<app>@<version>.json`, by name."""
    return sorted(manifests_dir.glob("*@*.json")) if manifests_dir.is_dir() else []


# --- the allow-list the server enforces ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DocumentRequest:
    """What a request says about its document: text, an id, or Apollo's extension."""

    query: str | None
    document_id: object = None
    extensions: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RunnableDocument:
    """What to execute: the text, and the manifest id it came from (None for sent text)."""

    query: str
    document_id: str | None = None


class TrustedDocuments:
    """The operations of every supported manifest, by id (the server's allow-list)."""

    def __init__(self, operations: Iterable[PersistedOperation]) -> None:
        self._by_id = {operation.id: operation for operation in operations}

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, document_id: str) -> PersistedOperation | None:
        """By `sha256:<hex>` or the bare hex, as manifests write it."""
        return self._by_id.get(document_id.removeprefix(DOCUMENT_ID_PREFIX))

    def document_to_run(
        self, request: DocumentRequest, *, raw_text_allowed: bool
    ) -> RunnableDocument | None:
        """The document to execute for this request.

        Carers (`raw_text_allowed=False`) must name a document by id and must not send text:
        text is refused with PERSISTED_DOCUMENT_REQUIRED even when an id comes with it, so a
        modified app cannot smuggle a document in beside a genuine id. Everyone else may send
        text as usual (it wins over an id, as Apollo's automatic persisted queries expect), or
        an id. An id that is malformed or in no supported manifest is PERSISTED_DOCUMENT_NOT_FOUND.
        None means the request carries no document at all (the view answers that as usual).
        """
        text = request.query if request.query and request.query.strip() else None
        wanted = requested_id(request)
        if not raw_text_allowed and text is not None:
            raise PersistedDocumentRequired(
                "this app may run only its trusted documents: send `documentId` "
                '("sha256:<hash>" from the manifest) instead of `query`'
            )
        if text is not None:
            return RunnableDocument(text)
        if wanted is None:
            if raw_text_allowed:
                return None
            raise PersistedDocumentRequired(
                'send `documentId` ("sha256:<hash>" from the app\'s manifest)'
            )
        operation = self.get(wanted)
        if operation is None:
            raise PersistedDocumentNotFound(
                f"no trusted document {wanted}: the app's manifest is not one this server "
                "supports (update the app)"
            )
        return RunnableDocument(operation.body, operation.document_id)


def raw_text_allowed(settings: Settings, role: Role | None) -> bool:
    """Whether a caller may send GraphQL text: everyone but carers; carers too on a
    development or test hub that allows it (`HUB_MOBILE_CARER_RAW_DOCUMENTS`), never in
    production."""
    if role is not Role.CARER:
        return True
    return settings.mobile_carer_raw_documents and not settings.is_production


def requested_id(request: DocumentRequest) -> str | None:
    """`sha256:<hex>` from `documentId` or `extensions.persistedQuery.sha256Hash`; None if
    neither is given. Malformed ids, and the two disagreeing, are refused as not found."""
    given: list[str] = []
    if request.document_id is not None:
        if not isinstance(request.document_id, str):
            raise PersistedDocumentNotFound('`documentId` must be a string "sha256:<hash>"')
        given.append(request.document_id)
    persisted = (request.extensions or {}).get("persistedQuery")
    if isinstance(persisted, Mapping) and persisted.get("sha256Hash") is not None:
        value = persisted["sha256Hash"]
        if not isinstance(value, str):
            raise PersistedDocumentNotFound("`persistedQuery.sha256Hash` must be a string")
        given.append(value if value.startswith(DOCUMENT_ID_PREFIX) else DOCUMENT_ID_PREFIX + value)
    if not given:
        return None
    if len(set(given)) > 1:
        raise PersistedDocumentNotFound(
            "`documentId` and `extensions.persistedQuery.sha256Hash` name different documents"
        )
    wanted = given[0]
    if not wanted.startswith(DOCUMENT_ID_PREFIX) or not _HEX_ID.match(
        wanted.removeprefix(DOCUMENT_ID_PREFIX)
    ):
        raise PersistedDocumentNotFound(
            f"{wanted[:80]!r} is not a document id this server knows: ids are "
            '"sha256:" and 64 lower-case hex digits'
        )
    return wanted


def load_trusted_documents(manifests_dir: Path) -> TrustedDocuments:
    """The union of every supported manifest in `manifests_dir`."""
    files = supported_manifest_files(manifests_dir)
    if not files:
        raise ConfigurationError(
            f"no trusted-document manifests in {manifests_dir}: carers could run nothing",
            code="MOBILE_MANIFESTS_MISSING",
        )
    operations: list[PersistedOperation] = []
    for path in files:
        try:
            operations.extend(parse_manifest(path.read_text(encoding="utf-8"), path.name))
        except ContractError as error:
            raise ConfigurationError(
                f"trusted-document manifest {path} is unusable: {error.message}",
                code="MOBILE_MANIFEST_INVALID",
            ) from None
    return TrustedDocuments(operations)


def manifests_directory() -> Path:
    """Where the supported manifests are: inside the installed package (the wheel carries
    `mobile_contract/manifests` as `hub/mobile/manifests`, see pyproject.toml), else the
    checkout's `mobile_contract/manifests`."""
    packaged = Path(__file__).parent / MANIFESTS_DIR
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[3] / "mobile_contract" / MANIFESTS_DIR


@functools.cache
def trusted_documents() -> TrustedDocuments:
    """The process's allow-list, read once (manifests change only with a deployment)."""
    return load_trusted_documents(manifests_directory())
