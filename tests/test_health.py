from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db.migrate import downgrade, head_revision
from tests.support.graphql import GraphQLClient


async def test_healthz_answers_while_the_process_lives(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"]


async def test_readyz_reports_database_migrations_and_redis(http: httpx.AsyncClient) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["migrations"] == {"current": head_revision(), "head": head_revision()}


async def test_readyz_is_not_ready_when_migrations_are_behind(
    http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    await downgrade(engine, "base")
    response = await http.get("/readyz")
    assert response.status_code == 503
    migrations = response.json()["checks"]["migrations"]
    assert migrations["current"] is None
    assert "hub migrate" in migrations["status"]


async def test_a_supplied_request_id_is_echoed_and_an_unsafe_one_replaced(
    http: httpx.AsyncClient,
) -> None:
    kept = await http.get("/healthz", headers={"x-request-id": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    replaced = await http.get("/healthz", headers={"x-request-id": "evil\nheader injection"})
    assert replaced.headers["x-request-id"] != "evil\nheader injection"
    assert len(replaced.headers["x-request-id"]) == 32


async def test_metrics_count_operations_by_name_and_show_the_pool(
    http: httpx.AsyncClient, admin_graphql: GraphQLClient
) -> None:
    headers = {"authorization": f"Bearer {admin_graphql.token}"}
    await http.post(
        "/graphql",
        json={"query": "query Ping { hub { version } }", "operationName": "Ping"},
        headers=headers,
    )
    await http.post("/graphql", json={"query": "query Broken { nope }"}, headers=headers)
    await http.post("/graphql", json={"query": "{ hub { version } }"}, headers=headers)
    await http.post("/graphql", json={"query": "query Stranger { hub { version } }"})
    text = (await http.get("/metrics")).text
    assert 'hub_graphql_operations_total{operation="Ping",outcome="ok",type="query"} 1.0' in text
    assert (
        'hub_graphql_operations_total{operation="anonymous",outcome="ok",type="query"} 1.0' in text
    )
    assert 'hub_graphql_errors_total{kind="validation",operation="Broken"} 1.0' in text
    assert (
        'hub_graphql_operations_total{operation="unauthenticated",outcome="ok",type="query"} 1.0'
        in text
    )
    assert 'hub_http_requests_total{method="POST",route="/graphql",status="200"}' in text
    assert 'hub_db_pool_connections{state="size"}' in text


def test_client_chosen_operation_names_cannot_explode_metric_labels() -> None:
    from hub.metrics import MAX_OPERATION_LABELS, NAMES_PER_CALLER, HubMetrics

    metrics = HubMetrics()
    assert metrics.operation_label("Rota", signed_in=True, learner="a") == "Rota"
    assert metrics.operation_label("x" * 65, signed_in=True, learner="a") == "other"
    assert metrics.operation_label('a"b', signed_in=True, learner="a") == "other"
    assert metrics.operation_label("Rota", signed_in=False) == "unauthenticated"
    assert metrics.operation_label("New", signed_in=True) == "other"  # not an office user
    labels = {
        metrics.operation_label(f"Op{i}", signed_in=True, learner=f"account-{i // 10}")
        for i in range(MAX_OPERATION_LABELS + 50)
    }
    # "Rota" already holds one place: 199 new names fit, the rest are "other".
    assert len(labels) == MAX_OPERATION_LABELS
    assert "other" in labels
    fresh = HubMetrics()
    one_account = {fresh.operation_label(f"Op{i}", signed_in=True, learner="a") for i in range(50)}
    assert len(one_account) == NAMES_PER_CALLER + 1  # and "other"


async def test_readyz_stays_ready_when_a_newer_release_has_migrated(
    http: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    """Rolling releases: old pods keep serving once the new release's migration has run."""
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE alembic_version SET version_num = '9999_from_the_future'")
        )
    response = await http.get("/readyz")
    assert response.status_code == 200
    assert "ahead" in response.json()["checks"]["migrations"]["status"]
