#!/bin/sh
# Container entrypoint (installed as /usr/local/bin/hub-entrypoint).
#
# In production it refuses to start a role without the URLs of its shared services: with
# HUB_DATABASE_URL or HUB_REDIS_URL unset, `hub` would quietly start the embedded developer
# PostgreSQL/Redis inside the container, and `hub migrate` would migrate that throwaway database
# and report success. Then it execs the command, so the hub is PID 1 and receives SIGTERM.
#
# `docker run IMAGE worker` is accepted as a short form of `docker run IMAGE hub worker`.
set -eu

fail() {
    echo "hub-entrypoint: error: $*" >&2
    exit 2
}

case "${1:-}" in
    serve | worker | migrate | token | export-schema | version) set -- hub "$@" ;;
esac

role=""
if [ "${1:-}" = "hub" ]; then
    role="${2:-}"
elif [ "${1:-}" = "hub-migrate" ]; then
    role="migrate"
fi

if [ "${HUB_ENVIRONMENT:-development}" = "production" ]; then
    case "$role" in
        serve | worker | migrate)
            [ -n "${HUB_DATABASE_URL:-}" ] ||
                fail "HUB_DATABASE_URL is not set; production never uses the embedded PostgreSQL (see deploy/README.md)"
            ;;
    esac
    case "$role" in
        serve | worker)
            [ -n "${HUB_REDIS_URL:-}" ] ||
                fail "HUB_REDIS_URL is not set; production never uses the embedded Redis (see deploy/README.md)"
            ;;
    esac
    if [ "$role" = "serve" ]; then
        # Production runs `hub worker` as its own Deployment/service: a worker inside every API
        # replica would scale background work with HTTP traffic.
        case "$(printf '%s' "${HUB_INPROCESS_WORKER:-true}" | tr '[:upper:]' '[:lower:]')" in
            false | 0 | no | off | f | n) ;;
            *) fail "HUB_INPROCESS_WORKER must be false in production (run \`hub worker\` separately)" ;;
        esac
    fi
fi

exec "$@"
