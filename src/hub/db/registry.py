"""Imports every table so `Base.metadata` is complete (Alembic autogenerate, `alembic check`).
Imported by migrations and tests only. A new domain adds its models here."""

from hub.accounts import models as accounts_models
from hub.audit import models as audit_models
from hub.change_requests import models as change_requests_models
from hub.contracts import models as contracts_models
from hub.db.base import Base
from hub.events import models as events_models
from hub.fhir import models as fhir_models
from hub.governance import models as governance_models
from hub.integrations import models as integrations_models
from hub.la_imports import models as la_imports_models
from hub.mobile import models as mobile_models
from hub.organisations import models as organisations_models
from hub.packages import models as packages_models
from hub.people import models as people_models
from hub.referrals import models as referrals_models
from hub.staff import models as staff_models
from hub.visits import models as visits_models

metadata = Base.metadata

__all__ = [
    "accounts_models",
    "audit_models",
    "change_requests_models",
    "contracts_models",
    "events_models",
    "fhir_models",
    "governance_models",
    "integrations_models",
    "la_imports_models",
    "metadata",
    "mobile_models",
    "organisations_models",
    "packages_models",
    "people_models",
    "referrals_models",
    "staff_models",
    "visits_models",
]
