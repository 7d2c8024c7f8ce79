"""Per-operator channel health for supervisors and administrators: whose channels stopped working.

It reads what the workers already record when they settle a try (channels/settle.py): the last
failure of each operator's channel (``ChannelSwitch.last_error``), set by a FAILED delivery or a
failed test send and cleared by the next send that gets through. An operator is listed while one of
the instance's offered external channels holds such a failure; each such channel shows

    status ERROR        still linked (or subscribed, or addressable) but its last send failed:
                        a Telegram chat that blocked the bot, a refused email address ...
    status NOT_LINKED   nothing left to deliver to: the link is gone, or every browser push
                        subscription expired and was removed (pushSubscriptions 0)

    page(policy, channels, first, after, max_first) -> HealthPage   operator id order, 4 statements

Errors: BadUserInput (a bad page size or cursor, a panel channel).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from tortoise.functions import Count

from domain.bell import row_id
from domain.errors import BadUserInput
from domain.policy import InstancePolicy
from models.enums import PANEL_CHANNELS, ChannelKind, ChannelStatus, sort_channels
from models.operator import ChannelLink, ChannelSwitch, Operator, PushSubscription

#: Channels delivered to a linked chat: without a LINKED link they reach nobody.
LINKED_CHANNELS = frozenset({ChannelKind.TELEGRAM, ChannelKind.VIBER, ChannelKind.WHATSAPP})
#: The panel's live channels: nothing a worker records health for.
LIVE = frozenset(PANEL_CHANNELS) - {ChannelKind.BROWSER}


@dataclass(frozen=True)
class ChannelProblem:
    channel: ChannelKind
    status: ChannelStatus
    last_error: str
    last_test_at: datetime | None
    #: BROWSER: the operator's push subscriptions left; None for the other channels.
    push_subscriptions: int | None


@dataclass(frozen=True)
class OperatorHealth:
    operator_id: int
    user_id: str
    operator_name: str | None
    problems: list[ChannelProblem]


@dataclass(frozen=True)
class HealthPage:
    operators: list[OperatorHealth]
    has_next_page: bool


def encode_cursor(operator_id: int) -> str:
    return base64.urlsafe_b64encode(f"o:{operator_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, value = raw.partition(":")
        number = row_id(value)
        if prefix != "o" or number is None:
            raise ValueError(prefix)
        return number
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadUserInput(
            "after is not a cursor of channelHealth: pass pageInfo.endCursor unchanged", field="after"
        ) from None


async def page(
    policy: InstancePolicy,
    channels: list[ChannelKind] | None,
    *,
    first: int,
    after: str | None,
    max_first: int,
) -> HealthPage:
    """The operators of the policy's instance with a failing channel among ``channels`` (None: every
    offered external channel), ``first`` (1-``max_first``) after the cursor, in operator order."""
    if not 1 <= first <= max_first:
        raise BadUserInput(f"first must be between 1 and {max_first}, got {first}", field="first")
    for channel in channels or ():
        if channel in LIVE:
            raise BadUserInput(
                f"{channel.value} only reaches open panels: it has no health to report", field="channels"
            )
    wanted = [c.value for c in sort_channels(channels or policy.offered) if c in policy.offered and c not in LIVE]
    failing = ChannelSwitch.filter(
        operator__instance_id=policy.instance_id, last_error__isnull=False, channel__in=wanted
    ).exclude(last_error="")
    if after:
        failing = failing.filter(operator_id__gt=decode_cursor(after))
    ids = [
        int(str(i))
        for i in await failing.distinct().order_by("operator_id").limit(first + 1).values_list("operator_id", flat=True)
    ]
    more, ids = len(ids) > first, ids[:first]
    if not ids:
        return HealthPage([], False)
    operators = {
        o["id"]: o
        for o in await Operator.filter(id__in=ids, instance_id=policy.instance_id).values(
            "id", "user_id", "display_name"
        )
    }
    switches = await ChannelSwitch.filter(operator_id__in=ids, last_error__isnull=False, channel__in=wanted).values(
        "operator_id", "channel", "last_error", "last_test_at"
    )
    linked = set(await ChannelLink.filter(operator_id__in=ids, status="LINKED").values_list("operator_id", "channel"))
    subscribed = dict(
        await PushSubscription.filter(operator_id__in=ids)
        .group_by("operator_id")
        .annotate(n=Count("id"))
        .values_list("operator_id", "n")
    )
    problems: dict[int, list[ChannelProblem]] = {i: [] for i in ids}
    for row in switches:
        if not row["last_error"]:
            continue
        channel = ChannelKind(row["channel"])
        subscriptions: int | None = None
        status = ChannelStatus.ERROR
        if channel in LINKED_CHANNELS and (row["operator_id"], channel.value) not in linked:
            status = ChannelStatus.NOT_LINKED
        elif channel is ChannelKind.BROWSER:
            subscriptions = int(subscribed.get(row["operator_id"], 0))
            if subscriptions == 0:
                status = ChannelStatus.NOT_LINKED
        problems[row["operator_id"]].append(
            ChannelProblem(channel, status, row["last_error"], row["last_test_at"], subscriptions)
        )
    order = {c: i for i, c in enumerate(ChannelKind)}
    return HealthPage(
        [
            OperatorHealth(
                operator_id=i,
                user_id=operators[i]["user_id"],
                operator_name=operators[i]["display_name"],
                problems=sorted(problems[i], key=lambda p: order[p.channel]),
            )
            for i in ids
            if i in operators
        ],
        more,
    )
