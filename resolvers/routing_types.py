"""Attention routing's GraphQL types, shared by the viewer's settings and the administration."""

from __future__ import annotations

from collections.abc import Mapping

import strawberry

from domain.routing import ModeSetting
from domain.working_hours import shown_spans
from models.enums import CHANNEL_ORDER
from resolvers.enums import ChannelKind, RoutingMode, Weekday


@strawberry.type(description="The routing mode of one external channel.")
class ChannelRouting:
    channel: ChannelKind
    mode: RoutingMode
    escalate_after_minutes: int | None = strawberry.field(description="ESCALATE_AFTER's wait in minutes; else null.")

    @staticmethod
    def listed(modes: Mapping[ChannelKind, ModeSetting] | None) -> list[ChannelRouting]:
        return [
            ChannelRouting(channel=c, mode=m.mode, escalate_after_minutes=m.minutes)
            for c, m in sorted((modes or {}).items(), key=lambda item: CHANNEL_ORDER[item[0]])
        ]


@strawberry.input(
    description="The routing mode of one external channel (BROWSER, TELEGRAM, VIBER, WHATSAPP, ECHAT, EMAIL, CUSTOM)."
)
class ChannelRoutingInput:
    channel: ChannelKind
    mode: RoutingMode | None = strawberry.field(
        default=None, description="null: none set here (the next level decides: type policy, instance, ALWAYS)."
    )
    escalate_after_minutes: int | None = strawberry.field(
        default=None, description="With ESCALATE_AFTER only: 1 to 10080 (a week)."
    )


def routing_items(
    items: list[ChannelRoutingInput] | None,
) -> list[tuple[ChannelKind, RoutingMode | None, int | None]] | None:
    if items is None:
        return None
    return [(i.channel, i.mode, i.escalate_after_minutes) for i in items]


@strawberry.type(description="A span of working time on one weekday, in the schedule's time zone.")
class WorkingSpan:
    day: Weekday
    from_: str = strawberry.field(name="from", description='Local start, "HH:MM" (or "HH:MM:SS").')
    to: str = strawberry.field(description='Local end, after the start; "24:00" is the day\'s end.')


@strawberry.type(
    description="When external channels may reach the operator: outside these spans they are HELD (deliveries show "
    "the release time) and sent when the next span opens; always-on types go through. No days: any time."
)
class WorkingHours:
    timezone: str = strawberry.field(description="IANA time zone name, e.g. Europe/Kyiv.")
    days: list[WorkingSpan]

    @staticmethod
    def build(timezone: str | None, stored: object) -> WorkingHours:
        return WorkingHours(
            timezone=timezone or "UTC",
            days=[WorkingSpan(day=Weekday(d), from_=a, to=b) for d, a, b in shown_spans(stored)],
        )


@strawberry.input
class WorkingSpanInput:
    day: Weekday
    from_: str = strawberry.field(name="from", description='"HH:MM" or "HH:MM:SS", local time.')
    to: str = strawberry.field(description='"HH:MM" or "HH:MM:SS", after from; "24:00" ends the day.')


@strawberry.input(
    description="A weekly schedule. Night shifts are two spans: 22:00-24:00, then 00:00-06:00 the next day."
)
class WorkingHoursInput:
    timezone: str = strawberry.field(description='IANA time zone name, e.g. Europe/Kyiv; "" is UTC.')
    days: list[WorkingSpanInput] = strawberry.field(description="At most 28 spans; [] means any time.")

    def spans(self) -> list[tuple[str, str, str]]:
        return [(d.day.value, d.from_, d.to) for d in self.days]
