"""The bell's query fields: the history, newest first, and the unread count."""

from __future__ import annotations

import strawberry

from domain import bell, inbox
from resolvers.bell.inputs import NotificationFilter
from resolvers.bell.types import CategoryUnreadCount, NotificationConnection, NotificationEdge, PageInfo, UnreadCounts
from resolvers.bounds import at_most
from resolvers.context import Info


@strawberry.type
class BellQuery:
    @strawberry.field(description="The viewer's bell history, newest first.")
    async def notifications(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        filter: NotificationFilter | None = None,
    ) -> NotificationConnection:
        ctx = info.context
        ctx.require_user()
        if filter is not None:
            most = ctx.settings.limits.ids_per_request
            at_most(filter.category_codes, most, "notifications(filter.categoryCodes)")
            at_most(filter.type_codes, most, "notifications(filter.typeCodes)")
        flt = bell.BellFilter(
            unread_only=bool(filter and filter.unread_only),
            category_codes=[str(c) for c in filter.category_codes]
            if filter and filter.category_codes is not None
            else None,
            type_codes=[str(c) for c in filter.type_codes] if filter and filter.type_codes is not None else None,
            archived=bool(filter and filter.archived),
            snoozed=bool(filter and filter.snoozed),
        )
        result = await bell.page(
            await ctx.operator(),
            first=20 if first is None else first,
            after=after,
            flt=flt,
            max_first=ctx.settings.limits.page_size_max,
        )
        edges = [NotificationEdge.build(row) for row in result.items]
        return NotificationConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=result.has_next_page,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            unread_count=result.unread_count,
        )

    @strawberry.field
    async def unread_count(self, info: Info) -> int:
        ctx = info.context
        ctx.require_user()
        return await bell.unread_count(await ctx.operator())

    @strawberry.field(
        description="The viewer's unread bell items in all and per category, in one query "
        "(total equals unreadCount; archived and snoozed items are not counted)."
    )
    async def unread_counts(self, info: Info) -> UnreadCounts:
        ctx = info.context
        ctx.require_user()
        total, categories = await inbox.unread_counts(await ctx.operator())
        return UnreadCounts(
            total=total,
            categories=[CategoryUnreadCount(category_code=strawberry.ID(c), unread=n) for c, n in categories],
        )
