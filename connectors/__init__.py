"""Connectors to upstream systems. This package never imports `hub`: it maps upstream payloads
to the canonical records in `connectors.records`, and the hub applies them."""
