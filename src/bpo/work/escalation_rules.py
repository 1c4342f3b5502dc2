"""Escalation rules: per contract and severity, whether the client's viewers are told, which other
addresses are, and within how many minutes the client must acknowledge; ``DEFAULT_RULES`` where a contract
has none."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.core import audit
from bpo.core.orm import new_id
from bpo.core.scope import Scope
from bpo.work import escalations_schemas as schemas
from bpo.work.escalation_models import EscalationRule

DEFAULT_MINUTES: Mapping[schemas.Severity, int] = {"critical": 15, "high": 60, "normal": 240}


@dataclass(frozen=True, slots=True)
class Rule:
    notify_viewers: bool
    extra_recipients: tuple[str, ...]
    acknowledge_within_minutes: int

    def view(self) -> schemas.EscalationRule:
        return schemas.EscalationRule(
            notify_viewers=self.notify_viewers,
            extra_recipients=list(self.extra_recipients),
            acknowledge_within_minutes=self.acknowledge_within_minutes,
        )


DEFAULT_RULES: Mapping[schemas.Severity, Rule] = {
    severity: Rule(True, (), minutes) for severity, minutes in DEFAULT_MINUTES.items()
}


def unique_addresses(values: Sequence[str]) -> tuple[str, ...]:
    """``values`` trimmed, without repeats whatever their case (the first spelling kept)."""
    seen: dict[str, str] = {}
    for value in values:
        seen.setdefault(value.strip().lower(), value.strip())
    return tuple(seen.values())


async def rules_of(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID
) -> dict[schemas.Severity, Rule]:
    """The contract's rule for every severity, defaults where it has none (no visibility check: the
    caller has checked the contract)."""
    rows = await session.scalars(
        select(EscalationRule).where(
            EscalationRule.tenant_id == scope.tenant_id, EscalationRule.contract_id == contract_id
        )
    )
    found = dict(DEFAULT_RULES)
    for row in rows:
        severity = cast("schemas.Severity", row.severity)
        found[severity] = Rule(
            row.notify_viewers, tuple(row.extra_recipients), row.acknowledge_within_minutes
        )
    return found


async def all_rules(session: AsyncSession, scope: Scope) -> dict[uuid.UUID, dict[schemas.Severity, Rule]]:
    """Every contract's rules that has any stored, by contract id (defaults filled in)."""
    rows = await session.scalars(
        select(EscalationRule)
        .where(EscalationRule.tenant_id == scope.tenant_id)
        .order_by(EscalationRule.contract_id)
    )
    found: dict[uuid.UUID, dict[schemas.Severity, Rule]] = {}
    for row in rows:
        rules = found.setdefault(row.contract_id, dict(DEFAULT_RULES))
        rules[cast("schemas.Severity", row.severity)] = Rule(
            row.notify_viewers, tuple(row.extra_recipients), row.acknowledge_within_minutes
        )
    return found


def rules_view(contract_id: uuid.UUID, rules: Mapping[schemas.Severity, Rule]) -> schemas.EscalationRules:
    return schemas.EscalationRules(
        contract_id=contract_id,
        critical=rules["critical"].view(),
        high=rules["high"].view(),
        normal=rules["normal"].view(),
    )


async def get_rules(session: AsyncSession, scope: Scope, contract_id: uuid.UUID) -> schemas.EscalationRules:
    contract = await contracts.get_contract_row(session, scope, contract_id)
    return rules_view(contract.id, await rules_of(session, scope, contract.id))


def desired_rules(data: schemas.EscalationRulesUpdate) -> dict[schemas.Severity, Rule]:
    """The rules a request (or a manifest) declares, every default filled in."""
    rules: dict[schemas.Severity, Rule] = {}
    for severity in schemas.SEVERITIES:
        given: schemas.EscalationRuleUpdate | None = getattr(data, severity)
        if given is None:
            rules[severity] = DEFAULT_RULES[severity]
            continue
        rules[severity] = Rule(
            given.notify_viewers,
            unique_addresses(given.extra_recipients),
            given.acknowledge_within_minutes or DEFAULT_MINUTES[severity],
        )
    return rules


async def set_rules(
    session: AsyncSession, scope: Scope, contract_id: uuid.UUID, data: schemas.EscalationRulesUpdate
) -> schemas.EscalationRules:
    """Replace the contract's rules; escalations already raised keep the target they were raised with."""
    contract = await contracts.get_contract_row(session, scope, contract_id, for_update=True)
    rules = desired_rules(data)
    before = await rules_of(session, scope, contract.id)
    await session.execute(
        delete(EscalationRule).where(
            EscalationRule.tenant_id == scope.tenant_id, EscalationRule.contract_id == contract.id
        )
    )
    session.add_all(
        EscalationRule(
            tenant_id=scope.tenant_id,
            id=new_id(),
            contract_id=contract.id,
            severity=severity,
            notify_viewers=rule.notify_viewers,
            extra_recipients=list(rule.extra_recipients),
            acknowledge_within_minutes=rule.acknowledge_within_minutes,
        )
        for severity, rule in rules.items()
    )
    await session.flush()
    changed = sorted(s for s in schemas.SEVERITIES if before[s] != rules[s])
    if changed:
        audit.record(session, scope, "escalation_rules.updated", "contract", contract.id, severities=changed)
    return rules_view(contract.id, rules)
