"""What a claimed delivery waits for before it is sent (issue 15's attention routing), decided when a
worker takes it, so a due row is never sent against the recipient's state at that moment:

    read, archived or snoozed   an escalation or WHEN_AWAY delivery (and a digest's members) CANCELLED
    working hours closed         a routed delivery (or digest) HELD until they open, its try not counted
    at an active panel           a WHEN_AWAY delivery waits NC_AWAY_RECHECK_SECONDS and looks again,
                                 its try not counted; a digest sends its other members and its
                                 WHEN_AWAY ones wait in a new digest (all WHEN_AWAY: it waits)

``Gate.decide`` sorts a claimed batch and writes those outcomes (a few statements per batch); what
it returns is sent. Presence that cannot be read counts as "at the panel": such deliveries wait.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import F
from tortoise.timezone import now

from channels.base import DeliveryRow
from domain.digests import digest_member, digest_text
from domain.routing import AT_THE_PANEL, DIGEST, HELD_ROUTES, PresenceSource, away_of
from domain.working_hours import WorkingHours, from_row
from models.enums import DeliveryStatus, RoutingMode
from models.notification import Delivery, Notification
from models.operator import Operator

#: Why a digest with nothing left to send was not sent.
DIGEST_READ = "cancelled: every notification in the digest was read before it was sent"
#: Why an escalation, a WHEN_AWAY delivery or a digest member was not sent.
HANDLED = "cancelled: the notification was read, archived or snoozed before it was sent"
#: Routes whose delivery waited (a deadline, the operator's absence): sent only if still unhandled.
WAIT_ROUTES = frozenset({RoutingMode.ESCALATE_AFTER.value, RoutingMode.WHEN_AWAY.value})
_WAITING = (DeliveryStatus.QUEUED.value, DeliveryStatus.HELD.value)
away_only = RoutingMode.WHEN_AWAY.value


def handled(notification: Notification) -> bool:
    """Read, archived or snoozed: the operator dealt with it; what waited for them is not sent."""
    return bool(notification.read_at or notification.archived_at or notification.snoozed_until)


@dataclass
class Ready:
    """A delivery to send: its notification, or its digest's text and members."""

    delivery: DeliveryRow
    operator: Operator
    notification: Notification | None
    digest: tuple[str, str] | None = None
    members: tuple[int, ...] = ()


@dataclass
class Gate:
    presence: PresenceSource | None
    recheck_seconds: float
    owner: str
    _void: dict[int, str] = field(default_factory=dict)
    _members_void: list[int] = field(default_factory=list)
    _waiting: list[int] = field(default_factory=list)
    _held: dict[datetime, list[int]] = field(default_factory=dict)
    #: Digests sent without their WHEN_AWAY members (the operator is at the panel): those wait in a new one.
    _split: list[tuple[DeliveryRow, list[int]]] = field(default_factory=list)

    async def decide(self, deliveries: list[DeliveryRow], operators: dict[int, Operator]) -> list[Ready]:
        members = await _members([d.id for d in deliveries if d.route == DIGEST])
        wanted = {d.notification_id for d in deliveries if d.notification_id}
        wanted |= {n for listed in members.values() for _, n, _ in listed}
        notifications = {n.id: n for n in await Notification.filter(id__in=wanted)} if wanted else {}
        current = now()
        hours: dict[int, WorkingHours | None] = {}
        asks_presence = {
            d.id
            for d in deliveries
            if d.route == RoutingMode.WHEN_AWAY.value
            or (
                d.route == DIGEST and any(route == RoutingMode.WHEN_AWAY.value for _, _, route in members.get(d.id, ()))
            )
        }
        away = await self._away((d for d in deliveries if d.id in asks_presence), operators)
        ready = []
        for d in deliveries:
            operator = operators.get(d.operator_id)
            if operator is None:
                continue
            notification = notifications.get(d.notification_id or 0)
            digest: tuple[str, str] | None = None
            listed: tuple[int, ...] = ()
            if d.route == DIGEST:
                shown = []
                later = []  # WHEN_AWAY members, while the operator is at an active panel
                for member_id, notification_id, route in members.get(d.id, ()):
                    member = notifications.get(notification_id)
                    if member is None or handled(member):
                        self._members_void.append(member_id)
                    elif route == away_only and d.id in asks_presence and d.operator_id not in away:
                        later.append(member_id)
                    else:
                        shown.append((member_id, member))
                if not shown and not later:
                    self._void[d.id] = DIGEST_READ
                    continue
                if not shown:
                    self._waiting.append(d.id)
                    continue
                if later:
                    self._split.append((d, later))
                listed = tuple(m for m, _ in shown)
                # A collapsed item alerts once per window: listed once, with its count.
                once = {n.id: n for _, n in shown}
                digest = digest_text([digest_member(n) for n in once.values()], operator.locale)
            elif d.route in WAIT_ROUTES and notification is not None and handled(notification):
                self._void[d.id] = HANDLED
                continue
            if d.route in HELD_ROUTES:
                if d.operator_id not in hours:
                    hours[d.operator_id] = from_row(operator.timezone, operator.working_hours)
                schedule = hours[d.operator_id]
                release = schedule.release(current) if schedule is not None else None
                if release is not None:
                    self._held.setdefault(release, []).append(d.id)
                    continue
            if d.route != DIGEST and d.id in asks_presence and d.operator_id not in away:
                self._waiting.append(d.id)
                continue
            ready.append(Ready(d, operator, notification, digest, listed))
        await self._write(current)
        return ready

    async def _away(self, asking: Iterable[DeliveryRow], operators: dict[int, Operator]) -> set[int]:
        by_instance: dict[str, dict[int, str]] = {}
        for d in asking:
            if d.operator_id in operators:
                by_instance.setdefault(d.instance_id, {})[d.operator_id] = operators[d.operator_id].user_id
        away: set[int] = set()
        for instance_id, users in by_instance.items():
            away |= await away_of(instance_id, users, self.presence)
        return away

    async def _write(self, current: datetime) -> None:
        mine = {"locked_by": self.owner}
        released = {"lease_until": None, "locked_by": None, "updated_at": current}
        if self._members_void:  # members wait unleased: cancelled while still waiting
            await Delivery.filter(id__in=self._members_void, status__in=_WAITING).update(
                status=DeliveryStatus.CANCELLED.value, last_error=HANDLED, updated_at=current
            )
        for reason in set(self._void.values()):
            await Delivery.filter(id__in=[i for i, r in self._void.items() if r == reason], **mine).update(
                status=DeliveryStatus.CANCELLED.value, last_error=reason, next_attempt_at=None, **released
            )
        if self._waiting:
            await Delivery.filter(id__in=self._waiting, **mine).update(
                status=DeliveryStatus.QUEUED.value,
                attempts=F("attempts") - 1,  # a look, not a try
                last_error=AT_THE_PANEL,
                next_attempt_at=current + timedelta(seconds=self.recheck_seconds),
                **released,
            )
        for lead, later in self._split:
            wait = await Delivery.create(
                instance_id=lead.instance_id,
                operator_id=lead.operator_id,
                channel=lead.channel,
                address=lead.address,
                status=DeliveryStatus.QUEUED.value,
                route=DIGEST,
                last_error=AT_THE_PANEL,
                next_attempt_at=current + timedelta(seconds=self.recheck_seconds),
            )
            await Delivery.filter(id__in=later).update(digest_id=wait.id, updated_at=current)
        for release, ids in self._held.items():
            await Delivery.filter(id__in=ids, **mine).update(
                status=DeliveryStatus.HELD.value, attempts=F("attempts") - 1, next_attempt_at=release, **released
            )
            # a held digest's members show it too
            await Delivery.filter(digest_id__in=ids, status=DeliveryStatus.QUEUED.value).update(
                status=DeliveryStatus.HELD.value, updated_at=current
            )


async def _members(leads: list[int]) -> dict[int, list[tuple[int, int, Any]]]:
    """Digests' members still waiting, in the order they came: (member id, notification id, route)."""
    members: dict[int, list[tuple[int, int, Any]]] = {}
    if leads:
        rows = await (
            Delivery.filter(digest_id__in=leads, status__in=_WAITING)
            .order_by("id")
            .values_list("id", "digest_id", "notification_id", "route")
        )
        for member_id, digest_id, notification_id, route in rows:
            members.setdefault(digest_id, []).append((member_id, notification_id, route))
    return members
