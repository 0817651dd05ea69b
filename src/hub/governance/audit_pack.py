"""The audit pack of one case: everything a commissioner or inspector sampling it needs, as one
JSON document with a stable, versioned structure (seed 003: "an audit pack for any sampled case
showing the full timeline and decision rationale").

    {
      "format": "care-hub/audit-pack", "version": 1,
      "generatedAt": "...Z", "generatedBy": "account:...", "timezone": "Europe/London",
      "case": {id, rule, title, severity, status, level, ownerRole, owner, contract, providerId,
               personId, visitId, subject, openedAt, acknowledgeDueAt, dueAt, ... outcome,
               reconciliation, safeguardingDecision, details},
      "timeline": [{eventId, type, relation, occurredAt, occurredAtLocal, recordedAt, actor,
                    payload}],          # every event, decision and action, in log order
      "actions": [{id, kind, description, ownerRole, owner, dueAt, createdBy, createdAt,
                   completedAt, completedBy, completionNote}]
    }

Times are ISO 8601 in UTC as stored; `occurredAtLocal` shows each event on the Europe/London
clock the contract runs on. Keys never change meaning within a version; additions bump it.
`relation` says why an event is in the pack: `opened` (the facts that opened the case),
`evidence` (later facts about it), `reconciled` (a late fact that reconciled it) or
`lifecycle` (the case's own events: opened, acknowledged, escalated, resolved, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hub.events.models import Event
from hub.governance.models import CaseAction, ExceptionCase
from hub.kit.time import LONDON

AUDIT_PACK_FORMAT = "care-hub/audit-pack"
AUDIT_PACK_VERSION = 1


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def build_audit_pack(
    case: ExceptionCase,
    timeline: Sequence[tuple[Event, str]],
    actions: Sequence[CaseAction],
    *,
    contract_reference: str | None,
    outcome_label: str | None,
    generated_at: datetime,
    generated_by: str,
) -> dict[str, Any]:
    return {
        "format": AUDIT_PACK_FORMAT,
        "version": AUDIT_PACK_VERSION,
        "generatedAt": generated_at.isoformat(),
        "generatedBy": generated_by,
        "timezone": "Europe/London",
        "case": {
            "id": str(case.id),
            "rule": case.rule,
            "title": case.title,
            "severity": case.severity.value,
            "status": case.status.value,
            "level": case.level,
            "ownerRole": case.owner_role,
            "owner": case.owner,
            "contract": {
                "id": str(case.contract_id) if case.contract_id else None,
                "reference": contract_reference,
            },
            "providerId": str(case.provider_id) if case.provider_id else None,
            "personId": str(case.person_id) if case.person_id else None,
            "visitId": str(case.visit_id) if case.visit_id else None,
            "subject": {"type": case.subject_type, "id": str(case.subject_id)},
            "openedAt": case.opened_at.isoformat(),
            "acknowledgeDueAt": case.acknowledge_due_at.isoformat(),
            "dueAt": case.due_at.isoformat(),
            "nextEscalationAt": _iso(case.next_escalation_at),
            "acknowledgedAt": _iso(case.acknowledged_at),
            "escalatedAt": _iso(case.escalated_at),
            "resolvedAt": _iso(case.resolved_at),
            "resolvedBy": case.resolved_by,
            "closedAt": _iso(case.closed_at),
            "closedBy": case.closed_by,
            "outcome": (
                {
                    "code": case.outcome_code,
                    "label": outcome_label,
                    "fields": dict(case.outcome_fields or {}),
                    "note": case.resolution_note,
                }
                if case.outcome_code
                else None
            ),
            "reconciliation": case.reconciliation,
            "safeguardingDecision": case.safeguarding_decision,
            "details": dict(case.details or {}),
        },
        "timeline": [
            {
                "eventId": str(event.id),
                "type": event.type,
                "relation": relation,
                "occurredAt": event.occurred_at.isoformat(),
                "occurredAtLocal": event.occurred_at.astimezone(LONDON).isoformat(),
                "recordedAt": event.recorded_at.isoformat(),
                "actor": event.actor,
                "payload": dict(event.payload or {}),
            }
            for event, relation in timeline
        ],
        "actions": [
            {
                "id": str(action.id),
                "kind": action.kind.value,
                "description": action.description,
                "ownerRole": action.owner_role,
                "owner": action.owner,
                "dueAt": _iso(action.due_at),
                "createdBy": action.created_by,
                "createdAt": action.created_at.isoformat(),
                "completedAt": _iso(action.completed_at),
                "completedBy": action.completed_by,
                "completionNote": action.completion_note,
            }
            for action in actions
        ],
    }
