"""The viewer's presence in the panel (core/presence.py): what routing reads to tell whether an
operator is watching, and the activity signal the page sends."""

from __future__ import annotations

from datetime import datetime

import strawberry

from core.presence import PanelPresence as Presence
from resolvers.context import Info


@strawberry.type(
    description="Whether the viewer has the panel open (a live bell or toasts subscription in some tab) "
    "and is active in it: some tab of theirs has a live subscription, was not reported hidden since its "
    "last activity, and that activity is at most NC_PRESENCE_IDLE_SECONDS old."
)
class PanelPresence:
    panel_open: bool
    active: bool
    last_activity_at: datetime | None = strawberry.field(
        description="The latest activity any tab reported, or the latest first connection of a new tab (a page "
        "load); null when none is remembered."
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
        description="The page's activity signal, per tab: active: true on the viewer's input (throttle it: once "
        "in a while is enough, well within NC_PRESENCE_IDLE_SECONDS), active: false when the page goes hidden "
        "(that tab inactive at once, until its next true; the viewer stays active while another tab is). tab: "
        "the id the page made for itself once per load (at most NC_LIMIT_PANEL_TAB_CHARS characters A-Z, a-z, "
        "0-9, _ and -, else BAD_USER_INPUT), the same it sends as connectionParams.tab on its WebSocket; "
        "null: the connection's tab over a WebSocket, else the tab every client without an id shares. Counts "
        "only while a panel is open; answers the viewer's presence after it."
    )
    async def report_panel_activity(self, info: Info, active: bool = True, tab: str | None = None) -> PanelPresence:
        ctx = info.context
        p = ctx.require_user()
        tab_id = ctx.panel_tab(tab)
        presence = ctx.services.presence
        await presence.report_activity(p.instance_id, p.user_id, active, tab_id)
        return _shown(await presence.state(p.instance_id, p.user_id))
