"""What administrators set for their instance: the policy, bot channels and type policies.

``update_instance`` checks every part (each bot channel by domain/bot_input.py; mandatory and
default channels only among those offered once the update's bots are on or off) before it writes,
in the caller's transaction; turning the notification center on gives every user of the instance
explicit default choices (``materialize_defaults``). ``set_type_policy`` writes one listed type's
policy. Each fault is a BadUserInput naming the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from tortoise.timezone import now

from domain.bot_input import BotChannelInput, validate_bot, validate_smtp_host, webhook_secret_sealed
from domain.errors import BadUserInput
from domain.input_text import shown
from domain.keys import SecretBox
from domain.policy import BotChannel, InstancePolicy, TypeRule, ensure_instance, load_policy
from domain.routing import RoutingRules, check_digest_window, given_modes, stored_modes
from models.bulk import placeholders, upsert
from models.catalog import LISTED_TYPES, TYPES_BY_CODE, TypeDef
from models.db import db
from models.enums import ChannelKind, RoutingMode, TypeAvailability, sort_channels
from models.instance import BotChannelConfig, Instance, TypePolicy
from models.operator import Operator, TypeChoice


@dataclass(frozen=True)
class InstanceChanges:
    notification_center_enabled: bool | None = None
    extended_types_enabled: bool | None = None
    mandatory_channels: list[ChannelKind] | None = None
    default_channels: list[ChannelKind] | None = None
    bot_scenario: str | None = None
    bot_channels: list[BotChannelInput] | None = None
    negative_csat_threshold: int | None = None
    read_on_entity_close: bool | None = None
    #: Routing modes per external channel: replaces the instance's (a None mode leaves it out).
    routing: list[tuple[ChannelKind, RoutingMode | None, int | None]] | None = None
    digest_window_seconds: int | None = None
    mandatory_bypass_routing: bool | None = None


@dataclass(frozen=True)
class TypePolicyChanges:
    type_code: str
    mandatory: bool | None = None
    mandatory_channels: list[ChannelKind] | None = None
    availability: TypeAvailability | None = None
    default_channels: list[ChannelKind] | None = None
    collapse: bool | None = None
    #: Replaces the type's routing modes ([]: the instance's again; a None mode leaves one out).
    routing: list[tuple[ChannelKind, RoutingMode | None, int | None]] | None = None
    always_on: bool | None = None
    #: Seconds; -1: the instance's window again.
    digest_window_seconds: int | None = None


def modes_given(items: list[tuple[ChannelKind, RoutingMode | None, int | None]], field: str) -> dict[str, Any]:
    """An input's routing modes as stored; entries without a mode left out."""
    return {c.value: m.stored() for c, m in given_modes(items, field).items() if m is not None}


def _offered_after(policy: InstancePolicy, bots: dict[ChannelKind, bool]) -> set[ChannelKind]:
    offered = set(policy.offered)
    for channel, enabled in bots.items():
        if enabled:
            offered.add(channel)
        else:
            offered.discard(channel)
    return offered


def _check_offered(channels: list[ChannelKind], offered: set[ChannelKind], field: str) -> None:
    for channel in channels:
        if channel not in offered:
            raise BadUserInput(
                f"{field}: {channel.value} is not offered on this instance; configure and enable "
                "its bot in botChannels first",
                field=field,
            )


@dataclass(frozen=True)
class InstancePlan:
    """A checked ``InstanceChanges``: the policy it applies to, the instance columns it sets, and
    the bot channel rows it upserts (secrets sealed)."""

    policy: InstancePolicy
    values: dict[str, Any]
    bot_rows: list[dict[str, Any]]
    turns_on: bool

    def policy_after(self) -> InstancePolicy:
        """The policy as it would be once written (nothing is written)."""
        bots = dict(self.policy.bot_channels)
        for row in self.bot_rows:
            channel = ChannelKind(row["channel"])
            bots[channel] = BotChannel(
                channel=channel,
                enabled=row["enabled"],
                settings={k: v for k, v in (row["settings"] or {}).items() if k != "webhookSecretToken"},
                has_secret=bool(row["secret_sealed"]),
                has_webhook_secret_token=bool(row["webhook_secret_sealed"]),
            )
        v = self.values
        return replace(
            self.policy,
            notification_center_enabled=v.get("notification_center_enabled", self.policy.notification_center_enabled),
            extended_types_enabled=v.get("extended_types_enabled", self.policy.extended_types_enabled),
            mandatory_channels=(
                frozenset(ChannelKind(c) for c in v["mandatory_channels"])
                if "mandatory_channels" in v
                else self.policy.mandatory_channels
            ),
            default_channels=(
                tuple(ChannelKind(c) for c in v["default_channels"])
                if "default_channels" in v
                else self.policy.default_channels
            ),
            bot_scenario=v.get("bot_scenario", self.policy.bot_scenario),
            negative_csat_threshold=v.get("negative_csat_threshold", self.policy.negative_csat_threshold),
            read_on_entity_close=v.get("read_on_entity_close", self.policy.read_on_entity_close),
            bot_channels=bots,
            routing=RoutingRules(
                stored_modes(v["routing"]) if "routing" in v else self.policy.routing.modes,
                digest_seconds=v.get("digest_window_seconds", self.policy.routing.digest_seconds),
                mandatory_bypass=v.get("mandatory_bypass_routing", self.policy.routing.mandatory_bypass),
            ),
        )


async def plan_instance(
    instance_id: str,
    changes: InstanceChanges,
    *,
    secret_box: SecretBox,
    allow_http: bool,
    smtp_allowed_hosts: Iterable[str] = (),
) -> InstancePlan:
    """Check every part of ``changes`` against the stored policy; write nothing."""
    policy = await load_policy(instance_id)
    stored_bots = {
        ChannelKind(b.channel): b
        for b in await BotChannelConfig.filter(instance_id=instance_id)
        if b.channel in ChannelKind.__members__
    }
    bot_writes: list[tuple[BotChannelInput, dict[str, Any], str | None]] = []
    seen: set[ChannelKind] = set()
    for bot in changes.bot_channels or ():
        if bot.channel in seen:
            raise BadUserInput(f"{bot.channel.value} appears twice in botChannels: send each once")
        seen.add(bot.channel)
        stored = stored_bots.get(bot.channel)
        hook_secret = webhook_secret_sealed(bot, stored, secret_box) if bot.channel is ChannelKind.TELEGRAM else None
        bot_writes.append((bot, validate_bot(bot, stored, allow_http), hook_secret))
        # Not when only disabling: a relay that is gone must not keep an administrator from turning EMAIL off.
        if bot.channel is ChannelKind.EMAIL and (bot.enabled or bot.settings is not None):
            await validate_smtp_host(bot_writes[-1][1], smtp_allowed_hosts)
    offered = _offered_after(policy, {b.channel: b.enabled for b, _, _ in bot_writes})
    mandatory = changes.mandatory_channels
    if mandatory is not None:
        _check_offered(mandatory, offered, "mandatoryChannels")
    elif bot_writes:
        # Disabling a bot drops it from the instance's mandatory channels rather than failing.
        mandatory = [c for c in policy.mandatory_channels if c in offered]
    if changes.default_channels is not None:
        _check_offered(changes.default_channels, offered, "defaultChannels")
    threshold = changes.negative_csat_threshold
    if threshold is not None and not 1 <= threshold <= 4:
        raise BadUserInput(
            f"negativeCsatThreshold must be between 1 and 4 on the 1-5 scale, got {threshold}",
            field="negativeCsatThreshold",
        )
    if changes.bot_scenario is not None and len(changes.bot_scenario) > 200:
        raise BadUserInput("botScenario is longer than 200 characters", field="botScenario")

    values: dict[str, Any] = {}
    if changes.notification_center_enabled is not None:
        values["notification_center_enabled"] = changes.notification_center_enabled
    if changes.extended_types_enabled is not None:
        values["extended_types_enabled"] = changes.extended_types_enabled
    if mandatory is not None:
        values["mandatory_channels"] = [c.value for c in sort_channels(mandatory)]
    if changes.default_channels is not None:
        values["default_channels"] = [c.value for c in sort_channels(changes.default_channels)]
    if changes.bot_scenario is not None:
        values["bot_scenario"] = changes.bot_scenario or None
    if threshold is not None:
        values["negative_csat_threshold"] = threshold
    if changes.read_on_entity_close is not None:
        values["read_on_entity_close"] = changes.read_on_entity_close
    if changes.routing is not None:
        values["routing"] = modes_given(changes.routing, "routing")
    if check_digest_window(changes.digest_window_seconds, "digestWindowSeconds") is not None:
        values["digest_window_seconds"] = changes.digest_window_seconds
    if changes.mandatory_bypass_routing is not None:
        values["mandatory_bypass_routing"] = changes.mandatory_bypass_routing
    rows = []
    for bot, settings, hook_secret in bot_writes:
        stored = stored_bots.get(bot.channel)
        sealed = (
            secret_box.seal(bot.secret)
            if bot.secret
            else (None if bot.secret == "" else stored.secret_sealed if stored else None)
        )
        rows.append(
            {
                "instance_id": instance_id,
                "channel": bot.channel.value,
                "enabled": bot.enabled,
                "settings": settings,
                "secret_sealed": sealed,
                "webhook_secret_sealed": hook_secret,
                "updated_at": now(),
            }
        )
    turns_on = changes.notification_center_enabled is True and not policy.notification_center_enabled
    return InstancePlan(policy=policy, values=values, bot_rows=rows, turns_on=turns_on)


async def update_instance(
    instance_id: str,
    changes: InstanceChanges,
    *,
    secret_box: SecretBox,
    allow_http: bool,
    smtp_allowed_hosts: Iterable[str] = (),
) -> InstancePolicy:
    """Validate every part (``plan_instance``), then write in the caller's transaction."""
    plan = await plan_instance(
        instance_id, changes, secret_box=secret_box, allow_http=allow_http, smtp_allowed_hosts=smtp_allowed_hosts
    )
    await ensure_instance(instance_id)
    if plan.values:
        await Instance.filter(id=instance_id).update(**plan.values, updated_at=now())
    if plan.bot_rows:
        await upsert(
            db(),
            BotChannelConfig,
            plan.bot_rows,
            conflict=["instance_id", "channel"],
            update=["enabled", "settings", "secret_sealed", "webhook_secret_sealed", "updated_at"],
        )
    new_policy = await load_policy(instance_id)
    if plan.turns_on:
        await materialize_defaults(new_policy)
    return new_policy


async def materialize_defaults(policy: InstancePolicy) -> None:
    """Give every known user of the instance explicit default choices, in one statement.

    Rows a user already has are left alone (ON CONFLICT DO NOTHING), so running it again changes
    nothing that anybody chose.
    """
    conn = db()
    types: list[TypeDef] = list(LISTED_TYPES)

    # Parameters in the order they appear in the SQL text (SQLite's "?" are positional).
    (ts_mark,) = placeholders(conn, 0, 1)
    params: list[Any] = [TypeChoice._meta.fields_map["updated_at"].to_db_value(now(), TypeChoice)]
    groups = []
    for type_def in types:
        marks = placeholders(conn, len(params), 2)
        groups.append(f"({marks[0]}, {marks[1]})")
        channels = [c.value for c in sort_channels(policy.default_channels_for(type_def))]
        params.extend([type_def.code, json.dumps(channels, separators=(",", ":"))])
    (instance_mark,) = placeholders(conn, len(params), 1)
    params.append(policy.instance_id)
    choice_table = TypeChoice._meta.db_table
    operator_table = Operator._meta.db_table
    postgres = conn.capabilities.dialect == "postgres"
    json_cast = "::jsonb" if postgres else ""
    ts_sql = f"CAST({ts_mark} AS TIMESTAMPTZ)" if postgres else ts_mark
    await conn.execute_query(
        f'INSERT INTO "{choice_table}" ("operator_id", "type_code", "channels", "melody", "updated_at") '
        f"SELECT o.id, t.column1, CAST(t.column2 AS TEXT){json_cast}, NULL, {ts_sql} "
        f'FROM "{operator_table}" o CROSS JOIN (VALUES {", ".join(groups)}) AS t '
        f"WHERE o.instance_id = {instance_mark} "
        f'ON CONFLICT ("operator_id", "type_code") DO NOTHING',
        params,
    )


async def plan_type_policy(instance_id: str, changes: TypePolicyChanges) -> tuple[InstancePolicy, dict[str, Any]]:
    """Check ``changes`` against the stored policy: the policy and the type policy row it writes."""
    type_def = TYPES_BY_CODE.get(changes.type_code)
    only_collapse = (
        changes.mandatory is None
        and changes.mandatory_channels is None
        and changes.availability is None
        and changes.default_channels is None
        and changes.routing is None
        and changes.always_on is None
        and changes.digest_window_seconds is None
    )
    # Unlisted delivered types (chat_message, operator_mentioned) take a collapse rule only.
    if type_def is not None and not type_def.listed and type_def.delivered and only_collapse:
        pass
    elif type_def is not None and not type_def.listed and type_def.delivered:
        raise BadUserInput(
            f"{type_def.code} is not in the types tab: its policy takes collapse alone; leave out mandatory, "
            "mandatoryChannels, availability, defaultChannels, routing, alwaysOn and digestWindowSeconds",
            field="typeCode",
        )
    elif type_def is None or not type_def.listed:
        raise BadUserInput(
            f"Unknown type code {shown(changes.type_code)}: policies apply to the listed types of notificationTypes",
            field="typeCode",
        )
    policy = await load_policy(instance_id)
    offered = set(policy.offered)
    if changes.mandatory_channels is not None:
        _check_offered(changes.mandatory_channels, offered, "mandatoryChannels")
    if changes.default_channels is not None:
        _check_offered(changes.default_channels, offered, "defaultChannels")
    current = policy.type_rules.get(type_def.code)
    window = changes.digest_window_seconds
    if window is not None and window != -1:
        check_digest_window(window, "digestWindowSeconds")
    routing: Any = (
        (modes_given(changes.routing, "routing") or None)
        if changes.routing is not None
        else ({c.value: m.stored() for c, m in current.routing.items()} if current and current.routing else None)
    )
    row = {
        "instance_id": instance_id,
        "type_code": type_def.code,
        "mandatory": changes.mandatory if changes.mandatory is not None else (current.mandatory if current else False),
        "mandatory_channels": (
            [c.value for c in sort_channels(changes.mandatory_channels)]
            if changes.mandatory_channels is not None
            else ([c.value for c in sort_channels(current.mandatory_channels)] if current else [])
        ),
        "availability": (
            changes.availability.value
            if changes.availability is not None
            else (current.availability.value if current and current.availability else None)
        ),
        "default_channels": (
            [c.value for c in sort_channels(changes.default_channels)]
            if changes.default_channels is not None
            else (
                [c.value for c in current.default_channels]
                if current and current.default_channels is not None
                else None
            )
        ),
        "collapse": changes.collapse if changes.collapse is not None else (current.collapse if current else None),
        "routing": routing,
        "always_on": changes.always_on if changes.always_on is not None else (current.always_on if current else False),
        "digest_window_seconds": (
            (None if window == -1 else window) if window is not None else (current.digest_seconds if current else None)
        ),
        "updated_at": now(),
    }
    if row["always_on"] and row["digest_window_seconds"] and (changes.always_on or window is not None):
        raise BadUserInput(
            f"{type_def.code}: an alwaysOn type is sent at once and never digested; send digestWindowSeconds -1 "
            "(or 0) with it, or leave alwaysOn false",
            field="digestWindowSeconds",
        )
    return policy, row


def policy_with_type(policy: InstancePolicy, row: dict[str, Any]) -> InstancePolicy:
    """The policy with one type policy row in place (nothing is written)."""
    rule = TypeRule(
        mandatory=row["mandatory"],
        mandatory_channels=frozenset(ChannelKind(c) for c in row["mandatory_channels"]),
        availability=TypeAvailability(row["availability"]) if row["availability"] else None,
        default_channels=(
            tuple(ChannelKind(c) for c in row["default_channels"]) if row["default_channels"] is not None else None
        ),
        collapse=row["collapse"],
        routing=stored_modes(row["routing"]) if row["routing"] is not None else None,
        always_on=row["always_on"],
        digest_seconds=row["digest_window_seconds"],
    )
    return replace(policy, type_rules={**policy.type_rules, row["type_code"]: rule})


async def set_type_policy(instance_id: str, changes: TypePolicyChanges) -> InstancePolicy:
    _, row = await plan_type_policy(instance_id, changes)
    await ensure_instance(instance_id)
    await upsert(
        db(),
        TypePolicy,
        [row],
        conflict=["instance_id", "type_code"],
        update=[
            "mandatory",
            "mandatory_channels",
            "availability",
            "default_channels",
            "collapse",
            "routing",
            "always_on",
            "digest_window_seconds",
            "updated_at",
        ],
    )
    return await load_policy(instance_id)
