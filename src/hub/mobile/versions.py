"""Which carer apps the hub serves, and how.

Two independent numbers (../shared/reference/mobile-sync-anchors.md, "Versioning"):

- the **protocol version** of the command upload: the hub accepts the current one and the one
  before it, so an outbox written by the previous app release still drains after an upgrade of
  the hub; anything else is refused with `UNSUPPORTED_PROTOCOL` listing what is supported;
- the **app version** (semantic `major.minor.patch`): an app older than the configured minimum
  is *drain-only* — its uploads are still accepted (nothing recorded offline may be lost), but it
  may not read the rota until it is upgraded. Every mobile response carries the minimum.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hub.config import Settings
from hub.errors import InvalidInput

_SEMVER = re.compile(r"^(\d{1,4})\.(\d{1,4})\.(\d{1,6})$")


def parse_app_version(value: str, *, field: str = "appVersion") -> tuple[int, int, int]:
    """`1.4.0` → (1, 4, 0); anything else is an input error naming the field."""
    found = _SEMVER.match(value.strip())
    if found is None:
        raise InvalidInput(field, "must be a version like 1.4.0", code="INVALID_APP_VERSION")
    major, minor, patch = (int(part) for part in found.groups())
    return major, minor, patch


@dataclass(frozen=True, slots=True)
class MobileVersions:
    """The protocol versions accepted and the oldest app version allowed to read."""

    current_protocol: int
    min_app_version: str

    @classmethod
    def of(cls, settings: Settings) -> MobileVersions:
        return cls(
            current_protocol=settings.mobile_protocol_version,
            min_app_version=settings.mobile_min_app_version,
        )

    @property
    def supported_protocols(self) -> tuple[int, ...]:
        """Current first, then the previous one (if there is one)."""
        if self.current_protocol <= 1:
            return (self.current_protocol,)
        return (self.current_protocol, self.current_protocol - 1)

    def protocol_supported(self, version: int) -> bool:
        return version in self.supported_protocols

    def drain_only(self, app_version: str) -> bool:
        """True when the app is older than the minimum: it may upload but not read."""
        return parse_app_version(app_version) < parse_app_version(
            self.min_app_version, field="HUB_MOBILE_MIN_APP_VERSION"
        )
