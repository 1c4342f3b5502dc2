"""The demo operator's history of escalations: a few raised by staff1 on Rakuten's contracts over the last
two weeks, acknowledged by Rakuten's viewer and resolved by the supervisor, so the dashboard's escalation
pages and the weekly report have something to show. Recorded as they happened (nobody is mailed now), and
only into a tenant that has no escalation yet, so a second start adds nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bpo.clients import contracts
from bpo.core.errors import NotFound
from bpo.core.runtime import Runtime
from bpo.core.scope import Role, Scope
from bpo.tenancy import service as tenancy
from bpo.tenancy import users as tenancy_users
from bpo.tenancy.auth import operator_scope
from bpo.work import escalations
from bpo.work import escalations_schemas as schemas

RAISED_BY = "staff1@demo.example"
ACKNOWLEDGED_BY = "viewer-rakuten@demo.example"
RESOLVED_BY = "supervisor@demo.example"


@dataclass(frozen=True)
class Past:
    days_ago: int
    at: time
    contract: str
    severity: schemas.Severity
    reason: str
    recommended_action: str
    link: str | None
    acknowledged_after: timedelta
    resolved_after: timedelta
    note: str
    # The demo work item (``demo-<day>-<n>``) it was raised on, if any.
    item: int | None = None


HISTORY = (
    Past(
        13,
        time(10, 40),
        "RKT-RECIPE-REVIEW",
        "normal",
        "同じ料理写真を使い回したレシピ投稿が、複数のアカウントから続いています。本日だけで12件です。",
        "規約違反として非承認にするか、ご判断をお願いします。",
        None,
        timedelta(hours=2, minutes=50),
        timedelta(hours=5),
        "楽天様のご判断により非承認とし、該当アカウントへ注意文を送付しました。",
    ),
    Past(
        8,
        time(14, 5),
        "RKT-RECIPE-SOCIAL",
        "high",
        "アプリ更新後「レシピが保存できない」という声が公式アカウントに急増しています。2時間で31件です。",
        "不具合の有無のご確認と、お詫び・周知文についてご指示をお願いします。",
        "https://recipe.rakuten.example/support/notice",
        timedelta(minutes=24),
        timedelta(days=1, hours=2),
        "周知文を公式アカウントから投稿しました。修正版は翌日に公開済みです。",
    ),
    Past(
        3,
        time(23, 12),
        "RKT-RECIPE-PATROL",
        "critical",
        "レシピのコメント欄に、第三者の電話番号と住所が書き込まれています。",
        "該当コメントの削除と、投稿者アカウントの一時停止をご判断ください。",
        None,
        timedelta(minutes=7),
        timedelta(minutes=42),
        "コメントを削除しました。楽天様にて投稿者アカウントを一時停止済みです。",
        item=0,
    ),
)


async def _person(session: AsyncSession, scope: Scope, email: str) -> Scope:
    for role in (Role.STAFF, Role.CLIENT_VIEWER, Role.SUPERVISOR):
        cursor = None
        while True:
            page = await tenancy_users.list_users(session, scope, limit=200, cursor=cursor, role=role)
            for user in page.items:
                if user.email == email:
                    return Scope(
                        tenant_id=scope.tenant_id,
                        principal_id=user.id,
                        role=user.role,
                        client_id=user.client_id,
                        staff_id=user.staff_id,
                    )
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    raise NotFound(f"User {email} not found.")


async def seed_escalations(runtime: Runtime, slug: str, now: datetime | None = None) -> int:
    """Record the history into a tenant that has no escalation yet; the number recorded."""
    now = now or datetime.now(UTC)
    operator = await operator_scope(runtime, slug)
    async with runtime.db.tenant(operator.tenant_id) as session:
        existing = await escalations.list_escalations(
            session, operator, escalations.Filters(), limit=1, cursor=None
        )
        if existing.items:
            return 0
        try:
            staff = await _person(session, operator, RAISED_BY)
            viewer = await _person(session, operator, ACKNOWLEDGED_BY)
            supervisor = await _person(session, operator, RESOLVED_BY)
        except NotFound:
            # Not the demo's logins (a manifest of its own): nothing to tell.
            return 0
        zone = ZoneInfo(await tenancy.tenant_time_zone(session, operator))
        today = now.astimezone(zone).date()
        recorded = 0
        for past in HISTORY:
            try:
                contract = await contracts.get_contract_row_by_code(session, operator, past.contract)
            except NotFound:
                continue
            day = today - timedelta(days=past.days_ago)
            raised = datetime.combine(day, past.at, zone)
            item_id = None
            if past.item is not None:
                item_id = await escalations.work_item_id(
                    session, operator, contract.id, f"demo-{day}-{past.item}"
                )
            made = await escalations.raise_escalation(
                session,
                staff,
                schemas.EscalationCreate(
                    severity=past.severity,
                    reason=past.reason,
                    recommended_action=past.recommended_action,
                    contract_id=None if item_id else contract.id,
                    work_item_id=item_id,
                    link=past.link,
                ),
                raised,
                notify=False,
            )
            at = raised + past.acknowledged_after
            await escalations.acknowledge(session, viewer, made.id, at, via="dashboard", notify=False)
            done = schemas.EscalationResolve(note=past.note)
            await escalations.resolve(
                session, supervisor, made.id, done, raised + past.resolved_after, notify=False
            )
            recorded += 1
    return recorded
