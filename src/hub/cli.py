"""`hub`: serve, worker, migrate, export-schema, mobile-manifest, import-portal, version.

Failures (port in use, database unreachable, bad configuration) exit non-zero with one clear
line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import os
import signal
import socket
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

import hub
from hub.config import Settings
from hub.errors import ConfigurationError, HubError

if TYPE_CHECKING:
    from hub.embedded import ServiceEndpoints

EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 3
EXIT_DRIFT = 4
EXIT_INVALID_ROWS = 5


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _fail(message: str, exit_code: int) -> NoReturn:
    raise CliError(message, exit_code)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"HUB_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        _fail(f"bad configuration: {problems}", EXIT_CONFIG)


def redact(url: str) -> str:
    """A URL with its password replaced, for messages and logs."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


def _check_port_free(host: str, port: int) -> None:
    with socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM
    ) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                _fail(
                    f"port {port} on {host} is already in use (set HUB_PORT or --port)", EXIT_CONFIG
                )
            _fail(f"cannot listen on {host}:{port}: {exc.strerror}", EXIT_CONFIG)


def _sigterm_to_system_exit(signum: int, frame: FrameType | None) -> None:
    # uvicorn re-raises the stop signal after its own shutdown; as SystemExit it unwinds
    # through our `finally` blocks so the embedded servers stop too.
    raise SystemExit(128 + signum)


async def _prepare_database(
    database_url: str, *, migrate: bool, demo: bool, settings: Settings
) -> str:
    from hub.db.engine import create_engine, create_session_factory
    from hub.db.migrate import current_revision, database_is_behind, head_revision, upgrade
    from hub.demo import load_demo
    from hub.kit.time import SystemClock

    engine = create_engine(database_url, pool_size=2, max_overflow=0)
    try:
        try:
            if migrate:
                await upgrade(engine)
            revision = await current_revision(engine)
        except (TimeoutError, OSError) as exc:
            _fail(f"database unreachable at {redact(database_url)}: {exc}", EXIT_UNAVAILABLE)
        except Exception as exc:
            if type(exc).__module__.startswith(("asyncpg", "sqlalchemy")):
                _fail(f"database error at {redact(database_url)}: {exc}", EXIT_UNAVAILABLE)
            raise
        if database_is_behind(revision):
            _fail(
                f"database is at migration {revision}, code expects {head_revision()}: "
                "run `hub migrate`",
                EXIT_UNAVAILABLE,
            )
        if demo:
            counts = await load_demo(create_session_factory(engine), SystemClock(), settings)
            summary = ", ".join(f"{n} {_label(what, n)}" for what, n in counts.items())
            _say(f"demo data loaded: {summary}", "hub.demo_loaded", counts=counts)
        return revision or "none"
    finally:
        await engine.dispose()


def _label(kind: str, count: int) -> str:
    """'change_requests' → 'change request(s)' as English: '1 contract', '40 packages'."""
    words = kind.replace("_", " ")
    if count == 1 and words.endswith("s"):
        return words[:-1]
    return words


async def _check_redis(redis_url: str) -> None:
    """One ping with short timeouts, so an unreachable Redis is one line, not arq's retries
    and a lifespan traceback."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client: Redis = Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except (RedisError, OSError, TimeoutError) as exc:
        _fail(f"redis unreachable at {redact(redis_url)}: {exc}", EXIT_UNAVAILABLE)
    finally:
        await client.aclose()


def _say(message: str, event: str, **fields: object) -> None:
    """A message for the operator: a plain line, or one JSON log line under HUB_LOG_JSON."""
    from hub.logging import json_line, json_logs

    if json_logs():
        print(json_line(event, "info", message=message, **fields), file=sys.stderr, flush=True)
    else:
        print(message, file=sys.stderr, flush=True)


def cmd_serve(args: argparse.Namespace) -> None:
    from hub.embedded import DataDirInUse, provide_services
    from hub.logging import configure_logging

    settings = load_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    if args.demo and settings.is_production:
        _fail("--demo is refused in production", EXIT_CONFIG)
    if settings.is_production and (settings.database_url is None or settings.redis_url is None):
        _fail(
            "production needs HUB_DATABASE_URL and HUB_REDIS_URL: the embedded servers are for "
            "development only",
            EXIT_CONFIG,
        )
    configure_logging(settings.log_level, json=settings.log_json)
    _check_port_free(host, port)
    signal.signal(signal.SIGTERM, _sigterm_to_system_exit)

    try:
        with provide_services(
            settings.database_url, settings.redis_url, settings.data_dir, owner=True
        ) as services:
            _serve(args, settings, services, host, port)
    except DataDirInUse as exc:  # raised on entering, before anything started
        _fail(str(exc), EXIT_CONFIG)


def _serve(
    args: argparse.Namespace, settings: Settings, services: ServiceEndpoints, host: str, port: int
) -> None:
    import uvicorn

    from hub.app import create_app

    if not services.embedded_redis:
        asyncio.run(_check_redis(services.redis_url))
    # Production migrates as a release step (deploy/migrate.sh), never at start-up.
    migrate = not settings.is_production or services.embedded_database
    asyncio.run(
        _prepare_database(services.database_url, migrate=migrate, demo=args.demo, settings=settings)
    )
    app = create_app(settings, database_url=services.database_url, redis_url=services.redis_url)
    shown_host = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host  # noqa: S104
    url = f"http://{shown_host}:{port}/graphql"

    def announce() -> None:
        # Only now: the lifespan has opened everything and started the worker, and the
        # socket listens. A failure before this point is one line and a non-zero exit.
        _say(f"Care Hub {hub.__version__} is running: open {url}", "hub.ready", url=url)
        if services.embedded_database and not settings.log_json:
            print(
                f"  embedded PostgreSQL data: {settings.data_dir.resolve() / 'pg'}",
                file=sys.stderr,
            )
        if not settings.log_json:
            print("  stop with Ctrl-C", file=sys.stderr, flush=True)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level,
        # Our logging configuration renders uvicorn's records (one format, see hub.logging).
        log_config=None,
        access_log=False,
        lifespan="on",
        ws="websockets-sansio",
        timeout_graceful_shutdown=10,
    )
    _announcing_server(config, announce).run()


def _announcing_server(config: Any, announce: Callable[[], None]) -> Any:
    """uvicorn's server, announcing the hub once it listens (uvicorn exits on a failed start)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if not self.should_exit:
                announce()

    return Server(config)


def cmd_worker(args: argparse.Namespace) -> None:
    from hub.graphql.schema import schema
    from hub.logging import configure_logging
    from hub.metrics import HubMetrics
    from hub.runtime import Runtime
    from hub.worker import build_worker, supervise
    from hub.worker_pulse import WorkerPulse

    settings = load_settings()
    if settings.database_url is None or settings.redis_url is None:
        _fail(
            "`hub worker` runs beside a shared database and Redis: set HUB_DATABASE_URL and "
            "HUB_REDIS_URL (with neither, `hub serve` runs the worker in-process)",
            EXIT_CONFIG,
        )
    configure_logging(settings.log_level, json=settings.log_json)
    signal.signal(signal.SIGTERM, _sigterm_to_system_exit)
    asyncio.run(_check_redis(settings.redis_url))

    async def run() -> None:
        assert settings.database_url is not None
        assert settings.redis_url is not None
        runtime = await Runtime.open(
            settings,
            database_url=settings.database_url,
            redis_url=settings.redis_url,
            schema=schema,
            metrics=HubMetrics(),
        )
        pulse = WorkerPulse(alive_file=None if args.burst else settings.worker_alive_file)
        # arq's own handlers turn SIGINT/SIGTERM into a graceful stop of running jobs; while
        # the worker waits out a Redis outage its loop is not running, so the signal also
        # cancels the supervisor.
        worker = build_worker(runtime, burst=args.burst, handle_signals=True, pulse=pulse)
        supervisor = asyncio.current_task()
        assert supervisor is not None

        def stop_supervisor(signum: signal.Signals) -> None:
            supervisor.cancel()

        worker.on_stop = stop_supervisor
        _say("hub worker: running", "worker.started", pid=os.getpid())
        try:
            await supervise(worker)
        except asyncio.CancelledError:
            _say("hub worker: stopped", "worker.stopped")
        finally:
            jobs = [job for job in worker.tasks.values() if not job.done()]
            if jobs:
                await asyncio.wait(jobs, timeout=10)
            # The pool belongs to the runtime (worker.close() would close it a second time).
            await runtime.close()
            if pulse.alive_file is not None:
                pulse.alive_file.unlink(missing_ok=True)

    asyncio.run(run())


def cmd_worker_check(args: argparse.Namespace) -> None:
    """Liveness of the `hub worker` on this machine (its container): exit 0 when alive.
    Probes call `python -m hub.worker_pulse`, the same check without the CLI's imports."""
    from hub.worker_pulse import check_alive

    settings = load_settings()
    limit = settings.worker_heartbeat_seconds * settings.worker_stale_after_beats
    alive, message = check_alive(settings.worker_alive_file, limit)
    if not alive:
        _fail(message, 1)
    print(message)


def cmd_migrate(args: argparse.Namespace) -> None:
    from hub.db.engine import create_engine
    from hub.db.migrate import current_revision, downgrade, pending_model_changes, upgrade
    from hub.embedded import provide_services
    from hub.logging import configure_logging

    settings = load_settings()
    configure_logging("warning", json=settings.log_json)

    async def run(database_url: str) -> None:
        engine = create_engine(database_url, pool_size=1, max_overflow=0)
        try:
            before = await current_revision(engine)
            if args.downgrade:
                await downgrade(engine, args.downgrade)
            else:
                await upgrade(engine, args.revision)
            after = await current_revision(engine)
            print(f"migrations: {before or 'empty'} -> {after or 'empty'}")
            if args.check:
                changes = await pending_model_changes(engine)
                if changes:
                    for change in changes:
                        print(f"  not in a migration: {change}", file=sys.stderr)
                    _fail(f"{len(changes)} model change(s) have no migration", EXIT_DRIFT)
                print("models and migrations agree")
        except (TimeoutError, OSError) as exc:
            _fail(f"database unreachable at {redact(database_url)}: {exc}", EXIT_UNAVAILABLE)
        finally:
            await engine.dispose()

    with provide_services(
        settings.database_url, settings.redis_url or "redis://unused", settings.data_dir
    ) as services:
        asyncio.run(run(services.database_url))


def _staff_id(given: str) -> uuid.UUID:
    """`--staff` as GraphQL shows it (a StaffMember's global `id`) or as the database holds it
    (a UUID)."""
    from hub.errors import InvalidInput
    from hub.graphql.ids import expect_global_id

    try:
        return uuid.UUID(given)
    except ValueError:
        pass
    try:
        return expect_global_id(given, "StaffMember", field="--staff")
    except InvalidInput:
        _fail(
            f"--staff must be a staff member's id as GraphQL shows it (StaffMember.id) "
            f"or a UUID; got {given!r}",
            EXIT_CONFIG,
        )


def cmd_token(args: argparse.Namespace) -> None:
    """Register (or update) a development account and print a signed token for it."""
    from datetime import timedelta

    from hub.accounts import service as accounts
    from hub.accounts.models import Role
    from hub.auth.setup import development_issuer
    from hub.db.engine import create_engine, create_session_factory
    from hub.db.uow import unit_of_work
    from hub.embedded import provide_services
    from hub.kit.time import SystemClock
    from hub.logging import configure_logging
    from hub.organisations import repository as organisations

    settings = load_settings()
    if settings.is_production:
        _fail("`hub token` is a development tool and is refused in production", EXIT_CONFIG)
    if not settings.uses_development_issuer:
        _fail("tokens come from your identity provider here (HUB_AUTH_JWKS_* is set)", EXIT_CONFIG)
    configure_logging("warning", json=settings.log_json)
    role = Role(args.role)
    is_client = role in (Role.PARTNER_CLIENT, Role.SUPPLIER_CLIENT)
    staff_id = _staff_id(args.staff) if args.staff else None
    clock = SystemClock()

    async def run(database_url: str) -> str:
        engine = create_engine(database_url, pool_size=1, max_overflow=0)
        try:
            sessions = create_session_factory(engine)
            async with unit_of_work(sessions) as session:
                organisation_id = None
                if args.organisation:
                    organisation = None
                    try:
                        organisation = await organisations.get(
                            session, uuid.UUID(args.organisation)
                        )
                    except ValueError:
                        organisation = await organisations.get_by_ods_code(
                            session, args.organisation
                        ) or await organisations.get_by_name(session, args.organisation)
                    if organisation is None:
                        _fail(
                            f"no organisation {args.organisation!r} "
                            "(give its id, ODS code or exact name)",
                            EXIT_CONFIG,
                        )
                    organisation_id = organisation.id
                subject = args.subject or (
                    args.client_id
                    if is_client
                    else f"dev-{role.value}-{staff_id or organisation_id or 'admin'}"
                )
                account = await accounts.register(
                    session,
                    issuer=settings.auth_issuer,
                    subject=subject,
                    role=role,
                    display_name=args.name or subject,
                    organisation_id=organisation_id,
                    staff_id=staff_id,
                    scopes=args.scopes.split() if args.scopes else (),
                    actor="system:hub-token",
                    clock=clock,
                )
                if not account.active:
                    # Raised inside the unit of work: nothing about the account is changed.
                    _fail(
                        f"account {subject!r} is switched off; an admin switches it on "
                        "(switchOnAccount) before it gets a token",
                        EXIT_CONFIG,
                    )
        finally:
            await engine.dispose()
        issuer = development_issuer(settings, clock)
        claims = {"client_id": subject, "scope": args.scopes or ""} if is_client else {}
        return issuer.mint(subject, claims, ttl=timedelta(minutes=args.ttl_minutes))

    with provide_services(settings.database_url, "redis://unused", settings.data_dir) as services:
        print(asyncio.run(run(services.database_url)))


def cmd_export_schema(args: argparse.Namespace) -> None:
    from hub.graphql.schema import schema_sdl

    path = Path(args.path)
    sdl = schema_sdl()
    if args.check:
        current = path.read_text() if path.exists() else ""
        if current != sdl:
            _fail(
                f"{path} is not what the code exports: run `hub export-schema` and commit it",
                EXIT_DRIFT,
            )
        print(f"{path} matches the code")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sdl)
    print(f"wrote {path} ({len(sdl.splitlines())} lines)")


def cmd_mobile_manifest(args: argparse.Namespace) -> None:
    """Write (or with --check, verify) the trusted-document manifests of mobile_contract/."""
    from hub.mobile.documents import ContractError, check_contract, write_contract

    contract = Path(args.contract)
    schema_path = Path(args.schema)
    if not schema_path.exists():
        _fail(f"{schema_path} not found: run `hub export-schema` first", EXIT_CONFIG)
    sdl = schema_path.read_text()
    if args.check:
        problems = check_contract(contract, sdl)
        if problems:
            for problem in problems:
                print(f"  {problem}", file=sys.stderr)
            _fail(
                f"{contract} has {len(problems)} problem(s) against {schema_path}: fix the "
                "operations or the schema, then run `hub mobile-manifest`",
                EXIT_DRIFT,
            )
        print(f"{contract}: every supported manifest validates against {schema_path}; up to date")
        return
    try:
        written = write_contract(contract, sdl)
    except ContractError as error:
        for problem in error.problems:
            print(f"  {problem}", file=sys.stderr)
        _fail(f"{contract}: manifest not written ({len(error.problems)} problem(s))", 1)
    print(f"wrote {', '.join(str(path) for path in written)}")


# Rows `hub import-portal` names on stderr; the rest are in GraphQL (portalImport).
REPORT_ROWS = 50


def cmd_import_portal(args: argparse.Namespace) -> None:
    """Import a council's brokerage export for a contract, showing progress as rows apply.

    Exits 0 when every row was applied or was already held, EXIT_INVALID_ROWS when some rows
    are invalid (listed on stderr; they are kept for correction and re-import), 1 when the
    file could not be read at all (it is kept in the inbound archive either way)."""
    from hub.db.engine import create_engine, create_session_factory
    from hub.db.uow import read_only
    from hub.embedded import provide_services
    from hub.kit.time import SystemClock
    from hub.la_imports import repository, service
    from hub.la_imports.models import BatchStatus, ImportFormat
    from hub.logging import configure_logging
    from hub.tenancy import AccessScope

    settings = load_settings()
    configure_logging("warning", json=settings.log_json)
    path = Path(args.file)
    try:
        content = path.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {path}: {exc.strerror}", EXIT_CONFIG)
    chosen = args.format or ("json" if path.suffix.lower() == ".json" else "csv")
    if args.chunk_size < 1:
        _fail("--chunk-size must be at least 1", EXIT_CONFIG)

    def show(progress: service.Progress) -> None:
        print(
            f"  {progress.processed}/{progress.total} rows: {progress.applied} applied, "
            f"{progress.unchanged} unchanged, {progress.invalid} invalid",
            file=sys.stderr,
        )

    async def run(database_url: str) -> int:
        engine = create_engine(database_url, pool_size=2, max_overflow=0)
        try:
            sessions = create_session_factory(engine)
            async with read_only(sessions) as session:
                contract = await repository.contract_by_reference(session, args.contract)
            if contract is None:
                _fail(f"no contract {args.contract!r} (give its reference)", EXIT_CONFIG)
            progress = await service.import_file(
                sessions,
                scope=AccessScope.system(),
                actor="system:hub-import-portal",
                clock=SystemClock(),
                contract_id=contract.id,
                format=ImportFormat(chosen),
                filename=path.name,
                content=content,
                chunk_size=args.chunk_size,
                on_progress=show,
            )
            async with read_only(sessions) as session:
                batch = await repository.get_batch(session, AccessScope.system(), progress.batch_id)
                # Invalid rows and rows with warnings, each named with its problems.
                flagged = await repository.list_rows(
                    session, progress.batch_id, limit=REPORT_ROWS, with_problems=True
                )
        finally:
            await engine.dispose()
        assert batch is not None
        if batch.status is BatchStatus.REJECTED:
            _fail(
                f"{path.name} was not imported: {batch.error_message} (kept in the inbound "
                f"archive; import {batch.id})",
                1,
            )
        print(
            f"import {batch.id} of {path.name} for contract {args.contract}: {batch.total_rows} "
            f"rows, {batch.applied_rows} applied, {batch.unchanged_rows} unchanged, "
            f"{batch.invalid_rows} invalid, {batch.warning_rows} with warnings"
        )
        for row in flagged:
            for problem in row.problems:
                where = f", {problem['column']}" if problem.get("column") else ""
                label = "warning: " if problem.get("severity") == "warning" else ""
                print(
                    f"  row {row.row_number}{where}: {label}{problem['problem']}", file=sys.stderr
                )
        if batch.invalid_rows + batch.warning_rows > len(flagged):
            print("  … and more: see portalImport in GraphQL", file=sys.stderr)
        return EXIT_INVALID_ROWS if batch.invalid_rows else 0

    with provide_services(settings.database_url, "redis://unused", settings.data_dir) as services:
        code = asyncio.run(run(services.database_url))
    if code:
        sys.exit(code)


def cmd_supplier_demo_records(args: argparse.Namespace) -> None:
    """Write the demo provider's rota as the reference supplier server's dataset (JSON)."""
    import json

    from hub.db.engine import create_engine, create_session_factory
    from hub.db.uow import read_only
    from hub.demo import DEMO_STAFF_SOURCE, demo_id
    from hub.embedded import provide_services
    from hub.integrations.demo import supplier_dataset
    from hub.kit.time import SystemClock
    from hub.logging import configure_logging

    settings = load_settings()
    if settings.is_production:
        _fail("`hub supplier-demo-records` is a development tool", EXIT_CONFIG)
    configure_logging("warning", json=settings.log_json)

    async def run(database_url: str) -> dict[str, list[dict[str, Any]]]:
        engine = create_engine(database_url, pool_size=1, max_overflow=0)
        try:
            async with read_only(create_session_factory(engine)) as session:
                return await supplier_dataset(
                    session,
                    organisation_id=demo_id("organisation:provider"),
                    staff_source=DEMO_STAFF_SOURCE,
                    clock=SystemClock(),
                )
        finally:
            await engine.dispose()

    with provide_services(settings.database_url, "redis://unused", settings.data_dir) as services:
        dataset = asyncio.run(run(services.database_url))
    if not dataset["packages"]:
        _fail("no demo packages found: start `hub serve --demo` first", EXIT_CONFIG)
    text = json.dumps(dataset, indent=2, ensure_ascii=False) + "\n"
    if args.out == "-":
        sys.stdout.write(text)
    else:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)  # e.g. .hub/ before any hub has run
        out.write_text(text, encoding="utf-8")
        counts = ", ".join(
            f"{len(rows)} {feed.replace('_', ' ')}" for feed, rows in dataset.items()
        )
        print(f"wrote {args.out}: {counts}", file=sys.stderr)


def cmd_version(args: argparse.Namespace) -> None:
    print(f"care-hub {hub.__version__}")


def _roles() -> list[Any]:
    from hub.accounts.models import Role

    return list(Role)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hub",
        description="Care Hub: GraphQL integration hub for adult social care "
        "and NHS community services.",
        epilog="Configuration comes from HUB_* environment variables (see deploy/env.example).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the hub (embedded PostgreSQL and Redis unless HUB_DATABASE_URL/HUB_REDIS_URL)",
    )
    serve.add_argument(
        "--demo", action="store_true", help="load the synthetic demo dataset (idempotent)"
    )
    serve.add_argument("--host", help="address to listen on (default HUB_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default HUB_PORT or 8000)")
    serve.set_defaults(run=cmd_serve)

    worker = commands.add_parser("worker", help="run the background worker on its own")
    worker.add_argument("--burst", action="store_true", help="run queued jobs, then exit")
    worker.set_defaults(run=cmd_worker)

    worker_check = commands.add_parser(
        "worker-check",
        help="exit 0 if this machine's `hub worker` is alive (its liveness probe)",
        description="Reads the pulse `hub worker` writes (HUB_WORKER_ALIVE_FILE) and exits 0 "
        "when its process runs and it polled Redis, or tried to reach it, within "
        "HUB_WORKER_STALE_AFTER_BEATS x HUB_WORKER_HEARTBEAT_SECONDS; 1 otherwise. A worker "
        "waiting out a Redis outage stays alive; a stuck one does not.",
    )
    worker_check.set_defaults(run=cmd_worker_check)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument(
        "--revision", default="head", help="upgrade to this revision (default head)"
    )
    migrate.add_argument(
        "--downgrade", metavar="REVISION", help="downgrade to this revision instead"
    )
    migrate.add_argument(
        "--check", action="store_true", help="fail if the models have changes no migration holds"
    )
    migrate.set_defaults(run=cmd_migrate)

    token = commands.add_parser(
        "token",
        help="print a development token (registers the account; refused in production)",
        description="Registers a development account with this role and prints a bearer token "
        "signed by the hub's development issuer. Example: hub token --role coordinator "
        "--organisation AX123",
    )
    token.add_argument("--role", required=True, choices=[r.value for r in _roles()])
    token.add_argument(
        "--organisation", help="organisation id, ODS code or exact name (all roles but admin)"
    )
    token.add_argument(
        "--staff",
        help="staff member's id, as GraphQL shows it or a UUID (carers; office staff optionally)",
    )
    token.add_argument("--client-id", default="dev-client", help="OAuth client id (client roles)")
    token.add_argument("--scopes", default="", help='space-separated scopes, e.g. "referrals:read"')
    token.add_argument("--subject", help="token subject (default derived from role and ids)")
    token.add_argument("--name", help="display name of the account")
    token.add_argument("--ttl-minutes", type=int, default=60, help="lifetime (default 60)")
    token.set_defaults(run=cmd_token)

    export = commands.add_parser("export-schema", help="write schema/schema.graphql from the code")
    export.add_argument("--check", action="store_true", help="fail if the committed file differs")
    export.add_argument("--path", default="schema/schema.graphql", help="where the schema lives")
    export.set_defaults(run=cmd_export_schema)

    manifest = commands.add_parser(
        "mobile-manifest",
        help="write mobile_contract/manifest.json (and the release's copy) from its operations",
        description="Hashes mobile_contract/operations/*.graphql into the trusted-document "
        "manifest (Apollo persisted-query format) and the current release's copy in "
        "mobile_contract/manifests/. --check fails (exit 4) if either is stale or if any "
        "supported manifest's operation no longer validates against the schema.",
    )
    manifest.add_argument(
        "--check", action="store_true", help="fail if stale or if an operation does not validate"
    )
    manifest.add_argument(
        "--contract", default="mobile_contract", help="the contract directory (mobile_contract)"
    )
    manifest.add_argument(
        "--schema", default="schema/schema.graphql", help="the SDL to validate against"
    )
    manifest.set_defaults(run=cmd_mobile_manifest)

    portal = commands.add_parser(
        "import-portal",
        help="import a council's brokerage export (CSV or JSON) for a contract",
        description="Applies the valid rows of a brokerage export of commissioned packages and "
        "changes, keeps invalid rows with a row-level report for correction and re-import, and "
        "leaves rows already applied unchanged (re-importing a file changes nothing). Exit "
        f"status: 0 all rows held, {EXIT_INVALID_ROWS} some rows invalid, 1 file refused.",
    )
    portal.add_argument("file", help="the export file")
    portal.add_argument("--contract", required=True, help="the contract's reference")
    portal.add_argument(
        "--format", choices=["csv", "json"], help="default: from the file name (.json or csv)"
    )
    portal.add_argument(
        "--chunk-size", type=int, default=200, help="rows per transaction (default 200)"
    )
    portal.set_defaults(run=cmd_import_portal)

    supplier = commands.add_parser(
        "supplier-demo-records",
        help="write the demo provider's rota as a dataset for the reference supplier server",
        description="Reads the demo provider's carers, live packages and today's and "
        "tomorrow's visits (with check-ins for visits already started, and one extra call per "
        "package the hub has not planned) and writes them in the reference supplier server's "
        "format: python -m connectors.supplier_rest.reference_server --records FILE. "
        "Development only.",
    )
    supplier.add_argument("--out", default="-", help="file to write (default: standard output)")
    supplier.set_defaults(run=cmd_supplier_demo_records)

    version = commands.add_parser("version", help="print the version")
    version.set_defaults(run=cmd_version)
    return parser


def _print_error(message: str) -> None:
    from hub.logging import json_line, json_logs

    if json_logs():
        print(json_line("hub.error", "error", message=message), file=sys.stderr)
    else:
        print(f"hub: error: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], None] = args.run
    try:
        run(args)
    except CliError as exc:
        _print_error(str(exc))
        sys.exit(exc.exit_code)
    except (ConfigurationError, HubError) as exc:
        _print_error(str(exc))
        sys.exit(EXIT_UNAVAILABLE)
    except KeyboardInterrupt:
        with contextlib.suppress(Exception):
            print("hub: stopped", file=sys.stderr)
        sys.exit(130)
