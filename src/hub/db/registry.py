"""Imports every table so `Base.metadata` is complete (Alembic autogenerate, `alembic check`).
Imported by migrations and tests only. A new domain adds its models here."""

from hub.accounts import models as accounts_models
from hub.audit import models as audit_models
from hub.db.base import Base
from hub.events import models as events_models
from hub.organisations import models as organisations_models

metadata = Base.metadata

__all__ = ["accounts_models", "audit_models", "events_models", "metadata", "organisations_models"]
