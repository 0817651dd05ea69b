"""The event types the accounts domain writes (subject_type "account")."""

from __future__ import annotations

ACCOUNT_REGISTERED = "account.registered"
ACCOUNT_UPDATED = "account.updated"
ACCOUNT_SWITCHED_OFF = "account.switched_off"
ACCOUNT_SWITCHED_ON = "account.switched_on"
ACCOUNT_ROLE_CHANGED = "account.role_changed"
