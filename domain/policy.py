"""The instance-wide policy an administrator sets, loaded once per request as a plain value."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tortoise.timezone import now

from domain.routing import ModeSetting, Route, RoutingRules, route, stored_modes
from models.bulk import upsert
from models.catalog import TypeDef
from models.db import db, in_transaction_now
from models.enums import BOT_CHANNELS, PANEL_CHANNELS, ChannelKind, TypeAvailability, sort_channels
from models.instance import BotChannelConfig, Instance, TypePolicy

DEFAULT_CHANNELS = (ChannelKind.BELL, ChannelKind.BANNER)


@dataclass(frozen=True)
class BotChannel:
    channel: ChannelKind
    enabled: bool
    settings: dict[str, Any]
    has_secret: bool
    has_webhook_secret_token: bool = False


@dataclass(frozen=True)
class TypeRule:
    """One type's policy row, with None meaning "as the catalog / instance says"."""

    mandatory: bool = False
    mandatory_channels: frozenset[ChannelKind] = frozenset()
    availability: TypeAvailability | None = None
    default_channels: tuple[ChannelKind, ...] | None = None
    #: Collapse unread items per entity (None: the catalog's ``TypeDef.collapse``).
    collapse: bool | None = None
    #: Routing modes per external channel (None: the instance's).
    routing: dict[ChannelKind, ModeSetting] | None = None
    #: Bypasses routing modes, digests and working hours (urgent types: SLA, normatives).
    always_on: bool = False
    #: Digest window in seconds (None: the instance's; 0: never digested).
    digest_seconds: int | None = None


#: A type without a policy row (one for all: a TypeRule is never changed).
_NO_RULE = TypeRule()


@dataclass(frozen=True)
class InstancePolicy:
    instance_id: str
    notification_center_enabled: bool = True
    extended_types_enabled: bool = False
    mandatory_channels: frozenset[ChannelKind] = frozenset()
    default_channels: tuple[ChannelKind, ...] = DEFAULT_CHANNELS
    bot_scenario: str | None = None
    negative_csat_threshold: int = 2
    read_on_entity_close: bool = False
    bot_channels: dict[ChannelKind, BotChannel] = field(default_factory=dict)
    type_rules: dict[str, TypeRule] = field(default_factory=dict)
    routing: RoutingRules = field(default_factory=lambda: RoutingRules({}))
    #: Read from the instance's row (False: defaults, the instance has no row yet). Rows are never
    #: deleted, so a stored policy's instance needs no ``ensure_instance``.
    stored: bool = False

    def route(
        self, type_def: TypeDef, channel: ChannelKind, choice: ModeSetting | None, *, editable: bool, mandatory: bool
    ) -> Route:
        """How ``channel`` sends for this type and a recipient's choice (domain/routing.py)."""
        rule = self.rule(type_def.code)
        return route(
            self.routing,
            rule.routing,
            rule.digest_seconds,
            rule.always_on,
            channel,
            choice,
            editable=editable,
            mandatory=mandatory,
        )

    @cached_property
    def offered(self) -> frozenset[ChannelKind]:
        """Channels a user of this instance can have: the panel's, and each enabled bot channel."""
        bots = {c for c, cfg in self.bot_channels.items() if cfg.enabled}
        return frozenset(PANEL_CHANNELS) | bots

    @property
    def offered_sorted(self) -> list[ChannelKind]:
        return sort_channels(self.offered)

    def rule(self, code: str) -> TypeRule:
        return self.type_rules.get(code) or _NO_RULE

    def availability(self, type_def: TypeDef) -> TypeAvailability:
        rule = self.rule(type_def.code)
        if type_def.availability is TypeAvailability.UNAVAILABLE:
            return TypeAvailability.UNAVAILABLE
        if rule.availability is TypeAvailability.UNAVAILABLE:
            return TypeAvailability.UNAVAILABLE
        if rule.availability is TypeAvailability.VIEW_ONLY:
            return TypeAvailability.VIEW_ONLY
        if type_def.extended and not self.extended_types_enabled:
            return TypeAvailability.VIEW_ONLY
        return TypeAvailability.AVAILABLE

    def collapses(self, type_def: TypeDef) -> bool:
        """Whether a recipient's unread items of the type about one entity collapse into one."""
        rule = self.rule(type_def.code).collapse
        return type_def.collapse if rule is None else rule

    def editable(self, type_def: TypeDef) -> bool:
        return type_def.listed and self.availability(type_def) is TypeAvailability.AVAILABLE

    def type_mandatory(self, type_def: TypeDef) -> bool:
        return self.rule(type_def.code).mandatory

    def mandatory_channels_for(self, type_def: TypeDef) -> frozenset[ChannelKind]:
        """The instance's and the type's mandatory channels that the instance offers."""
        rule = self.rule(type_def.code)
        return (self.mandatory_channels | rule.mandatory_channels) & self.offered

    def default_channels_for(self, type_def: TypeDef) -> tuple[ChannelKind, ...]:
        rule = self.rule(type_def.code)
        if rule.default_channels is not None:
            return rule.default_channels
        if type_def.default_channels is not None:
            return type_def.default_channels
        return self.default_channels


def _channels(values: Any) -> list[ChannelKind]:
    return [ChannelKind(v) for v in values or () if v in ChannelKind.__members__]


def policy_from_rows(
    instance_id: str,
    instance: Instance | None,
    bots: list[BotChannelConfig],
    rules: list[TypePolicy],
) -> InstancePolicy:
    bot_channels = {
        ChannelKind(b.channel): BotChannel(
            channel=ChannelKind(b.channel),
            enabled=b.enabled,
            # Write-only: a row written before the token was sealed still holds it in settings.
            settings={k: v for k, v in (b.settings or {}).items() if k != "webhookSecretToken"},
            has_secret=bool(b.secret_sealed),
            has_webhook_secret_token=bool(b.webhook_secret_sealed or (b.settings or {}).get("webhookSecretToken")),
        )
        for b in bots
        if b.channel in ChannelKind.__members__ and ChannelKind(b.channel) in BOT_CHANNELS
    }
    type_rules = {
        r.type_code: TypeRule(
            mandatory=r.mandatory,
            mandatory_channels=frozenset(_channels(r.mandatory_channels)),
            availability=TypeAvailability(r.availability) if r.availability else None,
            default_channels=(
                tuple(sort_channels(_channels(r.default_channels))) if r.default_channels is not None else None
            ),
            collapse=r.collapse,
            routing=stored_modes(r.routing) if r.routing is not None else None,
            always_on=bool(r.always_on),
            digest_seconds=r.digest_window_seconds,
        )
        for r in rules
    }
    if instance is None:
        return InstancePolicy(instance_id=instance_id, bot_channels=bot_channels, type_rules=type_rules)
    return InstancePolicy(
        instance_id=instance_id,
        notification_center_enabled=instance.notification_center_enabled,
        extended_types_enabled=instance.extended_types_enabled,
        mandatory_channels=frozenset(_channels(instance.mandatory_channels)),
        default_channels=tuple(sort_channels(_channels(instance.default_channels))),
        bot_scenario=instance.bot_scenario,
        negative_csat_threshold=instance.negative_csat_threshold,
        read_on_entity_close=instance.read_on_entity_close,
        bot_channels=bot_channels,
        type_rules=type_rules,
        routing=RoutingRules(
            stored_modes(instance.routing),
            digest_seconds=instance.digest_window_seconds or 0,
            mandatory_bypass=instance.mandatory_bypass_routing,
        ),
        stored=True,
    )


async def load_policy(instance_id: str) -> InstancePolicy:
    """Three indexed reads, whatever the number of types or channels."""
    instance = await Instance.get_or_none(id=instance_id)
    bots = await BotChannelConfig.filter(instance_id=instance_id)
    rules = await TypePolicy.filter(instance_id=instance_id)
    return policy_from_rows(instance_id, instance, bots, rules)


class PolicyCache:
    """Instance policies kept per process for a few seconds: read on nearly every request, changed
    by rare administrator actions. A change invalidates the entry here at once and, through the
    broker's "policy" topic, in every other process; the TTL bounds staleness if that message is
    lost (pub/sub is at-most-once)."""

    def __init__(self, ttl_seconds: float = 5.0) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[str, tuple[float, InstancePolicy]] = {}
        #: One read per instance at a time: when an entry lapses under load, the requests that
        #: find it gone wait for the same read instead of each reading the policy again.
        self._loading: dict[str, asyncio.Future[InstancePolicy]] = {}
        #: Bumped by every change: a read begun before it is neither stored nor shared.
        self._generation: dict[str, int] = {}

    async def get(self, instance_id: str) -> InstancePolicy:
        entry = self._entries.get(instance_id)
        if entry is not None and time.monotonic() - entry[0] < self.ttl:
            return entry[1]
        if in_transaction_now():
            # Read in place, not as a shared task: one started here would run on this transaction
            # and could outlive it. Kept like any read (a change invalidates after its commit).
            return await self._load(instance_id)
        loading = self._loading.get(instance_id)
        if loading is None:
            loading = self._loading[instance_id] = asyncio.ensure_future(self._load(instance_id))
        return await asyncio.shield(loading)

    async def _load(self, instance_id: str) -> InstancePolicy:
        generation = self._generation.get(instance_id, 0)
        try:
            policy = await load_policy(instance_id)
        finally:
            if self._loading.get(instance_id) is asyncio.current_task():  # invalidate() may have let it go
                del self._loading[instance_id]
        if self._generation.get(instance_id, 0) == generation:  # not changed while it was read
            self._entries[instance_id] = (time.monotonic(), policy)
        return policy

    def invalidate(self, instance_id: str) -> None:
        self._entries.pop(instance_id, None)
        # A read begun before the change must not be what the next request gets.
        self._loading.pop(instance_id, None)
        self._generation[instance_id] = self._generation.get(instance_id, 0) + 1


#: Broker topic on which a process announces that an instance's policy changed.
POLICY_TOPIC = "policy"


async def ensure_instance(instance_id: str) -> None:
    """Create the instance's row with defaults if this is its first write."""

    ts = now()
    await upsert(
        db(),
        Instance,
        [
            {
                "id": instance_id,
                "notification_center_enabled": True,
                "extended_types_enabled": False,
                "mandatory_channels": [],
                "default_channels": [c.value for c in DEFAULT_CHANNELS],
                "negative_csat_threshold": 2,
                "created_at": ts,
                "updated_at": ts,
            }
        ],
        conflict=["id"],
    )
