"""VIBER delivery through the Viber REST bot API (a Viber "bot", formerly public account).

    POST {apiBaseUrl}/pa/send_message
    X-Viber-Auth-Token: <the bot's auth token: the channel's write-only secret>
    {"receiver": <Viber user id>, "type": "text", "sender": {"name": <botUri>}, "text": ...}

Settings: ``botUri`` (required; also the sender name shown to the operator) and ``apiBaseUrl``
(default https://chatapi.viber.com). The receiver is the Viber user id the operator's link holds,
stored by the webhook (``api/webhook_viber.py``) when they opened the bot with their one-time code.

Viber answers HTTP 200 for requests it understood, with ``status`` 0 on success and another
number on failure: 12 (tooManyRequests) is retried, every other status is permanent (the user
unsubscribed, has no suitable device, the token is wrong ...). HTTP-level failures follow
``channels/http.py``. Reasons are built here and never contain the token.
"""

from __future__ import annotations

from typing import Any

import httpx

from channels.base import GiveUp, Job, Outcome, RetryLater, Sent
from channels.deps import BotConfig, ChannelDeps
from channels.http import network_failure, outcome_for
from channels.message import message_for
from channels.urls import UnsafeUrl, check_outbound
from models.enums import ChannelKind
from models.operator import ChannelLink

PROVIDER = "Viber"
DEFAULT_API_BASE_URL = "https://chatapi.viber.com"
#: Viber's limits: the sender name is at most 28 characters, a text message at most 7000.
SENDER_NAME_MAX = 28
TEXT_MAX = 7000

#: Viber's status codes (https://developers.viber.com/docs/api/rest-bot-api/#error-codes).
STATUS_NAMES: dict[int, str] = {
    1: "invalidUrl",
    2: "invalidAuthToken",
    3: "badData",
    4: "missingData",
    5: "receiverNotRegistered",
    6: "notSubscribed",
    7: "publicAccountBlocked",
    8: "publicAccountNotFound",
    9: "publicAccountSuspended",
    10: "webhookNotSet",
    11: "receiverNoSuitableDevice",
    12: "tooManyRequests",
    13: "apiVersionNotSupported",
    14: "incompatibleWithVersion",
    15: "publicAccountNotAuthorized",
    16: "inchatReplyMessageNotAllowed",
    17: "publicAccountIsNotInline",
    18: "noPublicChat",
    19: "cannotSendBroadcast",
    20: "broadcastNotAllowed",
    21: "unsupportedCountry",
    22: "paymentUnsupported",
    23: "freeMessagesExceeded",
    24: "noBalance",
}
RETRYABLE_STATUSES = frozenset({12})


def api_base_url(bot: BotConfig) -> str:
    return str(bot.setting("apiBaseUrl", DEFAULT_API_BASE_URL)).rstrip("/")


def sender(bot: BotConfig) -> dict[str, str]:
    """The sender Viber shows: the bot's name (its botUri, as configured)."""
    return {"name": str(bot.setting("botUri", "Notifications"))[:SENDER_NAME_MAX]}


def scrub(text: str, secret: str | None) -> str:
    """Provider text with the token taken out, should a provider ever echo it back."""
    return text.replace(secret, "***") if secret else text


def outcome_for_viber(response: httpx.Response, secret: str | None) -> Outcome:
    """HTTP first (5xx, 429 ...), then Viber's own ``status`` in a 200 answer."""
    if not 200 <= response.status_code < 300:
        outcome = outcome_for(response, PROVIDER)
        if isinstance(outcome, RetryLater):
            return RetryLater(scrub(outcome.reason, secret), outcome.after_seconds)
        assert isinstance(outcome, GiveUp)
        return GiveUp(scrub(outcome.reason, secret))
    try:
        body: Any = response.json()
    except ValueError:
        return RetryLater("Viber answered with something other than JSON")
    status = body.get("status") if isinstance(body, dict) else None
    if status == 0:
        return Sent()
    if not isinstance(status, int):
        return RetryLater("Viber answered without a status")
    name = STATUS_NAMES.get(status, "generalError")
    message = " ".join(str(body.get("status_message") or "").split())[:200]
    detail = f" ({scrub(message, secret)})" if message and message != name else ""
    reason = f"Viber refused the message: status {status} {name}{detail}"
    if status in RETRYABLE_STATUSES:
        return RetryLater(reason)
    if status == 2:
        reason += "; check the bot's auth token in the instance settings"
    elif status in (5, 6):
        reason += "; the operator must open the bot in Viber again (link it anew)"
    return GiveUp(reason)


class ViberChannel:
    kinds = frozenset({ChannelKind.VIBER})

    def __init__(self, deps: ChannelDeps) -> None:
        self.deps = deps

    async def send(self, job: Job) -> Outcome:
        bot = await self.deps.bot(job.operator.instance_id, ChannelKind.VIBER)
        if bot is None or not bot.secret:
            return GiveUp("VIBER is not configured on this instance (no enabled bot with an auth token)")
        link = await ChannelLink.get_or_none(
            operator_id=job.operator.id, channel=ChannelKind.VIBER.value, status="LINKED"
        )
        if link is None or not link.target:
            return GiveUp("not linked: the operator has not linked Viber (Channels tab, link Viber)")
        url = f"{api_base_url(bot)}/pa/send_message"
        try:
            await check_outbound(url, allow_http=self.deps.settings.allow_http_endpoints)
        except UnsafeUrl as exc:
            return GiveUp(f"VIBER settings.apiBaseUrl {exc}")
        message = message_for(job, self.deps.panel_url)
        text = f"{message.plain}\n{message.link}".strip()[:TEXT_MAX]
        payload = {"receiver": link.target, "type": "text", "sender": sender(bot), "text": text}
        try:
            response = await self.deps.http.post(url, json=payload, headers={"X-Viber-Auth-Token": bot.secret})
        except httpx.HTTPError as exc:
            return network_failure(exc, PROVIDER)
        return outcome_for_viber(response, bot.secret)
