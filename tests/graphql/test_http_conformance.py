"""GraphQL over HTTP: methods, media types and status codes (the graphql-http audit runs the
full conformance suite against a live hub in CI; these pin the cases we decided)."""

from __future__ import annotations

import httpx
import pytest

from tests.support.graphql import GraphQLClient

GRAPHQL_RESPONSE = "application/graphql-response+json"
MUTATION = (
    'mutation { registerAccount(input: {subject: "x", role: ADMIN, displayName: "x"}) '
    "{ __typename } }"
)


async def test_a_mutation_over_get_is_405_with_allow_post(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={"query": MUTATION})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("text/plain", '{"query": "{ hub { version } }"}'),
        ("application/x-www-form-urlencoded", "query=%7B%20hub%20%7B%20version%20%7D%20%7D"),
        (
            "multipart/form-data; boundary=x",
            '--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n'
            "{ hub { version } }\r\n--x--",
        ),
    ],
)
async def test_simple_cross_site_bodies_are_415(
    http: httpx.AsyncClient, content_type: str, body: str
) -> None:
    response = await http.post("/graphql", content=body, headers={"content-type": content_type})
    assert response.status_code == 415
    assert response.json()["errors"][0]["extensions"]["code"] == "UNSUPPORTED_MEDIA_TYPE"


async def test_batches_are_refused(http: httpx.AsyncClient) -> None:
    batch = [{"query": "{ __typename }"} for _ in range(10)]
    response = await http.post("/graphql", json=batch)
    assert response.status_code == 400
    assert "Batching is not enabled" in response.json()["errors"][0]["message"]


async def test_invalid_json_is_400(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "parse request body as JSON" in response.json()["errors"][0]["message"]


async def test_graphql_response_json_gets_its_media_type_and_400_for_request_errors(
    http: httpx.AsyncClient,
) -> None:
    ok = await http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert ok.status_code == 200
    assert ok.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    invalid = await http.post(
        "/graphql", json={"query": "{ nope }"}, headers={"accept": GRAPHQL_RESPONSE}
    )
    assert invalid.status_code == 400
    assert invalid.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert "data" not in invalid.json()
    bad_variables = await http.post(
        "/graphql",
        json={
            "query": "query ($n: Int) { organisations(first: $n) { nodes { name } } }",
            "variables": {"n": "x"},
        },
        headers={"accept": GRAPHQL_RESPONSE},
    )
    assert bad_variables.status_code == 400


async def test_application_json_keeps_200_for_request_errors(graphql: GraphQLClient) -> None:
    response = await graphql.execute("{ nope }")
    assert response.status_code == 200
    assert response.errors


async def test_an_accept_header_we_cannot_satisfy_is_406(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"accept": "text/html"}
    )
    assert response.status_code == 406


async def test_bodies_over_one_mebibyte_are_413(http: httpx.AsyncClient) -> None:
    padding = "x" * (1024 * 1024)
    response = await http.post(
        "/graphql", json={"query": "{ __typename }", "variables": {"p": padding}}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"


@pytest.mark.parametrize("operation_name", [{"x": 1}, ["a"], 7])
async def test_an_operation_name_that_is_not_a_string_is_400(
    http: httpx.AsyncClient, operation_name: object
) -> None:
    response = await http.post(
        "/graphql", json={"query": "{ __typename }", "operationName": operation_name}
    )
    assert response.status_code == 400
    assert "operationName must be a string" in response.json()["errors"][0]["message"]
