"""The hub's error tree. Every expected failure is a `HubError` with a stable `code`.

    HubError
    ├── NotFound          the thing does not exist, or the caller may not see it (same answer)
    ├── Conflict          the write clashes with the current state (illegal move, duplicate)
    ├── Forbidden         the caller is known but lacks the permission
    ├── InvalidInput      a field failed validation; carries the field and the reason
    └── UpstreamUnavailable  a connected system did not answer usefully

Domains subclass these (e.g. `VisitNotFound(NotFound)`); GraphQL maps them to typed union
members and everything else is masked with a correlation id.
"""

from __future__ import annotations


class HubError(Exception):
    """Base of every expected failure; `code` is stable and machine-readable."""

    code: str = "HUB_ERROR"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(HubError):
    code = "NOT_FOUND"


class Conflict(HubError):
    code = "CONFLICT"


class Forbidden(HubError):
    code = "FORBIDDEN"


class InvalidInput(HubError):
    """A value failed validation. `field` is the input path (e.g. `person.nhsNumber`)."""

    code = "INVALID_INPUT"

    def __init__(self, field: str, reason: str, *, code: str | None = None) -> None:
        super().__init__(f"{field}: {reason}", code=code)
        self.field = field
        self.reason = reason


class UpstreamUnavailable(HubError):
    code = "UPSTREAM_UNAVAILABLE"


class ConfigurationError(HubError):
    """The hub cannot start as configured (bad setting, unreachable service, port in use)."""

    code = "CONFIGURATION_ERROR"
