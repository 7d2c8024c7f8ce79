"""Linking the bot channels (TELEGRAM, VIBER, WHATSAPP) to an operator by a one-time code.

A bot cannot message someone who never wrote to it, and the providers tell a bot nothing about who
a chat belongs to. So the panel asks for a link (``start_link``), the operator opens the returned
URL, which makes their messenger send the code to the instance's bot, and the bot's webhook hands
the code and the chat it came from to ``complete_link``:

    TELEGRAM  https://t.me/<botUsername>?start=<code>      the bot receives "/start <code>"
    VIBER     viber://pa?chatURI=<botUri>&context=<code>   conversation_started carries context
    WHATSAPP  https://wa.me/<businessPhone>?text=<code>    the user sends the code as a message

Codes are ``secrets.token_urlsafe`` (22 characters of [A-Za-z0-9_-]: what Telegram's /start
payload allows, at most 64), unique across instances, single use, valid for 15 minutes.

Relinking a channel that is LINKED keeps it LINKED, delivering to the old chat, until the new code
arrives: an operator who starts a link and walks away must not lose a working channel. The new code
replaces any older one, so only the latest link a user opened works.

Each queued delivery carries the chat publishing found (``Delivery.address``), so the bot channels
never read the link per job. Completing a link moves the channel's unsent deliveries to the new
chat; unlinking skips them ("not linked"), in the same transaction as the link's change.

WhatsApp's link needs the business phone number; the bot settings have no such key yet, so without
a ``businessPhone`` setting the link is ``https://wa.me/?text=<code>``, where the user picks the
business chat themselves.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from tortoise.queryset import QuerySet
from tortoise.timezone import now

from domain.errors import BadUserInput
from domain.policy import InstancePolicy
from models.bulk import upsert
from models.db import db
from models.enums import ChannelKind, DeliveryStatus
from models.notification import Delivery
from models.operator import ChannelLink, ChannelSwitch, Operator

LINKED_CHANNELS = frozenset({ChannelKind.TELEGRAM, ChannelKind.VIBER, ChannelKind.WHATSAPP})
CODE_TTL = timedelta(minutes=15)
CODE_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Why a channel that needs no code needs none: said in the error, so the panel can act on it.
NO_LINKING = {
    ChannelKind.EMAIL: "EMAIL delivers to the email address of your profile",
    ChannelKind.ECHAT: "ECHAT delivers by your operator id",
    ChannelKind.CUSTOM: "CUSTOM delivers by your operator id",
    ChannelKind.BROWSER: "BROWSER links each browser with registerPushSubscription",
}


@dataclass(frozen=True)
class LinkStart:
    channel: ChannelKind
    code: str
    url: str
    expires_at: datetime


def _check_linkable(policy: InstancePolicy, channel: ChannelKind) -> None:
    if channel not in LINKED_CHANNELS:
        why = NO_LINKING.get(channel, f"{channel.value} reaches you in the open panel")
        raise BadUserInput(f"{channel.value} needs no linking: {why}", field="channel")


def _link_url(policy: InstancePolicy, channel: ChannelKind, code: str) -> str:
    settings = policy.bot_channels[channel].settings
    if channel is ChannelKind.TELEGRAM:
        username = str(settings.get("botUsername") or "").lstrip("@")
        return f"https://t.me/{quote(username, safe='')}?start={code}"
    if channel is ChannelKind.VIBER:
        return f"viber://pa?chatURI={quote(str(settings.get('botUri') or ''), safe='')}&context={code}"
    phone = "".join(ch for ch in str(settings.get("businessPhone") or "") if ch.isdigit())
    return f"https://wa.me/{phone}?text={code}"


async def start_link(policy: InstancePolicy, operator: Operator, channel: ChannelKind) -> LinkStart:
    """A fresh one-time code and the URL that sends it to the bot (in the caller's transaction)."""
    _check_linkable(policy, channel)
    if channel not in policy.offered:
        raise BadUserInput(
            f"{channel.value} is not offered on this instance: its bot is not configured", field="channel"
        )
    code = secrets.token_urlsafe(16)
    current = now()
    expires_at = current + CODE_TTL
    table = ChannelLink._meta.db_table
    await upsert(
        db(),
        ChannelLink,
        [
            {
                "instance_id": operator.instance_id,
                "operator_id": operator.id,
                "channel": channel.value,
                "status": "PENDING",
                "code": code,
                "code_expires_at": expires_at,
                "updated_at": current,
            }
        ],
        conflict=["operator_id", "channel"],
        update={
            # A working link stays LINKED (and keeps its target) until the new code arrives.
            "status": f'CASE WHEN "{table}"."status" = \'LINKED\' THEN \'LINKED\' ELSE excluded."status" END',
            "code": 'excluded."code"',
            "code_expires_at": 'excluded."code_expires_at"',
            "updated_at": 'excluded."updated_at"',
        },
    )
    return LinkStart(channel=channel, code=code, url=_link_url(policy, channel, code), expires_at=expires_at)


async def complete_link(
    instance_id: str, channel: ChannelKind, code: str, *, target: str, label: str | None
) -> Operator | None:
    """Finish a pending link whose one-time code arrived through the provider's webhook: the
    operator it belongs to, or None when the code is unknown, used or expired."""
    code = code.strip()
    if not CODE_PATTERN.fullmatch(code) or not target:
        return None
    link = await ChannelLink.get_or_none(instance_id=instance_id, channel=channel.value, code=code)
    current = now()
    if link is None or link.code_expires_at is None or link.code_expires_at <= current:
        return None
    # Conditional on the code: of two deliveries of the same message, only one links.
    changed = await ChannelLink.filter(id=link.id, code=code).update(
        status="LINKED",
        target=target[:200],
        target_label=label[:200] if label else None,
        linked_at=current,
        code=None,
        code_expires_at=None,
        updated_at=current,
    )
    if not changed:
        return None
    await _unsent(link.operator_id, channel).update(address=target[:200])
    # The last error was about the old chat (a blocked bot, say): the new one has none yet.
    await ChannelSwitch.filter(operator_id=link.operator_id, channel=channel.value).update(last_error=None)
    return await Operator.get_or_none(id=link.operator_id)


async def unlink(policy: InstancePolicy, operator: Operator, channel: ChannelKind) -> None:
    """Forget where the channel delivers (and any pending code); unlinking twice is harmless."""
    _check_linkable(policy, channel)
    if operator.id is None:
        return
    await ChannelLink.filter(operator_id=operator.id, channel=channel.value).delete()
    # Waiting ones are skipped. One a worker is sending now finishes and is recorded as it went;
    # should it need another try, it finds no chat on its row and reads the (gone) link.
    await (
        _unsent(operator.id, channel)
        .filter(locked_by__isnull=True)
        .update(
            status=DeliveryStatus.SKIPPED.value,
            last_error="not linked: the channel was unlinked before it was sent",
            address=None,
            next_attempt_at=None,
            lease_until=None,
            updated_at=now(),
        )
    )
    await _unsent(operator.id, channel).update(address=None)
    await ChannelSwitch.filter(operator_id=operator.id, channel=channel.value).update(last_error=None)


def _unsent(operator_id: int, channel: ChannelKind) -> QuerySet[Delivery]:
    """The channel's deliveries to this operator that no worker has settled yet."""
    return Delivery.filter(
        operator_id=operator_id,
        channel=channel.value,
        # HELD ones wait for working hours; digests and their members travel with the link too
        status__in=(DeliveryStatus.QUEUED.value, DeliveryStatus.RETRYING.value, DeliveryStatus.HELD.value),
    )
