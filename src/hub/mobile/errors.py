"""Mobile errors. Request-level refusals of an upload are answered before any command is
applied; the app keeps its whole outbox and acts on the code (see mobile_contract/).

    HubError
    ├── DeviceNotRegistered(NotFound)       DEVICE_NOT_REGISTERED: unknown device, or another
    │                                       carer's (same answer): register first
    ├── DeviceNotFound(NotFound)            DEVICE_NOT_FOUND: the office names no visible device
    ├── DeviceOfAnotherCarer(Conflict)      DEVICE_REGISTERED_TO_ANOTHER_CARER
    ├── DeviceBusy(Conflict)                DEVICE_BUSY: another upload of this device is running
    ├── DeviceStateMismatch(Conflict)       DEVICE_STATE_MISMATCH: a settled sequence number came
    │                                       back with an unknown command (restored backup, clone)
    ├── UnsupportedProtocol(InvalidInput)   UNSUPPORTED_PROTOCOL, with the versions supported
    ├── BatchTooLarge(InvalidInput)         BATCH_TOO_LARGE, with the limits
    ├── CommandNotFound(NotFound)           QUARANTINED_COMMAND_NOT_FOUND
    ├── CommandNotQuarantined(Conflict)     COMMAND_NOT_QUARANTINED
    └── CommandAlreadyResolved(Conflict)    COMMAND_ALREADY_RESOLVED
"""

from __future__ import annotations

from collections.abc import Sequence

from hub.errors import Conflict, InvalidInput, NotFound


class DeviceNotRegistered(NotFound):
    code = "DEVICE_NOT_REGISTERED"


class DeviceNotFound(NotFound):
    code = "DEVICE_NOT_FOUND"


class DeviceOfAnotherCarer(Conflict):
    code = "DEVICE_REGISTERED_TO_ANOTHER_CARER"


class DeviceBusy(Conflict):
    """Two uploads of one device at once (a foreground sync and a background task): the second
    waits briefly for the first, then is told to come back."""

    code = "DEVICE_BUSY"

    def __init__(self, message: str, *, retry_after_ms: int) -> None:
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class DeviceStateMismatch(Conflict):
    """The device's log and the hub's disagree about a settled sequence number: the device was
    restored from a backup or cloned. Nothing is applied; the device must be re-registered
    (a new device id) after its outbox is exported for the office."""

    code = "DEVICE_STATE_MISMATCH"

    def __init__(self, message: str, *, seq: int, acked_through_seq: int) -> None:
        super().__init__(message)
        self.seq = seq
        self.acked_through_seq = acked_through_seq


class UnsupportedProtocol(InvalidInput):
    code = "UNSUPPORTED_PROTOCOL"

    def __init__(self, version: int, supported: Sequence[int]) -> None:
        listed = ", ".join(str(v) for v in supported)
        super().__init__(
            "protocolVersion", f"protocol {version} is not supported; this hub speaks {listed}"
        )
        self.supported = tuple(supported)


class BatchTooLarge(InvalidInput):
    code = "BATCH_TOO_LARGE"

    def __init__(self, reason: str, *, max_commands: int, max_bytes: int) -> None:
        super().__init__("commands", reason)
        self.max_commands = max_commands
        self.max_bytes = max_bytes


class CommandNotFound(NotFound):
    code = "QUARANTINED_COMMAND_NOT_FOUND"


class CommandNotQuarantined(Conflict):
    code = "COMMAND_NOT_QUARANTINED"


class CommandAlreadyResolved(Conflict):
    code = "COMMAND_ALREADY_RESOLVED"
