"""Why an account change was refused.

AccountNotFound(NotFound)        no such account, or not one the caller may manage
AccountNotManageable(Forbidden)  visible, but outside what the caller may change
RoleNotGrantable(Forbidden)      the caller may not give that role (a manager → admin)
OwnAccount(Forbidden)            nobody switches off, or changes the role of, themselves
LastAdmin(Conflict)              the hub's last active admin stays an active admin
AccountSwitchedOff(Conflict)     a switched-off account's role is not changed; switch it on
"""

from __future__ import annotations

from hub.errors import Conflict, Forbidden, NotFound


class AccountNotFound(NotFound):
    code = "ACCOUNT_NOT_FOUND"


class AccountNotManageable(Forbidden):
    code = "ACCOUNT_NOT_MANAGEABLE"


class RoleNotGrantable(Forbidden):
    code = "ROLE_NOT_GRANTABLE"


class OwnAccount(Forbidden):
    code = "OWN_ACCOUNT"


class LastAdmin(Conflict):
    code = "LAST_ADMIN"


class AccountSwitchedOff(Conflict):
    code = "ACCOUNT_INACTIVE"
