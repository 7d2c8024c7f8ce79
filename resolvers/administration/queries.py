"""Instance administration's query fields: the settings, and what a change of them would do."""

from __future__ import annotations

import strawberry

from domain import audit
from domain.instance_admin import plan_instance, plan_type_policy, policy_with_type
from domain.policy_preview import preview
from models.catalog import TYPES, TYPES_BY_CODE
from models.enums import Role
from resolvers.administration.inputs import (
    AuditLogFilter,
    InstanceSettingsInput,
    TypePolicyInput,
    audit_filter,
    instance_changes,
    type_policy_changes,
)
from resolvers.administration.types import (
    AuditLogConnection,
    AuditLogEdge,
    AuditLogEntry,
    InstanceSettings,
    PolicyPreview,
)
from resolvers.bell.types import PageInfo
from resolvers.context import Info


@strawberry.type
class AdministrationQuery:
    @strawberry.field(description="ADMINISTRATOR only.")
    async def instance_settings(self, info: Info) -> InstanceSettings:
        ctx = info.context
        ctx.require(Role.ADMINISTRATOR)
        return InstanceSettings.build(await ctx.policy())

    @strawberry.field(
        description="ADMINISTRATOR only: what updateInstanceSettings with this input would do to every delivered type's"
        " effective channels, operator by operator; checked as saving checks it (the same errors), nothing written."
    )
    async def preview_instance_settings(self, info: Info, input: InstanceSettingsInput) -> PolicyPreview:
        ctx = info.context
        p = ctx.require(Role.ADMINISTRATOR)
        plan = await plan_instance(
            p.instance_id,
            instance_changes(input, "previewInstanceSettings"),
            secret_box=ctx.services.secret_box,
            allow_http=ctx.settings.allow_http_endpoints,
            smtp_allowed_hosts=ctx.settings.smtp_allowed_hosts,
        )
        types = [t for t in TYPES if t.delivered]
        result = await preview(plan.policy, plan.policy_after(), types, sample=ctx.settings.limits.preview_sample)
        return PolicyPreview.build(result)

    @strawberry.field(
        description="ADMINISTRATOR only: what setTypePolicy with this input would do to the type's effective channels,"
        " operator by operator; checked as saving checks it (the same errors), nothing written."
    )
    async def preview_type_policy(self, info: Info, input: TypePolicyInput) -> PolicyPreview:
        ctx = info.context
        p = ctx.require(Role.ADMINISTRATOR)
        policy, row = await plan_type_policy(p.instance_id, type_policy_changes(input))
        after = policy_with_type(policy, row)
        result = await preview(
            policy, after, [TYPES_BY_CODE[row["type_code"]]], sample=ctx.settings.limits.preview_sample
        )
        return PolicyPreview.build(result)

    @strawberry.field(
        description="ADMINISTRATOR only: the instance's settings changes, newest first, in pages of first (1 to the"
        " page size) after the cursor after. Entries are kept as long as the history (NC_RETENTION_DAYS)."
    )
    async def audit_log(
        self, info: Info, filter: AuditLogFilter | None = None, first: int = 50, after: str | None = None
    ) -> AuditLogConnection:
        ctx = info.context
        p = ctx.require(Role.ADMINISTRATOR)
        result = await audit.page(
            p.instance_id,
            audit_filter(filter, ctx.settings.limits),
            first=first,
            after=after,
            max_first=ctx.settings.limits.page_size_max,
        )
        edges = [
            AuditLogEdge(cursor=audit.encode_cursor(row.id), node=AuditLogEntry.build(row)) for row in result.entries
        ]
        return AuditLogConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=result.has_next_page, end_cursor=edges[-1].cursor if edges else None),
        )
