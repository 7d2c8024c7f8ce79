"""The delivery log's input types, and their bounds."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry

from core.settings import Limits
from domain.delivery_log import LogFilter
from resolvers.bounds import at_most
from resolvers.enums import ChannelKind, DeliveryStatus


@strawberry.input(description="Which deliveries of the log: each part left out (or null) does not filter.")
class DeliveryLogFilter:
    statuses: list[DeliveryStatus] | None = strawberry.field(
        default=None, description="Any of these statuses (FAILED: the dead letters)."
    )
    channels: list[ChannelKind] | None = strawberry.field(
        default=None,
        description="Any of these channels; BELL, BANNER and SOUND have no delivery rows and are refused"
        " (BAD_USER_INPUT): read one notification's with deliveries(notificationId).",
    )
    type_codes: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Notifications of any of these types (test sends have no type: left out)."
    )
    user_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Recipients with any of these user ids (the token's sub)."
    )
    since: datetime | None = strawberry.field(
        default=None, description="Queued at or after this time (ISO 8601; without an offset: UTC)."
    )
    until: datetime | None = strawberry.field(
        default=None, description="Queued before this time (ISO 8601; without an offset: UTC); later than since."
    )


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def log_filter(flt: DeliveryLogFilter | None, limits: Limits, field: str) -> LogFilter:
    """The domain's filter from the client's, each list bounded (BAD_USER_INPUT naming ``field``)."""
    if flt is None:
        return LogFilter()
    most = limits.ids_per_request
    at_most(flt.statuses, len(DeliveryStatus), f"{field}(filter.statuses)")
    at_most(flt.channels, len(ChannelKind), f"{field}(filter.channels)")
    at_most(flt.type_codes, most, f"{field}(filter.typeCodes)")
    at_most(flt.user_ids, most, f"{field}(filter.userIds)")
    return LogFilter(
        statuses=list(flt.statuses) if flt.statuses is not None else None,
        channels=list(flt.channels) if flt.channels is not None else None,
        type_codes=[str(c) for c in flt.type_codes] if flt.type_codes is not None else None,
        user_ids=[str(u) for u in flt.user_ids] if flt.user_ids is not None else None,
        since=_utc(flt.since),
        until=_utc(flt.until),
    )
