"""The live streams of one viewer as flat messages (domain.live), before any GraphQL shaping.

Both ways of answering a subscription read these: the GraphQL execution path (resolvers in
bell/subscriptions.py) and the compiled path (compiled_subscriptions.py) that shapes each message directly.
So the bell and toasts streams here are also where the viewer's panel is held open (presence).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncGenerator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from graphql import FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode

from core.broker import RESYNC, user_topic
from domain import bell, live
from resolvers.context import Context


def _topic(ctx: Context, stream: str) -> str:
    p = ctx.require_user()
    return user_topic(p.instance_id, p.user_id, stream)


def _panel_open(ctx: Context) -> AbstractAsyncContextManager[str]:
    """The viewer's panel (in the tab of the connectionParams' ``tab``) counts as open while this
    subscription runs (core/presence.py): one call when it starts and one when it ends, none per message."""
    p = ctx.require_user()
    return ctx.services.presence.hold(p.instance_id, p.user_id, ctx.panel_tab())


#: Bell item ids a subscription remembers having sent (~80 KiB when full), so a replay and the live stream never send
#: one twice. Not a "newest id" threshold: at scale notifications commit out of id order (two
#: publishers' transactions), and an item with a smaller id may arrive after a larger one.
SEEN_KEPT = 512


#: The bell events of the contract: every bell subscription gets them.
CONTRACT_EVENTS = frozenset({"NotificationAdded", "NotificationsRead"})
#: Bell messages of the inbox actions passed on as they are (domain.live).
INBOX_CHANGES = frozenset({"NotificationsUnread", "NotificationsUnarchived", "NotificationsReturned"})


def bell_members(
    selection_set: SelectionSetNode | None, fragments: dict[str, FragmentDefinitionNode]
) -> frozenset[str]:
    """The BellEvent members a ``bell`` selection asks for: the contract's two, and those it names
    in a type condition (an inline fragment or a fragment, nested ones too). A document written
    before the inbox events existed names none of them and receives the stream it always did;
    a client that wants them says so (``... on NotificationsArchived { ids unreadCount }``)."""
    named: set[str] = set(CONTRACT_EVENTS)
    spread: set[str] = set()

    def walk(selections: SelectionSetNode) -> None:
        for selection in selections.selections:
            if isinstance(selection, InlineFragmentNode):
                if selection.type_condition is not None:
                    named.add(selection.type_condition.name.value)
                walk(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in spread:
                spread.add(selection.name.value)
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    named.add(fragment.type_condition.name.value)
                    walk(fragment.selection_set)

    if selection_set is not None:
        walk(selection_set)
    return frozenset(named)


class LiveSink(Protocol):
    """Where a subscription's messages can go without waking its task (api.graphql_ws): the
    operation's socket, written to in the publisher's step."""

    def ready(self) -> bool:
        """True when ``send`` can write a message now (the operation runs, the socket takes writes)."""
        ...

    def send(self, message: dict[str, Any]) -> None:
        """Shape and write ``message``; called only right after ``ready`` said True."""
        ...


class _Bell:
    """What one bell subscription remembers — the items it sent (``SEEN_KEPT``) and those it heard
    were read — and what it lets out: one object for its generator and its sink (closures and
    their cells cost each of 10,000 idle subscriptions ~0.5 KiB more)."""

    __slots__ = ("last_seen", "members", "read", "seen", "sink")

    def __init__(self, last_seen: int | None, members: frozenset[str], sink: LiveSink | None) -> None:
        self.last_seen = last_seen
        self.members = members
        self.sink = sink
        self.seen: OrderedDict[int, None] = OrderedDict()
        self.read: OrderedDict[int, None] = OrderedDict()

    def first_time(self, item_id: int) -> bool:
        seen = self.seen
        if item_id in seen:
            return False
        seen[item_id] = None
        if len(seen) > SEEN_KEPT:
            seen.popitem(last=False)
        self.last_seen = item_id if self.last_seen is None else max(self.last_seen, item_id)
        return True

    def passed(self, message: dict[str, Any]) -> bool:
        """Whether a live message (anything but RESYNC) goes out, remembering what it says."""
        kind = message["type"]
        if kind == "NotificationAdded":
            item_id = int(message["notification"]["id"])
            # An item this tab already heard was read (the hand-off of its publish came late,
            # at scale) is not shown again as new.
            return self.first_time(item_id) and item_id not in self.read
        if kind == "NotificationCollapsed":
            # Another event about the same entity: the item (seen or not) shows its new count
            # (to subscriptions that name the member, like the other additions to the contract).
            item_id = int(message["notification"]["id"])
            self.first_time(item_id)
            return item_id not in self.read and kind in self.members
        if kind in ("NotificationsRead", "NotificationsArchived", "NotificationsSnoozed"):
            # Read, or out of the bell: a late NotificationAdded of these is not shown as new.
            read = self.read
            for read_id in message["ids"]:
                read[int(read_id)] = None
            while len(read) > SEEN_KEPT:
                read.popitem(last=False)
            return kind in self.members
        return kind in INBOX_CHANGES and kind in self.members

    def direct(self, message: dict[str, Any]) -> bool:
        """core.broker.Subscription.direct: the message sent (or let go) at once when the sink is
        ready; False leaves it to the generator (a replay, or the socket's flow control)."""
        sink = self.sink
        if message is RESYNC or sink is None or not sink.ready():
            return False
        if self.passed(message):
            sink.send(message)
        return True


async def bell_messages(
    ctx: Context, after: str | None, members: frozenset[str] = CONTRACT_EVENTS, sink: LiveSink | None = None
) -> AsyncGenerator[dict[str, Any], None]:
    """NotificationAdded, NotificationsRead and, of the inbox actions' messages, those whose type is
    among ``members`` (``bell_members``); replays from ``after`` first, and again
    from the newest item seen when the broker lost messages (a Redis reconnect, or a listener that
    fell too far behind: RESYNC). With a ``sink``, a message that arrives while this generator
    waits and the sink is ready goes to the sink at once instead of being yielded (the same
    choices: what would be yielded is sent, in the same order)."""
    p = ctx.require_user()
    state = _Bell(bell.cursor_or_id(after) if after else None, members, sink)
    async with _panel_open(ctx), ctx.services.broker.subscribe(_topic(ctx, live.BELL)) as messages:
        # Listening first, then reading the database: nothing falls between the two.
        if state.last_seen is None:
            # Where a replay starts should messages be lost before the first one arrives.
            state.last_seen = await bell.newest_id(p.instance_id, p.user_id)
        else:
            async for row, unread in bell.missed_all(p.instance_id, p.user_id, state.last_seen):
                if state.first_time(row.id):
                    yield live.bell_added(live.notification_payload(row), unread)
        if sink is not None:
            messages.direct = state.direct
        async for message in messages:
            if message["type"] == RESYNC["type"]:
                # From the oldest item still remembered, not the newest: at scale an item with a
                # smaller id can commit after a larger one was sent, and its message may be among
                # the lost ones; what was sent already is skipped by ``first_time``.
                seen, last_seen = state.seen, state.last_seen
                since = min(min(seen), last_seen) if seen and last_seen is not None else last_seen
                async for row, unread in bell.missed_all(p.instance_id, p.user_id, since):
                    if state.first_time(row.id):
                        yield live.bell_added(live.notification_payload(row), unread)
            elif state.passed(message):
                yield message


#: Banners a toasts subscription remembers having shown, to take them back when they are read.
SHOWN_KEPT = 64


class _Toasts:
    """What one toasts subscription remembers (the banners it showed, ``SHOWN_KEPT``) and what a
    message shows: one object for its generator and its sink, as ``_Bell``."""

    __slots__ = ("shown", "sink")

    def __init__(self, sink: LiveSink | None) -> None:
        self.sink = sink
        self.shown: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def shown_now(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """What a live message shows: none, the toast, or the banners it takes back."""
        kind = message["type"]
        shown = self.shown
        if kind == "Toast":
            notification = message["notification"]
            if message.get("durationSeconds"):
                shown[notification["id"]] = notification
                shown.move_to_end(notification["id"])
                if len(shown) > SHOWN_KEPT:
                    shown.popitem(last=False)
            return [message]
        if kind == "ToastsDismissed":
            taken_back = (shown.pop(read_id, None) for read_id in message["ids"])
            return [
                {**live.toast(notification, duration_seconds=0, sound=None, repeat=0), "dismissed": True}
                for notification in taken_back
                if notification is not None
            ]
        return []

    def direct(self, message: dict[str, Any]) -> bool:
        """As ``_Bell.direct``."""
        sink = self.sink
        if message is RESYNC or sink is None or not sink.ready():
            return False
        for toast in self.shown_now(message):
            sink.send(toast)
        return True


async def toast_messages(ctx: Context, sink: LiveSink | None = None) -> AsyncGenerator[dict[str, Any], None]:
    """Toasts, and for a read notification whose banner this subscription showed (one of the last
    ``SHOWN_KEPT``), the same toast again with ``dismissed: true`` (domain.retract). With a
    ``sink``, as ``bell_messages`` has it: what arrives while this generator waits goes there."""
    state = _Toasts(sink)
    async with _panel_open(ctx), ctx.services.broker.subscribe(_topic(ctx, live.TOASTS)) as messages:
        if sink is not None:
            messages.direct = state.direct
        async for message in messages:
            for toast in state.shown_now(message):
                yield toast


async def reminder_messages(ctx: Context) -> AsyncGenerator[dict[str, Any], None]:
    async with ctx.services.broker.subscribe(_topic(ctx, live.REMINDERS)) as messages:
        async for message in messages:
            if message["type"] == "Reminder":
                yield message
