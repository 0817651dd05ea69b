"""The one schema, assembled from each domain's Query/Mutation/Subscription mixins."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.printer import print_schema
from strawberry.types import ExecutionContext

from hub.accounts.resolvers import AccountMutation, AccountQuery
from hub.audit.resolvers import AuditQuery
from hub.change_requests.resolvers import ChangeRequestMutation, ChangeRequestQuery
from hub.contracts.resolvers import ContractMutation, ContractQuery
from hub.events.resolvers import EventSubscription
from hub.governance.resolvers import (
    GovernanceMutation,
    GovernanceQuery,
    GovernanceSubscription,
)
from hub.graphql.extensions import OperationMetrics
from hub.graphql.limits import GraphQLLimits, limit_extensions
from hub.graphql.masking import MaskUnexpectedErrors
from hub.graphql.node import NodeQuery
from hub.graphql.storable_text import RefuseUnstorableText
from hub.integrations.resolvers import IntegrationMutation, IntegrationQuery
from hub.la_imports.resolvers import LaImportMutation, LaImportQuery
from hub.mobile.coercion import CommandSalvagingExecutionContext
from hub.mobile.pull_resolvers import MobilePullQuery
from hub.mobile.resolvers import MobileMutation, MobileQuery
from hub.organisations.resolvers import OrganisationQuery
from hub.packages.resolvers import PackageMutation, PackageQuery
from hub.people.resolvers import PersonMutation, PersonQuery
from hub.referrals.resolvers import ReferralMutation, ReferralQuery
from hub.staff.resolvers import StaffMutation, StaffQuery
from hub.system.resolvers import SystemQuery, SystemSubscription
from hub.visits.resolvers import VisitMutation, VisitQuery


@strawberry.type(description="Everything a caller may read.")
class Query(
    SystemQuery,
    NodeQuery,
    OrganisationQuery,
    ContractQuery,
    PersonQuery,
    StaffQuery,
    PackageQuery,
    VisitQuery,
    ReferralQuery,
    ChangeRequestQuery,
    MobileQuery,
    MobilePullQuery,
    GovernanceQuery,
    IntegrationQuery,
    LaImportQuery,
    AuditQuery,
    AccountQuery,
):
    pass


@strawberry.type(description="Every change a caller may make.")
class Mutation(
    AccountMutation,
    ContractMutation,
    PersonMutation,
    StaffMutation,
    PackageMutation,
    VisitMutation,
    ReferralMutation,
    ChangeRequestMutation,
    MobileMutation,
    GovernanceMutation,
    IntegrationMutation,
    LaImportMutation,
):
    pass


@strawberry.type(description="Live streams over graphql-transport-ws.")
class Subscription(SystemSubscription, EventSubscription, GovernanceSubscription):
    pass


class HubSchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        # strawberry would log every error (validation included) with a traceback; unexpected
        # ones are logged once, with their reference, by MaskUnexpectedErrors instead.
        return None


def build_schema(*, production: bool = True, limits: GraphQLLimits | None = None) -> HubSchema:
    extensions: list[Any] = [
        MaskUnexpectedErrors,  # first: an extension listed before it could leak its own errors
        # Parsing and validation dominate small queries; cache both (1.6-2x req/s measured).
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        *limit_extensions(limits or GraphQLLimits(), production=production),
        RefuseUnstorableText,
        OperationMetrics,
    ]
    return HubSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        # A carer's command that fails input coercion is quarantined on its own instead of
        # failing the whole upload (hub.mobile.coercion).
        execution_context_class=CommandSalvagingExecutionContext,
    )


# The schema as published (schema/schema.graphql). Apps build their own with their settings.
schema = build_schema()


def schema_sdl() -> str:
    return print_schema(schema).rstrip() + "\n"
