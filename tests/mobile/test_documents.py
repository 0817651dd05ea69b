"""Trusted documents (F31): a carer's token runs only manifest documents, sent by id over HTTP
(POST and GET) and over websockets; anything else is refused with a code and nothing runs.
Other callers send documents as usual, and may use ids too."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from hub.accounts.models import Role
from hub.config import Environment, Settings
from hub.db.engine import SessionFactory
from hub.db.uow import unit_of_work
from hub.kit.time import FixedClock
from hub.mobile.documents import (
    DocumentRequest,
    PersistedDocumentNotFound,
    PersistedDocumentRequired,
    raw_text_allowed,
    trusted_documents,
)
from hub.organisations.models import Organisation
from tests import builders
from tests.mobile.app_client import (
    AppClient,
    document_id,
    install_app,
    manifest_operations,
    trusted_only_settings,
)
from tests.support.asgi import websocket_connect
from tests.support.graphql import GraphQLClient, SubscriptionSession
from tests.support.identity import Identities

GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    """The production rule: carers run trusted documents only."""
    return trusted_only_settings(database_url, redis_url, tmp_path)


@pytest.fixture
async def app_client(
    http: httpx.AsyncClient,
    identities: Identities,
    sessions: SessionFactory,
    clock: FixedClock,
    provider: uuid.UUID,
) -> AppClient:
    async with unit_of_work(sessions) as session:
        organisation = await session.get(Organisation, provider)
        staff = await builders.create_staff(session, organisation=organisation)
    return await install_app(http, identities, sessions, clock, staff)


@pytest.fixture
def carer_token(app_client: AppClient) -> str:
    return app_client.token


@pytest.fixture
def pull_variables(app_client: AppClient) -> dict[str, str]:
    return {"deviceId": app_client.device_id, "appVersion": "1.0.0"}


def _code(body: dict[str, object]) -> object:
    errors = body["errors"]
    assert isinstance(errors, list)
    assert len(errors) == 1, errors
    return errors[0]["extensions"]["code"]


async def test_a_carer_runs_a_manifest_document_by_id_over_post_and_get(
    app_client: AppClient, pull_variables: dict[str, str]
) -> None:
    app = app_client
    posted = (await app.run("RotaPull", pull_variables)).ok()
    fetched = (await app.run_get("RotaPull", pull_variables)).ok()
    for data in (posted, fetched):
        assert data["mobileChanges"]["__typename"] == "MobileChanges"
        assert data["mobileChanges"]["reset"] is True


async def test_apollo_persisted_query_extension_works(
    http: httpx.AsyncClient, carer_token: str, pull_variables: dict[str, str]
) -> None:
    sha = manifest_operations()["RotaPull"].id
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha}}
    headers = {"authorization": f"Bearer {carer_token}"}
    posted = await http.post(
        "/graphql", json={"variables": pull_variables, "extensions": extensions}, headers=headers
    )
    fetched = await http.get(
        "/graphql",
        params={"variables": json.dumps(pull_variables), "extensions": json.dumps(extensions)},
        headers=headers,
    )
    for response in (posted, fetched):
        assert response.status_code == 200
        assert response.json()["data"]["mobileChanges"]["__typename"] == "MobileChanges"


async def test_raw_query_text_from_a_carer_is_refused(
    http: httpx.AsyncClient, carer_token: str, pull_variables: dict[str, str]
) -> None:
    carer = GraphQLClient(http, token=carer_token)
    plain = await carer.execute("{ hub { version } }")
    assert plain.status_code == 200
    assert _code(plain.body) == "PERSISTED_DOCUMENT_REQUIRED"
    assert "data" not in plain.body  # nothing ran

    # The manifest's own text is refused too: carers send ids, so no text is ever trusted.
    body = manifest_operations()["RotaPull"].body
    strict = await http.post(
        "/graphql",
        json={"query": body, "variables": pull_variables},
        headers={"authorization": f"Bearer {carer_token}", "accept": GRAPHQL_RESPONSE},
    )
    assert strict.status_code == 400
    assert strict.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert _code(strict.json()) == "PERSISTED_DOCUMENT_REQUIRED"

    # Text beside a genuine id is refused as well: nothing can be smuggled in with an id.
    smuggled = await http.post(
        "/graphql",
        json={"query": "{ hub { version } }", "documentId": document_id("RotaPull")},
        headers={"authorization": f"Bearer {carer_token}"},
    )
    assert _code(smuggled.json()) == "PERSISTED_DOCUMENT_REQUIRED"

    over_get = await http.get(
        "/graphql",
        params={"query": "{ hub { version } }"},
        headers={"authorization": f"Bearer {carer_token}"},
    )
    assert _code(over_get.json()) == "PERSISTED_DOCUMENT_REQUIRED"


@pytest.mark.parametrize(
    "wanted",
    [
        "sha256:" + "0" * 64,  # well formed, in no manifest
        "sha256:" + "A" * 64,  # upper-case hex is not the format
        "md5:0123456789abcdef0123456789abcdef",
        "RotaPull",
    ],
)
async def test_an_unknown_document_id_is_not_found(
    http: httpx.AsyncClient, carer_token: str, wanted: str, pull_variables: dict[str, str]
) -> None:
    response = await http.post(
        "/graphql",
        json={"documentId": wanted, "variables": pull_variables},
        headers={"authorization": f"Bearer {carer_token}"},
    )
    assert response.status_code == 200
    assert _code(response.json()) == "PERSISTED_DOCUMENT_NOT_FOUND"
    assert "data" not in response.json()


async def test_an_office_user_still_sends_text_and_may_use_ids(
    http: httpx.AsyncClient, coordinator_graphql: GraphQLClient, pull_variables: dict[str, str]
) -> None:
    data = (await coordinator_graphql.execute("{ hub { version } }")).ok()
    assert data["hub"]["version"]
    # By id, the document is found and runs; the field then says a coordinator may not use it.
    response = await http.post(
        "/graphql",
        json={"documentId": document_id("RotaPull"), "variables": pull_variables},
        headers={"authorization": f"Bearer {coordinator_graphql.token}"},
    )
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["path"] == ["mobileChanges"]
    unknown = await http.post(
        "/graphql",
        json={"documentId": "sha256:" + "f" * 64},
        headers={"authorization": f"Bearer {coordinator_graphql.token}"},
    )
    assert _code(unknown.json()) == "PERSISTED_DOCUMENT_NOT_FOUND"


async def test_anonymous_callers_keep_sending_text(graphql: GraphQLClient) -> None:
    assert (await graphql.execute_get("{ hub { version } }")).ok()["hub"]["version"]


async def test_a_get_with_a_document_id_is_answered_not_given_graphiql(
    http: httpx.AsyncClient, carer_token: str, pull_variables: dict[str, str]
) -> None:
    response = await http.get(
        "/graphql",
        params={"documentId": document_id("RotaPull"), "variables": json.dumps(pull_variables)},
        headers={"authorization": f"Bearer {carer_token}", "accept": "text/html, */*"},
    )
    assert response.status_code == 200
    assert response.json()["data"]["mobileChanges"]["__typename"] == "MobileChanges"


async def test_over_websockets_a_carer_runs_ids_and_raw_text_is_refused(
    app: Starlette, carer_token: str, pull_variables: dict[str, str]
) -> None:
    async with websocket_connect(app) as socket:
        session = SubscriptionSession(socket)
        assert (await session.init({"authorization": f"Bearer {carer_token}"}))[
            "type"
        ] == "connection_ack"

        raw = await session.subscribe("subscription { heartbeat(intervalSeconds: 0.01, count: 1) }")
        refused = await session.next_message()
        assert refused["id"] == raw
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"]["code"] == "PERSISTED_DOCUMENT_REQUIRED"

        await socket.send_json(
            {"id": "unknown", "type": "subscribe", "payload": {"documentId": "sha256:" + "1" * 64}}
        )
        missing = await session.next_message()
        assert missing["id"] == "unknown"
        assert missing["type"] == "error"
        assert missing["payload"][0]["extensions"]["code"] == "PERSISTED_DOCUMENT_NOT_FOUND"

        await socket.send_json(
            {
                "id": "pull",
                "type": "subscribe",
                "payload": {"documentId": document_id("RotaPull"), "variables": pull_variables},
            }
        )
        answer = await session.next_message()
        assert answer["id"] == "pull"
        assert answer["type"] == "next", answer
        assert answer["payload"]["data"]["mobileChanges"]["__typename"] == "MobileChanges"


async def test_over_websockets_other_callers_still_send_text(
    app: Starlette, identities: Identities
) -> None:
    token = await identities.token(Role.ADMIN)
    async with websocket_connect(app) as socket:
        session = SubscriptionSession(socket)
        await session.init({"authorization": f"Bearer {token}"})
        operation = await session.subscribe(
            "subscription { heartbeat(intervalSeconds: 0.01, count: 1) }"
        )
        tick = await session.next_message()
        assert tick["id"] == operation
        assert tick["type"] == "next"


def test_the_allow_list_is_every_supported_manifest() -> None:
    documents = trusted_documents()
    assert len(documents) >= len(manifest_operations())
    for operation in manifest_operations().values():
        found = documents.get(operation.document_id)
        assert found is not None
        assert found.body == operation.body
        runnable = documents.document_to_run(
            DocumentRequest(query=None, document_id=operation.document_id),
            raw_text_allowed=False,
        )
        assert runnable is not None
        assert runnable.query == operation.body
        assert runnable.document_id == operation.document_id
    with pytest.raises(PersistedDocumentNotFound):
        documents.document_to_run(
            DocumentRequest(
                query=None,
                document_id=document_id("RotaPull"),
                extensions={"persistedQuery": {"sha256Hash": "2" * 64}},
            ),
            raw_text_allowed=True,
        )
    with pytest.raises(PersistedDocumentRequired):
        documents.document_to_run(DocumentRequest(query=None), raw_text_allowed=False)


def test_only_a_development_or_test_hub_may_let_carers_send_text(tmp_path: Path) -> None:
    def hub(environment: Environment, *, allow: bool = True) -> Settings:
        return Settings(
            environment=environment, mobile_carer_raw_documents=allow, data_dir=tmp_path
        )

    assert raw_text_allowed(hub(Environment.TEST), Role.CARER)
    assert raw_text_allowed(hub(Environment.DEVELOPMENT), Role.CARER)
    assert not raw_text_allowed(hub(Environment.PRODUCTION), Role.CARER)
    assert not raw_text_allowed(hub(Environment.DEVELOPMENT, allow=False), Role.CARER)
    assert not raw_text_allowed(Settings(data_dir=tmp_path), Role.CARER)  # the default
    for role in (Role.COORDINATOR, Role.ADMIN, Role.PARTNER_CLIENT, None):
        assert raw_text_allowed(hub(Environment.PRODUCTION), role)
