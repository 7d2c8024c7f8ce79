"""VIBER delivery through the Viber REST bot API (a Viber "bot", formerly public account).

Limits (https://developers.viber.com/docs/api/rest-bot-api/#send-message): a text message is at
most 7000 characters, links included: a longer body is cut to fit, ending in "…", so the link
survives; the sender name is at most 28 characters.

    POST {apiBaseUrl}/pa/send_message
    X-Viber-Auth-Token: <the bot's auth token: the channel's write-only secret>
    {"receiver": <Viber user id>, "type": "text", "sender": {"name": <botUri>}, "text": ...}

Settings: ``botUri`` (required; also the sender name shown to the operator) and ``apiBaseUrl``
(default https://chatapi.viber.com). The receiver is the Viber user id the operator's link holds,
stored by the webhook (``api/webhook_viber.py``) when they opened the bot with their one-time code.

Viber answers HTTP 200 for requests it understood, with ``status`` 0 on success and another
number on failure: 12 (tooManyRequests) is retried, every other status is permanent (the user
unsubscribed, has no suitable device, the token is wrong ...). Reasons name the status and say
what to do; Viber's ``status_message`` goes only to the log, redacted. HTTP-level failures follow
``channels/http.py``.
"""

from __future__ import annotations

from typing import Any

from channels.base import GiveUp, Job, Outcome, RetryLater, Sent, linked_address
from channels.deps import ChannelDeps
from channels.http import log_answer, network_failure, outcome_for
from channels.http_client import Answer, TransportError
from channels.message import Message, fit_lines, message_for
from channels.redact import bot_secrets
from core.urls import UnsafeUrl, check_outbound
from domain.bots import BotConfig
from models.enums import ChannelKind

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


#: What a refusing status means and what to do about it, in the service's words.
STATUS_ADVICE: dict[int, str] = {
    2: "Viber refused the auth token ({status}): check the auth token in the Viber bot settings",
    5: "Viber: the operator is not registered with the bot ({status}): they must open the bot in Viber "
    "and link it again",
    6: "Viber: the operator is not subscribed to the bot ({status}): they must open the bot in Viber and link it again",
    7: "Viber: the bot account is blocked ({status}): check the bot in the Viber admin panel",
    8: "Viber: the bot account was not found ({status}): check the bot in the Viber admin panel",
    9: "Viber: the bot account is suspended ({status}): check the bot in the Viber admin panel",
    11: "Viber: the operator has no device that can receive it ({status}): not retried",
    15: "Viber: the bot account is not authorized ({status}): check the bot in the Viber admin panel",
    23: "Viber: the bot's free messages are used up ({status}): check the bot's billing in Viber",
    24: "Viber: the bot's account has no balance ({status}): check the bot's billing in Viber",
}


def message_text(message: Message) -> str:
    """Title, body and link on their own lines, at most TEXT_MAX characters, a long body cut with
    an ellipsis. (A notification's own caps, 500 + 4000, keep under it today: this holds if they grow.)"""
    return fit_lines(message.title, message.body, message.link, TEXT_MAX)


def outcome_for_viber(response: Answer, secrets: tuple[str, ...] = ()) -> Outcome:
    """HTTP first (5xx, 429 ...), then Viber's own ``status`` in a 200 answer."""
    if not 200 <= response.status_code < 300:
        return outcome_for(response, PROVIDER, secrets=secrets, credential="auth token", where="the Viber bot settings")
    try:
        body: Any = response.json()
    except ValueError:
        log_answer(PROVIDER, response.status_code, response.text, secrets)
        return RetryLater("Viber answered with something other than JSON: retrying")
    status = body.get("status") if isinstance(body, dict) else None
    if status == 0:
        return Sent()
    if not isinstance(status, int):
        log_answer(PROVIDER, response.status_code, response.text, secrets)
        return RetryLater("Viber answered without a status: retrying")
    log_answer(PROVIDER, response.status_code, f"status {status}: {body.get('status_message')}", secrets)
    named = f"status {status} {STATUS_NAMES.get(status, 'generalError')}"
    if status in RETRYABLE_STATUSES:
        return RetryLater(f"Viber is rate-limiting ({named}): retrying")
    advice = STATUS_ADVICE.get(status)
    return GiveUp(advice.format(status=named) if advice else f"Viber refused the message ({named}): not retried")


class ViberChannel:
    kinds = frozenset({ChannelKind.VIBER})

    def __init__(self, deps: ChannelDeps) -> None:
        self.deps = deps

    async def send(self, job: Job) -> Outcome:
        bot = await self.deps.bot(job.operator.instance_id, ChannelKind.VIBER)
        if bot is None or not bot.secret:
            return GiveUp("VIBER is not configured on this instance (no enabled bot with an auth token)")
        address = await linked_address(job)
        if address is None:
            return GiveUp("not linked: the operator has not linked Viber (Channels tab, link Viber)")
        url = f"{api_base_url(bot)}/pa/send_message"
        try:
            await check_outbound(url, allow_http=self.deps.settings.allow_http_endpoints)
        except UnsafeUrl as exc:
            return GiveUp(f"VIBER settings.apiBaseUrl {exc}")
        message = message_for(job, self.deps.panel_url)
        payload = {"receiver": address, "type": "text", "sender": sender(bot), "text": message_text(message)}
        try:
            response = await self.deps.http.post(url, json=payload, headers={"X-Viber-Auth-Token": bot.secret})
        except UnsafeUrl as exc:  # the name resolved inside the network when connecting
            return GiveUp(f"VIBER settings.apiBaseUrl {exc}")
        except TransportError as exc:
            return network_failure(exc, PROVIDER)
        return outcome_for_viber(response, bot_secrets(bot.secret, bot.settings))
