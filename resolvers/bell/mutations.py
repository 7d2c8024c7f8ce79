"""The bell's mutation fields: read marks and the inbox actions (mark unread, archive, unarchive,
snooze), each announced to every tab the viewer has open."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import strawberry
from tortoise.timezone import now

from domain import bell, inbox, live
from domain.acknowledge import EntityRead, read_about
from domain.entities import checked_entity
from domain.errors import BadUserInput
from domain.retract import bell_messages
from resolvers.bell.types import InboxPayload, MarkReadPayload, SnoozePayload
from resolvers.bounds import at_most
from resolvers.context import Info
from resolvers.events.inputs import EntityRefInput
from services.dispatch import Place, announce_in_order, bell_change

IdsArgument = Annotated[list[strawberry.ID], strawberry.argument(description="The notifications' ids (from the bell).")]


@strawberry.type
class BellMutation:
    @strawberry.mutation
    async def mark_notifications_read(self, info: Info, ids: list[strawberry.ID]) -> MarkReadPayload:
        ctx = info.context
        ctx.require_user()
        at_most(ids, ctx.settings.limits.ids_per_request, "markNotificationsRead(ids)")
        async with bell_change(ctx.principal.instance_id) as place:
            changed, unread = await bell.mark_read(await ctx.operator(), [str(i) for i in ids])
        await _announce(info, place, changed, live.bell_read(changed, unread), take_back_banners=True)
        return MarkReadPayload(ids=[strawberry.ID(i) for i in changed], unread_count=unread)

    @strawberry.mutation(
        description="Mark read every unread item of the viewer about one ticket, chat or client (entity kinds "
        "TICKET, CHAT, CLIENT in any case, or the kind the producer used): their banners are taken back "
        "in every tab and their unsent external deliveries CANCELLED."
    )
    async def mark_entity_read(self, info: Info, entity: EntityRefInput) -> MarkReadPayload:
        ctx = info.context
        p = ctx.require_user()
        kind, entity_id = checked_entity(entity.kind, str(entity.id))
        operator = await ctx.operator()
        if operator is None or operator.id is None:
            return MarkReadPayload(ids=[], unread_count=0)
        async with bell_change(ctx.principal.instance_id) as place:
            marks = await read_about(p.instance_id, [EntityRead(kind, entity_id, (p.user_id,))], now())
        if not marks:
            place.release()  # (nothing to announce)
            return MarkReadPayload(ids=[], unread_count=await bell.unread_count(operator))
        mark = marks[0]
        await _announce(info, place, mark.ids, live.bell_read(mark.ids, mark.unread_count), take_back_banners=True)
        return MarkReadPayload(ids=[strawberry.ID(i) for i in mark.ids], unread_count=mark.unread_count)

    @strawberry.mutation
    async def mark_all_notifications_read(
        self, info: Info, category_code: strawberry.ID | None = None
    ) -> MarkReadPayload:
        ctx = info.context
        ctx.require_user()
        async with bell_change(ctx.principal.instance_id) as place:
            changed, unread = await bell.mark_all_read(await ctx.operator(), category_code)
        await _announce(info, place, changed, live.bell_read(changed, unread), take_back_banners=True)
        return MarkReadPayload(ids=[strawberry.ID(i) for i in changed], unread_count=unread)

    @strawberry.mutation(
        description="Mark the viewer's notifications unread again: each is counted in unreadCount again "
        "(unless archived or snoozed) and every open tab learns it (NotificationsUnread on bell). "
        "An id that is not the viewer's is NOT_FOUND and nothing changes."
    )
    async def mark_notifications_unread(self, info: Info, ids: IdsArgument) -> InboxPayload:
        ctx = info.context
        ctx.require_user()
        wanted = _ids(ids, ctx.settings.limits.ids_per_request, "markNotificationsUnread(ids)")
        async with bell_change(ctx.principal.instance_id) as place:
            operator_id, rows = await bell.owned(await ctx.operator(), wanted, bell_only=True)
            changed, unread = await inbox.mark_unread(operator_id, rows)
        await _announce(info, place, changed, live.bell_unread(changed, unread))
        return InboxPayload(ids=[strawberry.ID(i) for i in changed], unread_count=unread)

    @strawberry.mutation(
        description="Archive the viewer's notifications: they leave the bell (filter.archived lists "
        "them), their unread ones leave unreadCount, their banners stop repeating, a snoozed one stays "
        "archived instead of coming back; every open tab learns it (NotificationsArchived on bell)."
    )
    async def archive_notifications(self, info: Info, ids: IdsArgument) -> InboxPayload:
        ctx = info.context
        ctx.require_user()
        wanted = _ids(ids, ctx.settings.limits.ids_per_request, "archiveNotifications(ids)")
        async with bell_change(ctx.principal.instance_id) as place:
            operator_id, rows = await bell.owned(await ctx.operator(), wanted, bell_only=True)
            changed, unread = await inbox.archive(operator_id, rows, now())
        await _announce(info, place, changed, live.bell_archived(changed, unread), take_back_banners=True)
        return InboxPayload(ids=[strawberry.ID(i) for i in changed], unread_count=unread)

    @strawberry.mutation(
        description="Bring archived notifications back into the bell (read or unread as they were); "
        "every open tab learns it (NotificationsUnarchived on bell, with the items)."
    )
    async def unarchive_notifications(self, info: Info, ids: IdsArgument) -> InboxPayload:
        ctx = info.context
        ctx.require_user()
        wanted = _ids(ids, ctx.settings.limits.ids_per_request, "unarchiveNotifications(ids)")
        async with bell_change(ctx.principal.instance_id) as place:
            operator_id, rows = await bell.owned(await ctx.operator(), wanted, bell_only=True)
            back, unread = await inbox.unarchive(operator_id, rows)
        changed = [str(row.id) for row in back]
        await _announce(
            info,
            place,
            changed,
            live.bell_restored("NotificationsUnarchived", [live.notification_payload(r) for r in back], unread),
        )
        return InboxPayload(ids=[strawberry.ID(i) for i in changed], unread_count=unread)

    @strawberry.mutation(
        description="Snooze the viewer's notifications until a time: they leave the bell (and "
        "unreadCount) until then, then come back unread with a banner, also after a restart. An archived "
        "one leaves the archive; a snoozed one gets the new time. until must have a UTC offset and lie "
        "in the future, at most NC_LIMIT_SNOOZE_SECONDS (30 days) ahead. Every open tab learns it "
        "(NotificationsSnoozed on bell, then NotificationsReturned)."
    )
    async def snooze_notifications(
        self,
        info: Info,
        ids: IdsArgument,
        until: Annotated[
            datetime, strawberry.argument(description="When they come back (ISO 8601 with a UTC offset).")
        ],
    ) -> SnoozePayload:
        ctx = info.context
        ctx.require_user()
        wanted = _ids(ids, ctx.settings.limits.ids_per_request, "snoozeNotifications(ids)")
        inbox.check_snooze(until, now(), ctx.settings.limits.snooze_seconds)
        until = until.astimezone(UTC)
        async with bell_change(ctx.principal.instance_id) as place:
            operator = await ctx.operator()
            _, rows = await bell.owned(operator, wanted, bell_only=True)
            changed, unread = await inbox.snooze(operator, rows, until)
        await _announce(info, place, changed, live.bell_snoozed(changed, until, unread), take_back_banners=True)
        return SnoozePayload(ids=[strawberry.ID(i) for i in changed], snoozed_until=until, unread_count=unread)


def _ids(ids: list[strawberry.ID], most: int, what: str) -> list[str]:
    """The ids as text: BAD_USER_INPUT when there are none or more than ``most`` (NC_LIMIT_IDS_PER_REQUEST)."""
    if not ids:
        raise BadUserInput(f"{what} is empty: send the ids of the notifications to change")
    at_most(ids, most, what)
    return [str(i) for i in ids]


async def _announce(
    info: Info, place: Place, ids: list[str], message: dict[str, Any], *, take_back_banners: bool = False
) -> None:
    """Every tab the viewer has open gets ``message`` (when anything changed: ``ids``); items read or
    out of the bell (archived, snoozed) also have their banners taken back (ToastsDismissed).
    ``place``: the change's, from ``bell_change`` (released here, announced or not)."""
    if not ids:
        place.release()
        return
    p = info.context.principal
    # In commit order with the publishing calls' messages (answered, perhaps not yet sent).
    await announce_in_order(
        info.context.services.broker,
        p.instance_id,
        bell_messages(p.instance_id, p.user_id, ids, message, take_back_banners=take_back_banners),
        info.context.settings.live_fallback_seconds,
        place,
    )
