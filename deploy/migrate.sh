#!/usr/bin/env bash
# Release step: bring the database schema to the code's head with `hub migrate`, BEFORE new api
# and worker pods start (in production `hub serve` never migrates, and refuses to start against a
# database that is not at its head).
#
#   deploy/migrate.sh                      upgrade to head
#   deploy/migrate.sh --check              ... and fail if models have changes no migration holds
#   deploy/migrate.sh --downgrade <rev>    see "Rollback" in deploy/README.md first
#
# In the image this is /usr/local/bin/hub-migrate (the compose `migrate` service and the
# Kubernetes Job run it). Run it with the migration role's URL (the schema owner), not the
# application role's: the app role cannot create or alter tables.
#
# Environment:
#   HUB_DATABASE_URL         required in production (HUB_ENVIRONMENT=production)
#   MIGRATE_ATTEMPTS         tries while the database is unreachable (default 5)
#   MIGRATE_RETRY_SECONDS    pause between those tries (default 5)
#
# Exit status: 0 on success, otherwise that of `hub migrate` (2 bad configuration,
# 3 database unavailable after every attempt, 4 model drift with --check, 1 anything else,
# e.g. a failing migration, which PostgreSQL rolls back as a whole: DDL is transactional).
set -euo pipefail

attempts="${MIGRATE_ATTEMPTS:-5}"
pause="${MIGRATE_RETRY_SECONDS:-5}"
EXIT_UNAVAILABLE=3

say() { printf '[migrate] %s\n' "$*"; }
fail() {
    printf '[migrate] FAILED: %s\n' "$*" >&2
    exit "${2:-1}"
}

# The URL without its password, for the log.
redact() { sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#' <<<"$1"; }

command -v hub >/dev/null || fail "the \`hub\` command is not on PATH (install the project first)" 2
[[ "$attempts" =~ ^[1-9][0-9]*$ ]] || fail "MIGRATE_ATTEMPTS must be a positive integer" 2
[[ "$pause" =~ ^[0-9]+$ ]] || fail "MIGRATE_RETRY_SECONDS must be a whole number of seconds" 2

if [[ -z "${HUB_DATABASE_URL:-}" ]]; then
    if [[ "${HUB_ENVIRONMENT:-development}" == "production" ]]; then
        fail "HUB_DATABASE_URL is not set; production never migrates the embedded PostgreSQL" 2
    fi
    say "HUB_DATABASE_URL is not set: using a .env file in $(pwd) or the embedded PostgreSQL"
    target="(from .env or embedded)"
else
    target="$(redact "$HUB_DATABASE_URL")"
fi

say "$(hub version) (${HUB_ENVIRONMENT:-development}): hub migrate${*:+ $*} on ${target}"
started=$SECONDS
attempt=1
while :; do
    status=0
    hub migrate "$@" || status=$?
    if ((status == 0)); then
        break
    fi
    if ((status == EXIT_UNAVAILABLE && attempt < attempts)); then
        say "database unavailable (attempt ${attempt}/${attempts}); retrying in ${pause}s"
        sleep "$pause"
        attempt=$((attempt + 1))
        continue
    fi
    fail "hub migrate exited with status ${status} after ${attempt} attempt(s); nothing after this step may roll out" "$status"
done
say "done in $((SECONDS - started))s; the api and worker may now roll out"
