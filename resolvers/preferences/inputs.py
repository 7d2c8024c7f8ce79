"""The settings tabs' input types."""

from __future__ import annotations

import strawberry

from resolvers.enums import BulkAction, ChannelKind
from resolvers.routing_types import ChannelRoutingInput


@strawberry.input
class BulkUpdateTypesInput:
    type_codes: list[strawberry.ID] | None = None
    category_code: strawberry.ID | None = None
    action: BulkAction
    channels: list[ChannelKind] | None = None


@strawberry.input
class BannerSettingsInput:
    duration_seconds: int | None = None
    max_visible: int | None = None
    repeat_count: int | None = None
    repeat_interval_seconds: int | None = None


@strawberry.input
class ChannelToggleInput:
    kind: ChannelKind
    enabled: bool


@strawberry.input
class ChannelSettingsInput:
    channels: list[ChannelToggleInput] | None = None
    routing: list[ChannelRoutingInput] | None = strawberry.field(
        default=None,
        description="Your routing mode per external channel, for the editable types (a null mode: the policy's).",
    )
    banner: BannerSettingsInput | None = None
    default_melody: strawberry.ID | None = None


@strawberry.input
class PushSubscriptionInput:
    endpoint: str
    p256dh: str = strawberry.field(description="keys.p256dh of the browser's PushSubscription (URL-safe base64).")
    auth: str = strawberry.field(description="keys.auth of the browser's PushSubscription (URL-safe base64).")
    user_agent: str | None = None


@strawberry.input
class SystemMessageSettingInput:
    code: strawberry.ID
    enabled: bool


@strawberry.input
class ReminderSettingsInput:
    not_ready_enabled: bool | None = None
    not_ready_after_minutes: int | None = None
    not_ready_repeat_minutes: int | None = None


@strawberry.input
class ClassicSettingsInput:
    browser_enabled: bool | None = None
    sound_enabled: bool | None = None
