"""`hub` as a command: one clear line and a non-zero exit for every failure, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.support.processes import hub_env, run_hub


def _one_line_error(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert lines, "no error printed"
    assert "Traceback" not in stderr, stderr
    assert lines[-1].startswith("hub: error: "), stderr
    return lines[-1]


def test_version_and_help() -> None:
    assert run_hub("version", env=hub_env()).stdout.startswith("care-hub ")
    help_text = run_hub("--help", env=hub_env()).stdout
    for command in ("serve", "worker", "migrate", "export-schema", "version"):
        assert command in help_text


def test_bad_configuration_is_named(tmp_path: Path) -> None:
    result = run_hub("serve", env=hub_env(HUB_PORT="eighty", HUB_DATA_DIR=str(tmp_path)))
    assert result.returncode == 2
    assert "HUB_PORT" in _one_line_error(result.stderr)


def test_a_port_in_use_is_reported_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_hub(
            "serve", "--port", str(port), env=hub_env(HUB_DATA_DIR=str(tmp_path / "d"))
        )
    assert result.returncode == 2
    assert f"port {port} on 127.0.0.1 is already in use" in _one_line_error(result.stderr)
    assert not (tmp_path / "d").exists()  # no embedded server was started


def test_an_unreachable_database_is_one_line(tmp_path: Path, redis_server: str) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = run_hub(
        "serve",
        "--port",
        "0",
        env=hub_env(
            HUB_DATABASE_URL=f"postgresql://hub:secret@127.0.0.1:{port}/hub",
            HUB_REDIS_URL=redis_server,
            HUB_DATA_DIR=str(tmp_path),
        ),
    )
    assert result.returncode == 3
    line = _one_line_error(result.stderr)
    assert "database unreachable" in line
    assert "secret" not in line  # the password is redacted


def test_export_schema_check_detects_drift(tmp_path: Path) -> None:
    committed = Path("schema/schema.graphql")
    assert run_hub("export-schema", "--check", env=hub_env()).returncode == 0
    stale = tmp_path / "schema.graphql"
    stale.write_text(committed.read_text().replace("serverTime", "serverClock"))
    result = run_hub("export-schema", "--check", "--path", str(stale), env=hub_env())
    assert result.returncode == 4
    assert "is not what the code exports" in _one_line_error(result.stderr)


def test_production_refuses_the_embedded_servers(tmp_path: Path) -> None:
    result = run_hub(
        "serve", env=hub_env(HUB_ENVIRONMENT="production", HUB_DATA_DIR=str(tmp_path / "d"))
    )
    assert result.returncode == 2
    assert "production needs HUB_DATABASE_URL and HUB_REDIS_URL" in _one_line_error(result.stderr)
    assert not (tmp_path / "d").exists()


def test_blank_settings_mean_unset() -> None:
    from hub.config import Settings

    settings = Settings(auth_jwks_url=" ", auth_jwks_file="", field_encryption_key="")
    assert settings.auth_jwks_url is None
    assert settings.auth_jwks_file is None
    assert settings.uses_development_issuer
