"""The Channels tab: switches, banner and sound settings, statuses, browser push subscriptions."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from tortoise.timezone import now

from core.urls import UnsafeUrl, check_syntax
from domain.errors import BadUserInput
from domain.input_text import shown
from domain.policy import InstancePolicy
from domain.routing import ModeSetting, given_modes
from models.bulk import upsert
from models.catalog import MELODY_IDS
from models.db import db
from models.enums import ChannelKind, ChannelStatus, RoutingMode
from models.operator import ChannelLink, ChannelSwitch, Operator, PushSubscription

#: (minimum, maximum) for each banner setting: what a screen can reasonably show.
BANNER_RANGES: dict[str, tuple[int, int]] = {
    "duration_seconds": (1, 120),
    "max_visible": (1, 10),
    "repeat_count": (0, 10),
    "repeat_interval_seconds": (1, 3600),
}
BANNER_FIELD_NAMES = {
    "duration_seconds": "durationSeconds",
    "max_visible": "maxVisible",
    "repeat_count": "repeatCount",
    "repeat_interval_seconds": "repeatIntervalSeconds",
}


@dataclass(frozen=True)
class ChannelRow:
    kind: ChannelKind
    enabled: bool
    mandatory: bool
    available: bool
    status: ChannelStatus
    target: str | None
    last_test_at: datetime | None
    last_error: str | None
    #: The operator's routing mode for the channel on editable types (None: the policy's).
    routing: ModeSetting | None = None


@dataclass(frozen=True)
class ChannelsTab:
    operator: Operator
    channels: list[ChannelRow]
    push_subscriptions: list[PushSubscription]


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str) -> str:
    digits = phone.strip()
    if len(digits) <= 6:
        return "***"
    return f"{digits[:4]}{'*' * (len(digits) - 8)}{digits[-4:]}"


async def load_channels_tab(policy: InstancePolicy, operator: Operator) -> ChannelsTab:
    """Three reads: switches, links, push subscriptions."""
    switches: dict[str, ChannelSwitch] = {}
    links: dict[str, ChannelLink] = {}
    subscriptions: list[PushSubscription] = []
    if operator.id is not None:
        switches = {s.channel: s for s in await ChannelSwitch.filter(operator_id=operator.id)}
        links = {link.channel: link for link in await ChannelLink.filter(operator_id=operator.id)}
        subscriptions = list(await PushSubscription.filter(operator_id=operator.id).order_by("id"))
    offered = policy.offered
    current = now()
    rows = []
    for kind in ChannelKind:
        switch = switches.get(kind.value)
        mandatory = kind in policy.mandatory_channels and kind in offered
        available = kind in offered
        enabled = mandatory or (switch.enabled if switch else True)
        target: str | None = None
        if not available:
            status = ChannelStatus.UNAVAILABLE
        elif kind is ChannelKind.BROWSER:
            count = len(subscriptions)
            status = ChannelStatus.READY if count else ChannelStatus.NOT_LINKED
            target = f"{count} browser{'s' if count != 1 else ''}" if count else None
        elif kind is ChannelKind.EMAIL:
            status = ChannelStatus.READY if operator.email else ChannelStatus.NOT_LINKED
            target = mask_email(operator.email) if operator.email else None
        elif kind in (ChannelKind.TELEGRAM, ChannelKind.VIBER, ChannelKind.WHATSAPP):
            link = links.get(kind.value)
            if link is not None and link.status == "LINKED":
                status = ChannelStatus.READY
                label = link.target_label or ""
                target = mask_phone(label) if kind is ChannelKind.WHATSAPP else label or None
            elif (
                link is not None
                and link.status == "PENDING"
                and link.code_expires_at is not None
                and link.code_expires_at > current
            ):
                status = ChannelStatus.PENDING
            else:
                status = ChannelStatus.NOT_LINKED
        elif kind in (ChannelKind.ECHAT, ChannelKind.CUSTOM):
            status = ChannelStatus.READY
            url = str(policy.bot_channels[kind].settings.get("url") or "")
            target = urlsplit(url).hostname if url else None
        else:
            status = ChannelStatus.READY
        if available and switch is not None and switch.last_error and status is ChannelStatus.READY:
            status = ChannelStatus.ERROR
        rows.append(
            ChannelRow(
                kind=kind,
                enabled=enabled,
                mandatory=mandatory,
                available=available,
                status=status,
                target=target,
                last_test_at=switch.last_test_at if switch else None,
                last_error=switch.last_error if switch and available else None,
                routing=(
                    ModeSetting.parse({"mode": switch.routing_mode, "minutes": switch.escalate_after_minutes})
                    if switch is not None and switch.routing_mode
                    else None
                ),
            )
        )
    return ChannelsTab(operator=operator, channels=rows, push_subscriptions=subscriptions)


async def update_channel_settings(
    policy: InstancePolicy,
    operator: Operator,
    *,
    toggles: list[tuple[ChannelKind, bool]] | None,
    banner: dict[str, int | None] | None,
    default_melody: str | None,
    routing: list[tuple[ChannelKind, RoutingMode | None, int | None]] | None = None,
) -> None:
    """Validate everything first, then write: an error leaves nothing changed. ``routing`` sets the
    operator's mode per external channel (a None mode: back to the policy's)."""
    offered = policy.offered
    seen: set[ChannelKind] = set()
    for kind, enabled in toggles or ():
        if kind in seen:
            raise BadUserInput(f"{kind.value} appears twice in channels: send each channel once")
        seen.add(kind)
        if kind not in offered:
            raise BadUserInput(
                f"{kind.value} is not offered on this instance: its bot is not configured",
                field="channels",
            )
        if not enabled and kind in policy.mandatory_channels:
            raise BadUserInput(
                f"{kind.value} is mandatory on this instance and can't be switched off",
                field="channels",
            )
    for name, value in (banner or {}).items():
        if value is None:
            continue
        low, high = BANNER_RANGES[name]
        if not low <= value <= high:
            raise BadUserInput(
                f"banner.{BANNER_FIELD_NAMES[name]} must be between {low} and {high}, got {value}",
                field=f"banner.{BANNER_FIELD_NAMES[name]}",
            )
    chosen = given_modes(routing or (), "routing")
    if default_melody is not None and default_melody not in MELODY_IDS:
        raise BadUserInput(
            f"Unknown defaultMelody {shown(default_melody)}: use an id from melodies ({', '.join(sorted(MELODY_IDS))})",
            field="defaultMelody",
        )

    changes: dict[str, object] = {
        f"banner_{name}": value for name, value in (banner or {}).items() if value is not None
    }
    if default_melody is not None:
        changes["default_melody"] = default_melody
    if changes:
        for attr, new_value in changes.items():
            setattr(operator, attr, new_value)
        await Operator.filter(id=operator.id).update(**changes, updated_at=now())
    if toggles:
        await upsert(
            db(),
            ChannelSwitch,
            [{"operator_id": operator.id, "channel": k.value, "enabled": e} for k, e in toggles],
            conflict=["operator_id", "channel"],
            update=["enabled"],
        )
    if chosen:
        await upsert(
            db(),
            ChannelSwitch,
            [
                {
                    "operator_id": operator.id,
                    "channel": k.value,
                    "enabled": True,
                    "routing_mode": m.mode.value if m else None,
                    "escalate_after_minutes": m.minutes if m else None,
                }
                for k, m in chosen.items()
            ],
            conflict=["operator_id", "channel"],
            update=["routing_mode", "escalate_after_minutes"],
        )


def _b64url(value: str, field: str) -> bytes:
    cleaned = value.strip()
    try:
        return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        raise BadUserInput(f"{field} is not URL-safe base64", field=field) from None


def validate_push_subscription(endpoint: str, p256dh: str, auth: str, *, allow_http: bool) -> None:
    if len(endpoint) > 2048:
        raise BadUserInput("endpoint is longer than 2048 characters", field="endpoint")
    try:
        check_syntax(endpoint, allow_http=allow_http)
    except UnsafeUrl as exc:
        raise BadUserInput(
            f"endpoint {exc}: send the https URL of the browser's push service (PushSubscription.endpoint)",
            field="endpoint",
        ) from None
    key = _b64url(p256dh, "p256dh")
    if len(key) != 65 or key[0] != 4:
        raise BadUserInput(
            "p256dh must be the browser's uncompressed P-256 public key (65 bytes, URL-safe base64)",
            field="p256dh",
        )
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key)
    except ValueError:
        raise BadUserInput("p256dh is not a point on the P-256 curve", field="p256dh") from None
    if len(_b64url(auth, "auth")) != 16:
        raise BadUserInput("auth must be the 16-byte authentication secret (URL-safe base64)", field="auth")


def endpoint_hash(endpoint: str) -> str:
    return hashlib.sha256(endpoint.encode()).hexdigest()


async def register_push_subscription(
    operator: Operator,
    *,
    endpoint: str,
    p256dh: str,
    auth: str,
    user_agent: str | None,
    allow_http: bool,
    per_user_limit: int,
) -> PushSubscription:
    """Register or refresh a browser; an endpoint used by another operator moves to this one."""
    validate_push_subscription(endpoint, p256dh, auth, allow_http=allow_http)
    if user_agent is not None and len(user_agent) > 512:
        user_agent = user_agent[:512]
    digest = endpoint_hash(endpoint)
    existing = await PushSubscription.filter(operator_id=operator.id).count()
    mine = await PushSubscription.filter(operator_id=operator.id, endpoint_hash=digest).exists()
    if not mine and existing >= per_user_limit:
        raise BadUserInput(
            f"You have {existing} browsers subscribed, the most allowed: unregister one first",
            field="endpoint",
        )
    await upsert(
        db(),
        PushSubscription,
        [
            {
                "instance_id": operator.instance_id,
                "operator_id": operator.id,
                "endpoint": endpoint,
                "endpoint_hash": digest,
                "p256dh": p256dh.strip(),
                "auth": auth.strip(),
                "user_agent": user_agent,
                "created_at": now(),
            }
        ],
        conflict=["instance_id", "endpoint_hash"],
        update=["operator_id", "p256dh", "auth", "user_agent"],
    )
    return await PushSubscription.get(instance_id=operator.instance_id, endpoint_hash=digest)


async def unregister_push_subscription(operator: Operator, endpoint: str) -> bool:
    deleted = await PushSubscription.filter(operator_id=operator.id, endpoint_hash=endpoint_hash(endpoint)).delete()
    return bool(deleted)
