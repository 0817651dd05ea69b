"""Supplier REST connector: the OpenAPI contract supplier rostering and care-management systems
implement (`openapi.yaml`), the client that pulls it, the webhook receiver, the mapping to
canonical records, recorded samples, and a runnable reference server with faults on demand."""

from connectors.supplier_rest.client import (
    SupplierFeed,
    SupplierRestConnector,
    SupplierWebhookReceiver,
)

__all__ = ["SupplierFeed", "SupplierRestConnector", "SupplierWebhookReceiver"]
