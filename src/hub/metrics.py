"""Prometheus metrics, one registry per app so several apps (tests, replicas in one process)
never collide. Scraped at `/metrics`, behind its own bearer token (`HUB_METRICS_TOKEN`).

Label values never come from strangers. Every value a caller can influence is bounded:
- HTTP method: the methods the hub serves, else "other"; route: the matched route's template;
- GraphQL operation (`operation_label`): the name of a trusted document when one ran; from a
  signed-in office user (coordinator, registered manager, commissioner, admin), a name of the
  usual shape, each account adding at most `names_per_caller` new names and all of them at most
  `max_operation_names`; from other signed-in callers only names already known; from callers
  without a token always "unauthenticated". So 210 junk names sent anonymously change nothing,
  and one office account cannot push the real operations into "other" by itself.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

METRICS_PATH = "/metrics"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Operation names come from clients; unbounded label values would let any caller blow up the
# metrics store. Learned names are kept up to this many, then counted as "other".
MAX_OPERATION_LABELS = 200
NAMES_PER_CALLER = 20
_OPERATION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class _PoolCollector(Collector):
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        pool = self._engine.sync_engine.pool
        gauge = GaugeMetricFamily(
            "hub_db_pool_connections", "Database pool connections", labels=["state"]
        )
        if isinstance(pool, QueuePool):
            gauge.add_metric(["checked_out"], pool.checkedout())
            gauge.add_metric(["idle"], pool.checkedin())
            gauge.add_metric(["overflow"], max(pool.overflow(), 0))
            gauge.add_metric(["size"], pool.size())
        yield gauge


class HubMetrics:
    def __init__(
        self,
        *,
        max_operation_names: int = MAX_OPERATION_LABELS,
        names_per_caller: int = NAMES_PER_CALLER,
    ) -> None:
        self.max_operation_names = max_operation_names
        self.names_per_caller = names_per_caller
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "hub_http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "hub_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.graphql_operations = Counter(
            "hub_graphql_operations_total",
            "GraphQL operations",
            ["operation", "type", "outcome"],
            registry=self.registry,
        )
        self.graphql_latency = Histogram(
            "hub_graphql_operation_seconds",
            "GraphQL operation latency",
            ["operation", "type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.graphql_errors = Counter(
            "hub_graphql_errors_total",
            "GraphQL errors by kind",
            ["operation", "kind"],
            registry=self.registry,
        )
        # Events the governance rules failed on (hub.governance.failures): outcome is failed
        # (a new event), retry_failed (a retry, including gave_up), recovered or gave_up.
        self.governance_rule_failures = Counter(
            "hub_governance_rule_failures_total",
            "Governance rule failures by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.governance_rule_failures_unresolved = Gauge(
            "hub_governance_rule_failures_unresolved",
            "Events the governance rules failed on and have not yet judged",
            registry=self.registry,
        )
        # Seconds since any worker last ran the heartbeat job (read from Redis at each scrape);
        # +Inf when no worker has beaten within the key's hour or Redis cannot be read. The
        # alert in deploy/k8s/prometheus-rules.yaml fires on it.
        self.worker_heartbeat_age = Gauge(
            "hub_worker_heartbeat_age_seconds",
            "Seconds since a worker last reported its heartbeat (+Inf: none seen)",
            registry=self.registry,
        )

        self._trusted_names: set[str] = set()
        self._learned_names: set[str] = set()
        self._learned_by: dict[str, int] = {}

    def operation_label(
        self,
        name: str | None,
        *,
        signed_in: bool,
        trusted: bool = False,
        learner: str | None = None,
    ) -> str:
        """The `operation` label for an operation called `name`.

        `trusted`: the operation is a trusted document and `name` its manifest name (a fixed,
        reviewed set). `learner`: the account id of a signed-in office user, who may add new
        names within the caps; None for every other caller.
        """
        if not signed_in:
            return "unauthenticated"
        if not name:
            return "anonymous"
        if trusted:
            self._trusted_names.add(name)
            return name
        if name in self._trusted_names or name in self._learned_names:
            return name
        if (
            learner is None
            or not _OPERATION_NAME.match(name)
            or len(self._learned_names) >= self.max_operation_names
            or self._learned_by.get(learner, 0) >= self.names_per_caller
        ):
            return "other"
        self._learned_names.add(name)
        self._learned_by[learner] = self._learned_by.get(learner, 0) + 1
        return name

    def method_label(self, method: str) -> str:
        return method if method in HTTP_METHODS else "other"

    def watch_pool(self, engine: AsyncEngine) -> None:
        self.registry.register(_PoolCollector(engine))


def metrics_refusal(request: Request, *, token: str | None, production: bool) -> Response | None:
    """The answer to a caller who may not read `GET /metrics`, or None for the scraper holding
    `HUB_METRICS_TOKEN` as a bearer token.

    Without a configured token the endpoint is open outside production (a developer's laptop)
    and closed in production, so a deployment never exposes it by omission.
    """
    if token is None:
        if production:
            return JSONResponse(
                {"error": "metrics are served only to a scraper holding HUB_METRICS_TOKEN"},
                status_code=403,
            )
    else:
        scheme, _, offered = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            offered.strip().encode(), token.encode()
        ):
            return JSONResponse(
                {"error": "send the metrics token: Authorization: Bearer <HUB_METRICS_TOKEN>"},
                status_code=401,
                headers={"www-authenticate": 'Bearer realm="metrics"'},
            )
    return None


def metrics_body(registry: CollectorRegistry) -> Response:
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
