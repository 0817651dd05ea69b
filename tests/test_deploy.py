"""`deploy/`: the container image, compose file, Kubernetes manifests, env example and runbook.

No container engine or cluster is needed: the files are parsed and cross-checked against the
code (every setting documented once, manifests wired to each other), the shell scripts run with
a stand-in `hub`, and the runbook's database grants run against a real PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path, PurePosixPath
from typing import Any, cast

import asyncpg
import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]  # stubs: types-PyYAML, if installed

from hub.config import Settings
from hub.db.migrate import head_revision
from tests.support import image_context
from tests.support.databases import to_asyncpg_dsn

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
NAMESPACE = "care-hub"
TMP_DIR = "/tmp"  # noqa: S108 - the mount path the manifests must give a writable emptyDir

SETTINGS_NAMES = {f"HUB_{name.upper()}" for name in Settings.model_fields}
TEST_ONLY_NAMES = {"HUB_TEST_DATABASE_URL", "HUB_TEST_REDIS_URL"}
# Settings that are secrets: only ever in a Secret / the uncommitted .env, never in the image,
# a ConfigMap or compose.yaml.
SECRET_NAMES = {
    "HUB_DATABASE_URL",
    "HUB_REDIS_URL",
    "HUB_FIELD_ENCRYPTION_KEY",
    "HUB_METRICS_TOKEN",
}
CLUSTER_SCOPED = {"Namespace"}
# Deliberately outside kustomization.yaml: applying placeholders would overwrite real Secrets.
TEMPLATE_SUFFIX = ".template.yaml"


# --- helpers -------------------------------------------------------------------------------------


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    docs = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    assert docs, f"{path} holds no YAML document"
    for doc in docs:
        assert isinstance(doc, dict), f"{path}: a document is not a mapping"
    return cast(list[dict[str, Any]], docs)


def k8s_docs() -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted(K8S.glob("*.yaml"))
        if path.name != "kustomization.yaml"
        for doc in load_yaml_docs(path)
    ]


def k8s_object(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in k8s_docs() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return cast(dict[str, Any], workload["spec"]["template"]["spec"])


def only_container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = pod_spec(workload)["containers"]
    assert len(containers) == 1
    return cast(dict[str, Any], containers[0])


def compose() -> dict[str, Any]:
    docs = load_yaml_docs(DEPLOY / "compose.yaml")
    assert len(docs) == 1
    return docs[0]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (DEPLOY / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continuation"
    return instructions


def dockerfile_arg_defaults() -> dict[str, str]:
    defaults: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            defaults[name] = value
    return defaults


def expand_args(text: str) -> str:
    defaults = dockerfile_arg_defaults()
    return re.sub(r"\$\{(\w+)\}", lambda m: defaults.get(m.group(1), m.group(0)), text)


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "ENV":
            for pair in rest.split():
                name, _, value = pair.partition("=")
                env[name] = value.strip('"')
    return env


def healthcheck_command() -> list[str]:
    checks = [rest for keyword, rest in dockerfile_instructions() if keyword == "HEALTHCHECK"]
    assert len(checks) == 1, "the Dockerfile needs exactly one HEALTHCHECK"
    _, _, exec_form = checks[0].partition(" CMD ")
    command = json.loads(exec_form)
    assert isinstance(command, list)
    return [str(part) for part in command]


def format_default(value: object) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def literal_secrets(environment: object) -> list[str]:
    """Environment entries that carry a password-like literal instead of a `${...}` reference."""
    items: list[tuple[str, str]]
    if isinstance(environment, list):
        items = []
        for entry in environment:
            key, _, value = str(entry).partition("=")
            items.append((key, value))
    elif isinstance(environment, dict):
        items = [(str(k), "" if v is None else str(v)) for k, v in environment.items()]
    else:
        return []
    problems = []
    reference = re.compile(r"\$\{[^}]+\}")
    for key, value in items:
        password_like = re.search(r"PASSWORD|SECRET|TOKEN", key, re.I)
        if password_like and value and not reference.fullmatch(value):
            problems.append(key)
        # A URL's password: whatever literal is left once the ${...} references are taken out.
        if re.search(r"://[^/@]*:[^/@]+@", reference.sub("", value)):
            problems.append(key)
    return problems


def run(
    args: list[str], env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus every HUB_* variable, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(extra)
    return env


@pytest.fixture
def fake_hub(tmp_path: Path) -> Path:
    """A directory holding a stand-in `hub`: `hub version` answers; `hub migrate` fails with
    FAKE_EXIT until the FAKE_SUCCEED_ON-th call; anything else echoes its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "hub"
    script.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = version ]; then echo "care-hub 9.9.9"; exit 0; fi\n'
        'if [ "$1" != migrate ]; then echo "ran: hub $*"; exit 0; fi\n'
        "shift\n"
        'n=$(cat "$FAKE_COUNTER" 2>/dev/null || echo 0); n=$((n + 1))\n'
        'echo "$n" > "$FAKE_COUNTER"\n'
        'echo "hub migrate called with: $*"\n'
        'if [ "$n" -ge "${FAKE_SUCCEED_ON:-1}" ]; then echo "migrations: a -> b"; exit 0; fi\n'
        'exit "${FAKE_EXIT:-1}"\n'
    )
    script.chmod(0o755)
    return bin_dir


def fake_env(fake_hub: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        PATH=f"{fake_hub}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        FAKE_COUNTER=str(fake_hub / "count"),
        MIGRATE_RETRY_SECONDS="0",
        **extra,
    )


# --- YAML and Kubernetes -------------------------------------------------------------------------


def test_every_yaml_file_under_deploy_parses() -> None:
    files = sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])
    assert DEPLOY / "compose.yaml" in files
    assert K8S / "kustomization.yaml" in files
    for path in files:
        load_yaml_docs(path)


def test_every_kubernetes_document_names_itself() -> None:
    docs = k8s_docs()
    assert docs
    for doc in docs:
        where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        assert doc.get("apiVersion"), where
        assert doc.get("kind"), where
        assert doc.get("metadata", {}).get("name"), where
        if doc["kind"] not in CLUSTER_SCOPED:
            assert doc["metadata"].get("namespace") == NAMESPACE, where
    kinds = Counter(doc["kind"] for doc in docs)
    for kind in (
        "Namespace",
        "ConfigMap",
        "Secret",
        "Deployment",
        "Job",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
    ):
        assert kinds[kind] >= 1, f"no {kind} in deploy/k8s"


def test_kustomization_lists_every_manifest_and_nothing_missing() -> None:
    (kustomization,) = load_yaml_docs(K8S / "kustomization.yaml")
    listed = list(kustomization["resources"])
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    templates = {name for name in on_disk if name.endswith(TEMPLATE_SUFFIX)}
    assert templates == {"secret.template.yaml"}
    for name in listed:
        assert (K8S / name).is_file(), f"kustomization.yaml lists a missing file: {name}"
    assert set(listed) == on_disk - templates
    assert kustomization["namespace"] == NAMESPACE


def test_secret_template_holds_placeholders_only() -> None:
    secrets = load_yaml_docs(K8S / "secret.template.yaml")
    assert {s["metadata"]["name"] for s in secrets} == {"care-hub", "care-hub-migrate"}
    app = next(s for s in secrets if s["metadata"]["name"] == "care-hub")
    assert set(app["stringData"]) == SECRET_NAMES
    assert "never real secrets" in (K8S / "secret.template.yaml").read_text()
    for secret in secrets:
        assert secret["kind"] == "Secret"
        assert "data" not in secret, "use stringData placeholders, not encoded values"
        for key, value in secret["stringData"].items():
            assert key in SETTINGS_NAMES, key
            assert "REPLACE_ME" in value, f"{key} must be a placeholder"


def test_configmap_sets_production_from_known_settings_only() -> None:
    data = k8s_object("ConfigMap", "care-hub-config")["data"]
    assert set(data) <= SETTINGS_NAMES, set(data) - SETTINGS_NAMES
    assert not SECRET_NAMES & set(data), "secrets belong in a Secret"
    assert data["HUB_ENVIRONMENT"] == "production"
    assert data["HUB_INPROCESS_WORKER"] == "false"
    assert data["HUB_HOST"] == "0.0.0.0"  # noqa: S104 - inside the container
    Settings.model_validate({k.removeprefix("HUB_").lower(): v for k, v in data.items()})


def test_api_deployment_probes_readiness_and_liveness() -> None:
    api = k8s_object("Deployment", "care-hub-api")
    container = only_container(api)
    assert container["args"] == ["hub", "serve"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8000}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in ("http", 8000)
    # /readyz checks the database and Redis with 2 s timeouts each.
    assert container["readinessProbe"]["timeoutSeconds"] >= 5
    assert api["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_api_runs_at_least_two_replicas_through_its_autoscaler() -> None:
    api = k8s_object("Deployment", "care-hub-api")
    # The HPA owns the count; a fixed `replicas` would be reset on every apply.
    assert api["spec"].get("replicas", 2) >= 2
    hpa = k8s_object("HorizontalPodAutoscaler", "care-hub-api")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "care-hub-api",
    }
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]


def test_service_and_disruption_budget_select_the_api_pods() -> None:
    api = k8s_object("Deployment", "care-hub-api")
    pod_labels = api["spec"]["template"]["metadata"]["labels"]
    assert api["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    service = k8s_object("Service", "care-hub-api")
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"][0]["targetPort"] in ("http", 8000)
    pdb = k8s_object("PodDisruptionBudget", "care-hub-api")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    worker_labels = k8s_object("Deployment", "care-hub-worker")["spec"]["template"]["metadata"][
        "labels"
    ]
    assert not service["spec"]["selector"].items() <= worker_labels.items()


def test_roles_run_their_commands_with_their_secrets() -> None:
    worker = k8s_object("Deployment", "care-hub-worker")
    assert only_container(worker)["args"] == ["hub", "worker"]
    job = k8s_object("Job", "care-hub-migrate")
    assert only_container(job)["args"] == ["hub-migrate"]
    assert pod_spec(job)["restartPolicy"] == "Never"

    def secrets(workload: dict[str, Any]) -> set[str]:
        env_from = only_container(workload)["envFrom"]
        return {e["secretRef"]["name"] for e in env_from if "secretRef" in e}

    assert secrets(k8s_object("Deployment", "care-hub-api")) == {"care-hub"}
    assert secrets(worker) == {"care-hub"}
    # Only the migration holds the schema owner's credentials.
    assert secrets(job) == {"care-hub-migrate"}


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("Deployment", "care-hub-api"),
        ("Deployment", "care-hub-worker"),
        ("Job", "care-hub-migrate"),
    ],
)
def test_pods_are_hardened_and_bounded(kind: str, name: str) -> None:
    workload = k8s_object(kind, name)
    spec = pod_spec(workload)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == int(dockerfile_arg_defaults()["HUB_UID"])
    assert spec["automountServiceAccountToken"] is False
    container = only_container(workload)
    assert container["image"] == "care-hub", "set by kustomization.yaml `images`"
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts[TMP_DIR]]
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][bound]), bound
    assert {e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e} == {
        "care-hub-config"
    }


# --- env.example ---------------------------------------------------------------------------------


def test_env_example_has_one_line_per_setting_and_no_unknown_names() -> None:
    text = (DEPLOY / "env.example").read_text()
    assigned = Counter(re.findall(r"^(HUB_[A-Z0-9_]+)=", text, re.MULTILINE))
    assert set(assigned) == SETTINGS_NAMES, {
        "missing": SETTINGS_NAMES - set(assigned),
        "unknown": set(assigned) - SETTINGS_NAMES,
    }
    assert all(n == 1 for n in assigned.values()), assigned
    mentioned = set(re.findall(r"\bHUB_[A-Z0-9_]+", text))
    unknown = {n for n in mentioned - SETTINGS_NAMES if not n.startswith("HUB_TEST_")}
    assert not unknown, unknown
    for name in sorted(TEST_ONLY_NAMES):
        assert re.search(rf"^# {name}=", text, re.MULTILINE), f"{name}: commented, tests only"


def test_env_example_comments_give_each_default_and_allowed_values() -> None:
    lines = (DEPLOY / "env.example").read_text().splitlines()
    for index, line in enumerate(lines):
        match = re.match(r"(HUB_[A-Z0-9_]+)=", line)
        if not match:
            continue
        name = match.group(1)
        block: list[str] = []
        above = index - 1
        while above >= 0 and lines[above].startswith("#"):
            block.insert(0, lines[above])
            above -= 1
        assert block, f"{name} has no comment above it"
        comment = " ".join(block)
        field = Settings.model_fields[name.removeprefix("HUB_").lower()]
        assert f"Default: {format_default(field.default)}" in comment, name
        if isinstance(field.default, Enum):
            for member in type(field.default):
                assert str(member.value) in comment, (name, member)
        for constraint in field.metadata:
            for bound in ("ge", "le"):
                if hasattr(constraint, bound):
                    assert str(getattr(constraint, bound)) in comment, (name, bound)


def test_env_example_values_are_valid_settings() -> None:
    values: dict[str, str] = {}
    for line in (DEPLOY / "env.example").read_text().splitlines():
        if line.startswith("HUB_"):
            name, _, value = line.partition("=")
            if not value.startswith("CHANGE_ME"):  # a placeholder the operator must replace
                values[name] = value
    Settings.model_validate({k.removeprefix("HUB_").lower(): v for k, v in values.items()})


# --- compose -------------------------------------------------------------------------------------


def test_compose_runs_the_whole_stack_in_order() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "migrate", "api", "worker"} <= set(services)
    image = services["postgres"]["image"]
    major = re.match(r"postgres:(\d+)", image)
    assert major, image
    assert int(major.group(1)) >= 16, image
    assert services["migrate"]["command"] == ["hub-migrate"]
    assert services["api"]["command"] == ["hub", "serve"]
    assert services["worker"]["command"] == ["hub", "worker"]
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert services[name]["environment"]["HUB_INPROCESS_WORKER"] == "false"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in services["api"]
    assert services["worker"]["healthcheck"] == {"disable": True}


def test_compose_keeps_postgres_data_in_a_named_volume() -> None:
    spec = compose()
    mounts = [str(v).split(":", 1) for v in spec["services"]["postgres"]["volumes"]]
    assert mounts, "postgres has no volume"
    for source, _target in mounts:
        assert source in spec["volumes"], f"{source} is not a named volume"


def test_compose_takes_its_environment_from_the_uncommitted_env_file() -> None:
    services = compose()["services"]
    for name in ("migrate", "api", "worker"):
        env_files = services[name]["env_file"]
        paths = [e if isinstance(e, str) else e["path"] for e in env_files]
        assert paths == [".env"], name
    assert ".env" in (DEPLOY / ".gitignore").read_text().split()
    assert "**/.env" in (DEPLOY / "Dockerfile.dockerignore").read_text().split()


def test_compose_hard_codes_no_password() -> None:
    text = (DEPLOY / "compose.yaml").read_text()
    for name, service in compose()["services"].items():
        assert not literal_secrets(service.get("environment")), name
    # Anywhere in the file: after removing ${...} references, no PASSWORD= / PASSWORD: literal.
    without_references = re.sub(r"\$\{[^}]*\}", "", text)
    for line in without_references.splitlines():
        code = line.split("#", 1)[0]
        assert not re.search(r"PASSWORD[ \t]*[=:][ \t]*[^\s'\"]", code, re.I), line


@pytest.mark.parametrize(
    ("environment", "flagged"),
    [
        ({"POSTGRES_PASSWORD": "hunter2"}, True),
        (["POSTGRES_PASSWORD=hunter2"], True),
        ({"HUB_DATABASE_URL": "postgresql://hub:hunter2@db/hub"}, True),
        ({"POSTGRES_PASSWORD": "${POSTGRES_PASSWORD:?required}"}, False),
        ({"HUB_DATABASE_URL": "postgresql://hub:${POSTGRES_PASSWORD}@db/hub"}, False),
        ({"HUB_REDIS_URL": "redis://redis:6379/0"}, False),
    ],
)
def test_the_password_check_itself(environment: object, flagged: bool) -> None:
    assert bool(literal_secrets(environment)) is flagged


# --- Dockerfile ----------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_python_311_slim() -> None:
    stages = [expand_args(rest) for keyword, rest in dockerfile_instructions() if keyword == "FROM"]
    assert len(stages) >= 2, "multi-stage: build, then runtime"
    for stage in stages:
        assert stage.split()[0].startswith("python:3.11-slim"), stage
    runs = " ".join(rest for keyword, rest in dockerfile_instructions() if keyword == "RUN")
    assert "pip wheel" in runs
    assert "care_hub-*.whl" in runs
    assert "[dev]" not in runs, "no dev dependencies in the image"
    assert "-e " not in runs, "installed from the wheel, not editable"


def test_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    users = [expand_args(rest) for keyword, rest in dockerfile_instructions() if keyword == "USER"]
    assert users, "no USER: the image would run as root"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user.isdigit(), "Kubernetes runAsNonRoot can only verify a numeric USER"


def test_dockerfile_defaults_to_production_on_all_interfaces() -> None:
    env = dockerfile_env()
    assert env["HUB_ENVIRONMENT"] == "production"
    assert env["HUB_HOST"] == "0.0.0.0"  # noqa: S104 - inside the container
    assert env["HUB_PORT"] == "8000"
    assert env["HUB_INPROCESS_WORKER"] == "false"
    assert {k for k in env if k.startswith("HUB_")} <= SETTINGS_NAMES
    assert not SECRET_NAMES & set(env), "no secrets baked into the image"
    instructions = dict(dockerfile_instructions())
    assert json.loads(instructions["CMD"]) == ["hub", "serve"]
    assert json.loads(instructions["ENTRYPOINT"]) == ["hub-entrypoint"]


def test_dockerfile_copies_only_files_that_exist() -> None:
    for keyword, rest in dockerfile_instructions():
        if keyword != "COPY" or "--from=" in rest:
            continue
        parts = [p for p in rest.split() if not p.startswith("--")]
        for source in parts[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


@pytest.mark.slow
def test_image_wheel_builds_from_exactly_the_files_the_dockerfile_copies(tmp_path: Path) -> None:
    result = image_context.compare(tmp_path)
    assert not result.missing, f"the image's wheel lacks {sorted(result.missing)}"
    assert not result.extra, sorted(result.extra)
    files = image_context.wheel_files(result.image_wheel)
    for manifest in (ROOT / "mobile_contract" / "manifests").glob("*.json"):
        assert f"hub/mobile/manifests/{manifest.name}" in files
    assert "hub/cli.py" in files
    assert "connectors/supplier_rest/openapi.yaml" in files


def without_line(text: str, line: str) -> str:
    assert line in text.splitlines(), line
    return "\n".join(x for x in text.splitlines() if x != line) + "\n"


@pytest.mark.slow
def test_image_wheel_check_fails_when_the_dockerfile_forgets_a_force_included_path(
    tmp_path: Path,
) -> None:
    dockerfile = without_line(
        (DEPLOY / "Dockerfile").read_text(),
        "COPY mobile_contract/manifests ./mobile_contract/manifests",
    )
    with pytest.raises(image_context.ImageContextError, match="mobile_contract/manifests"):
        image_context.compare(tmp_path, dockerfile_text=dockerfile)


@pytest.mark.slow
def test_image_wheel_check_fails_when_the_context_silently_lacks_package_files(
    tmp_path: Path,
) -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text() + "src/hub/audit\n"
    result = image_context.compare(tmp_path, dockerignore_text=ignore)
    assert "hub/audit/__init__.py" in result.missing
    assert not result.extra


def test_image_context_reads_the_dockerignore_as_docker_does() -> None:
    patterns = image_context.ignore_patterns("**/.env\n**/__pycache__\n.git\nbench/.work\n")
    for path, expected in [
        ("deploy/.env", True),
        (".env", True),
        ("src/hub/__pycache__/cli.cpython-311.pyc", True),
        (".git/HEAD", True),
        ("bench/.work/x", True),
        ("src/hub/cli.py", False),
        ("deploy/env.example", False),
    ]:
        assert image_context.ignored(PurePosixPath(path), patterns) is expected, path


def test_dockerfile_healthcheck_probes_healthz() -> None:
    command = healthcheck_command()
    assert command[0] == "python"
    assert "/healthz" in " ".join(command)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/healthz" else 404)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = str(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        ok = run([sys.executable, *command[1:]], env=clean_env(HUB_PORT=port))
        assert ok.returncode == 0, ok.stderr
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    down = run([sys.executable, *command[1:]], env=clean_env(HUB_PORT=port))
    assert down.returncode != 0


def test_ci_renders_with_the_tool_versions_the_runbook_names() -> None:
    script = (ROOT / ".ci" / "deploy" / "render.sh").read_text()
    pins = dict(re.findall(r"^(COMPOSE_VERSION|KUBECTL_VERSION)=(\S+)$", script, re.MULTILINE))
    runbook = (DEPLOY / "README.md").read_text()
    assert f"| Docker Compose | v{pins['COMPOSE_VERSION']} " in runbook
    assert f"| kubectl | v{pins['KUBECTL_VERSION']} " in runbook
    assert "bash .ci/deploy/render.sh" in (ROOT / ".ci" / "run").read_text()
    assert "python -m tests.support.image_context" in (ROOT / ".ci" / "run").read_text()


# --- entrypoint and migrate.sh -------------------------------------------------------------------

ENTRYPOINT = DEPLOY / "docker-entrypoint.sh"
MIGRATE = DEPLOY / "migrate.sh"
URLS = {"HUB_DATABASE_URL": "postgresql://u@db/hub", "HUB_REDIS_URL": "redis://cache:6379/0"}


def test_scripts_are_strict_executable_and_parse() -> None:
    assert "set -euo pipefail" in MIGRATE.read_text()
    assert "set -eu" in ENTRYPOINT.read_text()
    for script, shell in ((MIGRATE, "bash"), (ENTRYPOINT, "sh")):
        assert os.access(script, os.X_OK), f"{script.name} is not executable"
        result = run([shell, "-n", str(script)], env=clean_env())
        assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("command", "env", "missing"),
    [
        (["hub", "serve"], {}, "HUB_DATABASE_URL"),
        (["hub", "worker"], {"HUB_DATABASE_URL": URLS["HUB_DATABASE_URL"]}, "HUB_REDIS_URL"),
        (["hub-migrate"], {}, "HUB_DATABASE_URL"),
        (["serve"], {**URLS}, "HUB_INPROCESS_WORKER"),
        (["hub", "serve"], {**URLS, "HUB_INPROCESS_WORKER": "true"}, "HUB_INPROCESS_WORKER"),
    ],
)
def test_entrypoint_refuses_production_without_its_services(
    fake_hub: Path, command: list[str], env: dict[str, str], missing: str
) -> None:
    result = run(
        ["sh", str(ENTRYPOINT), *command],
        env=fake_env(fake_hub, HUB_ENVIRONMENT="production", **env),
    )
    assert result.returncode == 2
    assert missing in result.stderr
    assert "ran:" not in result.stdout


@pytest.mark.parametrize(
    ("command", "env", "ran"),
    [
        (["hub", "serve"], {**URLS, "HUB_INPROCESS_WORKER": "False"}, "hub serve"),
        (["worker"], {**URLS}, "hub worker"),
        (["hub", "version"], {}, "care-hub 9.9.9"),
    ],
)
def test_entrypoint_execs_the_command(
    fake_hub: Path, command: list[str], env: dict[str, str], ran: str
) -> None:
    result = run(
        ["sh", str(ENTRYPOINT), *command],
        env=fake_env(fake_hub, HUB_ENVIRONMENT="production", **env),
    )
    assert result.returncode == 0, result.stderr
    assert ran in result.stdout


def test_entrypoint_leaves_development_alone(fake_hub: Path) -> None:
    result = run(["sh", str(ENTRYPOINT), "hub", "serve"], env=fake_env(fake_hub))
    assert result.returncode == 0, result.stderr
    assert "ran: hub serve" in result.stdout


def test_migrate_retries_while_the_database_is_unavailable(fake_hub: Path) -> None:
    result = run(
        ["bash", str(MIGRATE), "--check"],
        env=fake_env(
            fake_hub,
            HUB_ENVIRONMENT="production",
            HUB_DATABASE_URL="postgresql://owner:s3cret@db:5432/hub",
            FAKE_EXIT="3",
            FAKE_SUCCEED_ON="3",
        ),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("database unavailable") == 2
    assert "hub migrate called with: --check" in result.stdout
    assert "owner:***@db:5432/hub" in result.stdout
    assert "s3cret" not in result.stdout + result.stderr
    assert "[migrate] done" in result.stdout


@pytest.mark.parametrize(("code", "attempts"), [(1, 1), (2, 1), (4, 1), (3, 3)])
def test_migrate_fails_with_the_status_of_hub_migrate(
    fake_hub: Path, code: int, attempts: int
) -> None:
    result = run(
        ["bash", str(MIGRATE)],
        env=fake_env(
            fake_hub,
            HUB_DATABASE_URL="postgresql://owner@db/hub",
            FAKE_EXIT=str(code),
            FAKE_SUCCEED_ON="99",
            MIGRATE_ATTEMPTS="3",
        ),
    )
    assert result.returncode == code
    assert f"after {attempts} attempt(s)" in result.stderr
    assert (fake_hub / "count").read_text().strip() == str(attempts)


def test_migrate_refuses_production_without_a_database_url(fake_hub: Path) -> None:
    result = run(["bash", str(MIGRATE)], env=fake_env(fake_hub, HUB_ENVIRONMENT="production"))
    assert result.returncode == 2
    assert "HUB_DATABASE_URL" in result.stderr
    assert not (fake_hub / "count").exists(), "hub migrate must not run"


@pytest.mark.slow
def test_migrate_against_a_real_database(database_url: str, tmp_path: Path) -> None:
    hub_bin = Path(sys.executable).parent
    assert (hub_bin / "hub").exists()
    result = run(
        ["bash", str(MIGRATE)],
        env=clean_env(
            PATH=f"{hub_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            HUB_ENVIRONMENT="production",
            HUB_DATABASE_URL=database_url,
        ),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    head = head_revision()
    assert f"migrations: {head} -> {head}" in result.stdout
    assert "[migrate] done" in result.stdout


# --- the runbook's database grants ---------------------------------------------------------------


APPEND_ONLY = ("events", "access_log", "visit_facts", "command_log", "command_resolutions")


def readme_grants_sql() -> str:
    text = (DEPLOY / "README.md").read_text()
    _, marker, after = text.partition("<!-- app-role-grants")
    assert marker, "deploy/README.md lost its app-role-grants block"
    match = re.search(r"```sql\n(.*?)```", after, re.DOTALL)
    assert match
    return match.group(1)


def test_readme_grants_give_the_app_insert_and_select_only_on_events() -> None:
    sql = readme_grants_sql()
    for table in APPEND_ONLY:
        assert f"REVOKE ALL ON TABLE {table} FROM hub_app;" in sql
        assert f"GRANT SELECT, INSERT ON TABLE {table} TO hub_app;" in sql


@pytest.fixture
async def app_role(database_url: str) -> AsyncIterator[tuple[asyncpg.Connection, str]]:
    """A connection to a fresh, migrated database (as its owner) and a throwaway role name
    standing in for hub_app; the role is dropped afterwards."""
    conn = await asyncpg.connect(to_asyncpg_dsn(database_url))
    role = f"hub_app_test_{uuid.uuid4().hex[:8]}"
    await conn.execute(f'CREATE ROLE "{role}" NOLOGIN')
    try:
        yield conn, role
    finally:
        await conn.execute("RESET ROLE")
        await conn.execute(f'DROP OWNED BY "{role}"')
        await conn.execute(f'DROP ROLE "{role}"')
        await conn.close()


@pytest.mark.slow
async def test_readme_grants_make_the_event_log_append_only_for_the_app(
    app_role: tuple[asyncpg.Connection, str],
) -> None:
    conn, role = app_role
    owner = await conn.fetchval("SELECT tableowner FROM pg_tables WHERE tablename = 'events'")
    sql = readme_grants_sql().replace("hub_owner", f'"{owner}"').replace("hub_app", f'"{role}"')
    await conn.execute(sql)
    await conn.execute(sql)  # idempotent: the runbook says to re-run it when in doubt

    async def as_app(statement: str) -> None:
        async with conn.transaction():
            await conn.execute(f'SET LOCAL ROLE "{role}"')
            await conn.execute(statement)

    await as_app(
        "INSERT INTO events (type, subject_type, subject_id, actor, occurred_at) "
        "VALUES ('test.happened', 'test', gen_random_uuid(), 'test', now())"
    )
    await as_app(
        "INSERT INTO access_log (subject, role, fields, person_ids, row_count) "
        "VALUES ('someone', 'coordinator', '{}', '{}', 0)"
    )
    await as_app("SELECT count(*) FROM events")
    await as_app("SELECT count(*) FROM access_log")
    await as_app("SELECT version_num FROM alembic_version")
    await as_app(
        "INSERT INTO organisations (id, kind, name) VALUES (gen_random_uuid(), 'provider', 'P')"
    )
    await as_app("UPDATE organisations SET name = 'Q'")
    await as_app("DELETE FROM organisations")
    for refused in (
        "UPDATE events SET actor = 'someone else'",
        "DELETE FROM events",
        "TRUNCATE events",
        "UPDATE access_log SET subject = 'someone else'",
        "DELETE FROM access_log",
        "TRUNCATE access_log",
        "UPDATE alembic_version SET version_num = 'x'",
        "DELETE FROM alembic_version",
        "TRUNCATE alembic_version",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await as_app(refused)
    # Every table the migrations make append-only is in the runbook's list, and no other.
    protected = await conn.fetch(
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE t.tgname = c.relname || '_append_only'"
    )
    assert {row["relname"] for row in protected} == set(APPEND_ONLY)
    for refused in (
        "UPDATE visit_facts SET id = id",
        "DELETE FROM visit_facts",
        "UPDATE command_log SET id = id",
        "DELETE FROM command_log",
        "UPDATE command_resolutions SET id = id",
        "DELETE FROM command_resolutions",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await as_app(refused)
    assert await conn.fetchval("SELECT count(*) FROM events") == 1
    assert await conn.fetchval("SELECT count(*) FROM access_log") == 1
