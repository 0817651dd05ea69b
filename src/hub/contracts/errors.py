"""Contract errors.

HubError
├── ContractNotFound(NotFound)               missing, or not visible to the caller (same answer)
├── ResolutionOutcomeNotFound(NotFound)      the contract has no outcome with that code
├── DuplicateContractReference(Conflict)     the reference already names another contract
└── ContractChangeForbidden(Forbidden)       visible, but the caller's role may not change it
"""

from __future__ import annotations

from hub.errors import Conflict, Forbidden, NotFound


class ContractNotFound(NotFound):
    code = "CONTRACT_NOT_FOUND"


class ResolutionOutcomeNotFound(NotFound):
    code = "RESOLUTION_OUTCOME_NOT_FOUND"


class DuplicateContractReference(Conflict):
    code = "DUPLICATE_CONTRACT_REFERENCE"


class ContractChangeForbidden(Forbidden):
    """Contract terms are the commissioner's: a provider reads them but does not change them."""

    code = "CONTRACT_CHANGE_FORBIDDEN"
