"""The viewer's presence in the panel (core/presence.py): what routing reads to tell whether an
operator is watching, and the activity signal the page sends."""

from __future__ import annotations

from datetime import datetime

import strawberry

from core.presence import PanelPresence as Presence
from resolvers.context import Info


@strawberry.type(
    description="Whether the viewer has the panel open (a live bell or toasts subscription in some tab) "
    "and is active in it (the last activity at most NC_PRESENCE_IDLE_SECONDS ago, and the page not "
    "reported hidden since)."
)
class PanelPresence:
    panel_open: bool
    active: bool
    last_activity_at: datetime | None = strawberry.field(
        description="The last activity the page reported, or the last panel opened; null when none is remembered."
    )


def _shown(presence: Presence) -> PanelPresence:
    return PanelPresence(
        panel_open=presence.panel_open, active=presence.active, last_activity_at=presence.last_activity_at
    )


@strawberry.type
class PresenceQuery:
    @strawberry.field(description="The viewer's own presence in the panel, as routing sees it now.")
    async def panel_presence(self, info: Info) -> PanelPresence:
        ctx = info.context
        p = ctx.require_user()
        return _shown(await ctx.services.presence.state(p.instance_id, p.user_id))


@strawberry.type
class PresenceMutation:
    @strawberry.mutation(
        description="The page's activity signal: active: true on the viewer's input (throttle it: once in "
        "a while is enough, well within NC_PRESENCE_IDLE_SECONDS), active: false when the page goes hidden "
        "(inactive at once, until the next true). Counts only while a panel is open; answers the presence after it."
    )
    async def report_panel_activity(self, info: Info, active: bool = True) -> PanelPresence:
        ctx = info.context
        p = ctx.require_user()
        presence = ctx.services.presence
        await presence.report_activity(p.instance_id, p.user_id, active)
        return _shown(await presence.state(p.instance_id, p.user_id))
