"""The instance's delivery log for supervisors and administrators: pages, summary counts, retries.

What it lists: the stored delivery rows of the instance — the external channels (BROWSER,
TELEGRAM, VIBER, WHATSAPP, ECHAT, EMAIL, CUSTOM) of every notification, and the Channels tab's test
sends (no notification, no type). The panel channels (BELL, BANNER, SOUND) have no delivery rows:
publishing hands them to the broker itself (domain/panel.py), so they are not in this log (rows
older releases wrote for them are left out too); a notification's own log,
``deliveries(notificationId)``, shows its panel entries. Asking for a panel channel is a
BadUserInput saying so, rather than an empty page that would look like nothing was delivered.

    LogFilter                                 statuses, channels, type codes, user ids, created range
    page(instance, flt, first, after, most)   -> LogPage   newest first, one statement
    summary(instance, flt)                    -> [(channel, status, count)]   one grouped statement
    retry(instance, ids | flt, most)          -> [delivery ids]   FAILED -> QUEUED, attempts 0

Every statement is scoped to the caller's instance. Errors: BadUserInput (a bad cursor, page size,
range, a panel channel, too many to retry).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.timezone import now

from domain.bell import row_id
from domain.errors import BadUserInput
from domain.input_text import check_lengths, shown
from domain.panel import PANEL_CHANNELS, PANEL_VALUES
from models.catalog import TYPES_BY_CODE
from models.enums import ChannelKind, DeliveryStatus
from models.notification import Delivery

#: The columns of a log entry: the row's, its operator's user id and name, its notification's type.
FIELDS = (
    "id",
    "notification_id",
    "channel",
    "status",
    "attempts",
    "last_error",
    "next_attempt_at",
    "route",
    "digest_id",
    "created_at",
    "updated_at",
    "operator__user_id",
    "operator__display_name",
    "notification__type_code",
)


@dataclass(frozen=True)
class LogFilter:
    """Each part None: not filtered. ``since`` inclusive, ``until`` exclusive (created_at)."""

    statuses: list[DeliveryStatus] | None = None
    channels: list[ChannelKind] | None = None
    type_codes: list[str] | None = None
    user_ids: list[str] | None = None
    since: datetime | None = None
    until: datetime | None = None

    def check(self) -> LogFilter:
        """This filter, or BadUserInput for a panel channel or a range that ends before it starts."""
        for channel in self.channels or ():
            if channel in PANEL_CHANNELS:
                raise BadUserInput(
                    f"{channel.value} has no delivery rows: the panel channels are handed to open panels at "
                    "publishing; read one notification's with deliveries(notificationId)",
                    field="filter.channels",
                )
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise BadUserInput("filter.until must be later than filter.since", field="filter.until")
        for code in self.type_codes or ():
            if code not in TYPES_BY_CODE:
                raise BadUserInput(f"Unknown type code {shown(code)} in filter.typeCodes", field="filter.typeCodes")
        check_lengths(self.user_ids, 128, "filter.userIds")
        return self


@dataclass(frozen=True)
class LogEntry:
    id: int
    notification_id: int | None
    channel: ChannelKind
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    user_id: str
    operator_name: str | None
    type_code: str | None
    route: str | None = None
    digest_id: int | None = None


@dataclass(frozen=True)
class LogPage:
    entries: list[LogEntry]
    has_next_page: bool


def encode_cursor(delivery_id: int) -> str:
    return base64.urlsafe_b64encode(f"d:{delivery_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        number = row_id(value)
        if prefix != "d" or number is None:
            raise ValueError(prefix)
        return number
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadUserInput(
            "after is not a cursor of the delivery log: pass pageInfo.endCursor unchanged", field="after"
        ) from None


def _rows(instance_id: str, flt: LogFilter) -> QuerySet[Delivery]:
    qs = Delivery.filter(instance_id=instance_id).exclude(channel__in=PANEL_VALUES)
    if flt.statuses is not None:
        qs = qs.filter(status__in=[s.value for s in flt.statuses])
    if flt.channels is not None:
        qs = qs.filter(channel__in=[c.value for c in flt.channels])
    if flt.type_codes is not None:
        qs = qs.filter(notification__type_code__in=flt.type_codes)
    if flt.user_ids is not None:
        qs = qs.filter(operator__user_id__in=flt.user_ids)
    if flt.since is not None:
        qs = qs.filter(created_at__gte=flt.since)
    if flt.until is not None:
        qs = qs.filter(created_at__lt=flt.until)
    return qs


_PENDING = frozenset({DeliveryStatus.QUEUED.value, DeliveryStatus.RETRYING.value, DeliveryStatus.HELD.value})


def _entry(row: dict[str, Any]) -> LogEntry:
    return LogEntry(
        id=row["id"],
        notification_id=row["notification_id"],
        channel=ChannelKind(row["channel"]),
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        # Only a job still to be tried has a due time (a settled row keeps the last one it had).
        next_attempt_at=row["next_attempt_at"] if row["status"] in _PENDING else None,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        user_id=row["operator__user_id"],
        operator_name=row["operator__display_name"],
        type_code=row["notification__type_code"],
        route=row["route"],
        digest_id=row["digest_id"],
    )


async def page(instance_id: str, flt: LogFilter, *, first: int, after: str | None, max_first: int) -> LogPage:
    """``first`` entries (1-``max_first``) after the cursor ``after``, newest first: one statement."""
    if not 1 <= first <= max_first:
        raise BadUserInput(f"first must be between 1 and {max_first}, got {first}", field="first")
    qs = _rows(instance_id, flt.check())
    if after:
        qs = qs.filter(id__lt=decode_cursor(after))
    rows = await qs.order_by("-id").limit(first + 1).values(*FIELDS)
    return LogPage([_entry(r) for r in rows[:first]], len(rows) > first)


async def summary(instance_id: str, flt: LogFilter) -> list[tuple[ChannelKind, DeliveryStatus, int]]:
    """How many log entries the filter matches, per channel and status (only those with some), in
    the catalog's channel order: one grouped statement."""
    grouped = (
        await _rows(instance_id, flt.check())
        .group_by("channel", "status")
        .annotate(n=Count("id"))
        .values_list("channel", "status", "n")
    )
    counts = [(ChannelKind(c), DeliveryStatus(s), int(n)) for c, s, n in grouped]
    order = list(ChannelKind)
    statuses = list(DeliveryStatus)
    return sorted(counts, key=lambda t: (order.index(t[0]), statuses.index(t[1])))


async def retry(instance_id: str, *, ids: list[str] | None, flt: LogFilter | None, most: int) -> list[int]:
    """Queue the instance's FAILED deliveries again — those of ``ids``, or those the filter matches —
    with a fresh attempt count, due now; in the caller's transaction. Returns their ids (ascending).

    BadUserInput: both or neither of ids and filter, an id that is not a FAILED delivery of this
    instance's log, or more than ``most`` deliveries (retry them in parts, narrowing the filter)."""
    if (ids is None) == (flt is None):
        raise BadUserInput("Give either ids or filter to retryDeliveries, not both or neither", field="ids")
    # Test sends (no notification) get one try by design: they are not queued again; nor are the
    # deliveries of notifications read since (reading takes back what was not sent: domain.retract).
    qs = _rows(instance_id, (flt or LogFilter()).check()).filter(
        status=DeliveryStatus.FAILED.value, notification_id__isnull=False, notification__read_at__isnull=True
    )
    if ids is not None:
        wanted = {row_id(i) for i in ids}
        if None in wanted:
            raise BadUserInput("ids must be delivery ids from the delivery log", field="ids")
        qs = qs.filter(id__in=wanted)
    found: list[int] = sorted(int(str(i)) for i in await qs.limit(most + 1).values_list("id", flat=True))
    if ids is not None and len(found) != len(wanted):
        missing = sorted(i for i in wanted - set(found) if i is not None)
        raise BadUserInput(
            f"{len(missing)} of the ids are not FAILED deliveries of this instance's log (first: {missing[0]}): "
            "only dead letters of notifications not read yet can be retried",
            field="ids",
        )
    if len(found) > most:
        raise BadUserInput(
            f"retryDeliveries queues at most {most} deliveries at once and the filter matches more: "
            "narrow it (a shorter time range, one channel) and retry in parts",
            field="filter",
        )
    if found:
        current = now()
        # Compare-and-set on the status: a row another retry queued meanwhile is left alone.
        await Delivery.filter(id__in=found, status=DeliveryStatus.FAILED.value).update(
            status=DeliveryStatus.QUEUED.value,
            attempts=0,
            last_error=None,
            next_attempt_at=current,
            lease_until=None,
            locked_by=None,
            updated_at=current,
        )
    return found
