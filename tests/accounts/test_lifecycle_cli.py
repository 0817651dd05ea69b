"""`hub token` (a real process, as a developer runs it) never switches a switched-off account
back on: it refuses, changes nothing, and prints no token."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from hub.accounts import service as accounts
from hub.accounts.models import Account, Role
from hub.accounts.service import AccountAdministrator
from hub.config import Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.events.models import Event
from hub.kit.time import FixedClock
from tests import builders
from tests.support.processes import hub_env, run_hub


async def test_hub_token_refuses_a_switched_off_account(
    database_url: str, sessions: SessionFactory, clock: FixedClock, tmp_path: Path
) -> None:
    async with unit_of_work(sessions) as session:
        provider = await builders.create_organisation(session)
        leaver = await accounts.register(
            session,
            issuer=Settings().auth_issuer,
            subject="dev-leaver",
            role=Role.COORDINATOR,
            display_name="Leaver",
            organisation_id=provider.id,
            actor="test",
            clock=clock,
        )
        admin = await accounts.register(
            session,
            issuer=Settings().auth_issuer,
            subject="dev-admin",
            role=Role.ADMIN,
            display_name="Admin",
            organisation_id=None,
            actor="test",
            clock=clock,
        )
        by = AccountAdministrator(admin.id, Role.ADMIN, None, f"account:{admin.id}")
        await accounts.switch_off(session, by, leaver.id, reason="left", clock=clock)
    async with sessions() as session:
        events_before = await session.scalar(select(func.count()).select_from(Event))

    env = hub_env(HUB_DATABASE_URL=database_url, HUB_DATA_DIR=str(tmp_path / "hub"))
    refused = run_hub(
        "token",
        "--role",
        "registered_manager",
        "--organisation",
        str(provider.id),
        "--subject",
        "dev-leaver",
        env=env,
    )
    assert refused.returncode != 0
    assert refused.stdout == ""
    assert "switched off" in refused.stderr
    assert "Traceback" not in refused.stderr

    async with sessions() as session:
        account = await session.scalar(select(Account).where(Account.subject == "dev-leaver"))
        events_after = await session.scalar(select(func.count()).select_from(Event))
    assert account is not None
    assert account.active is False
    assert account.role is Role.COORDINATOR  # the refused re-registration changed nothing
    assert events_after == events_before

    fresh = run_hub("token", "--role", "coordinator", "--organisation", str(provider.id), env=env)
    assert fresh.returncode == 0, fresh.stderr
    assert fresh.stdout.count(".") == 2  # a JWT
