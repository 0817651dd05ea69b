#!/usr/bin/env bash
# Start a hub (embedded PostgreSQL and Redis in a temporary directory), run the graphql-http
# conformance audit against it, stop it. Fails on any audit warning or failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
hub="$root/.venv/bin/hub"
python="$root/.venv/bin/python"

(cd "$here" && npm ci --no-audit --no-fund --silent)

data_dir="$(mktemp -d)"
port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
HUB_DATA_DIR="$data_dir" HUB_LOG_LEVEL=warning "$hub" serve --port "$port" >"$data_dir/hub.log" 2>&1 &
hub_pid=$!
stop_hub() {
  kill -INT "$hub_pid" 2>/dev/null || true
  wait "$hub_pid" 2>/dev/null || true
  rm -rf "$data_dir"
}
trap stop_hub EXIT

"$python" - "$port" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/readyz"
deadline = time.monotonic() + 90
while time.monotonic() < deadline:
    try:
        if urllib.request.urlopen(url, timeout=1).status == 200:
            sys.exit(0)
    except Exception:
        time.sleep(0.3)
sys.exit("the hub did not become ready for the audit")
PY

node "$here/audit.mjs" "http://127.0.0.1:$port/graphql"
