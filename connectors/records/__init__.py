"""Canonical records: what every connector maps its upstream payloads to, and what the hub's
domain services apply. Frozen, typed, no behaviour, no `hub` imports."""
