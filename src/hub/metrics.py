"""Prometheus metrics, one registry per app so several apps (tests, replicas in one process)
never collide. Scraped at `/metrics`."""

from __future__ import annotations

import re
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import QueuePool

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Operation names come from clients; unbounded label values would let any caller blow up the
# metrics store. Known-shaped names are kept up to this many, then counted as "other".
MAX_OPERATION_LABELS = 200
_OPERATION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


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
    def __init__(self) -> None:
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

        self._operation_labels: set[str] = set()

    def operation_label(self, name: str | None) -> str:
        if not name:
            return "anonymous"
        if name in self._operation_labels:
            return name
        if not _OPERATION_NAME.match(name) or len(self._operation_labels) >= MAX_OPERATION_LABELS:
            return "other"
        self._operation_labels.add(name)
        return name

    def watch_pool(self, engine: AsyncEngine) -> None:
        self.registry.register(_PoolCollector(engine))
