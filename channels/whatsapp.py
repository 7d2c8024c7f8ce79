"""WHATSAPP delivery through the WhatsApp Business Cloud API (Meta Graph API).

Limits (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages): a text
message's body is at most 4096 characters, links included: a longer body is cut to fit, ending in
"…", so the link survives. (A template's body is at most 1024 characters with its parameters
filled in: ``TEMPLATE_BODY_MAX``, for when templates are sent; today only text is.)

    POST {apiBaseUrl}/{phoneNumberId}/messages
    Authorization: Bearer <access token>
    {"messaging_product": "whatsapp", "to": <operator's number>, "type": "text", "text": {"body": ...}}

Settings: ``phoneNumberId`` (required: the business number's id in Meta's WhatsApp Manager) and
``apiBaseUrl`` (default https://graph.facebook.com/v21.0). The recipient is the number the
operator's link holds: the one that sent the one-time code to the business number
(``api/webhook_whatsapp.py``), as Meta reports it (digits, no "+").

The secret (the bot channel's write-only ``secret`` field) is either

* a plain access token (a system user's permanent token), or
* a JSON object string ``{"accessToken": "...", "appSecret": "..."}``.

The access token authorizes sends. Meta signs webhook calls (``X-Hub-Signature-256``) with the
Meta app's *app secret*: the webhook verifies with ``appSecret`` when the JSON form gives one, and
with the access token otherwise. The same key is the *verify token* of the webhook subscription
handshake (``GET ...?hub.mode=subscribe&hub.verify_token=...``): enter it as the "Verify token"
when configuring the webhook in the Meta app dashboard.

Errors: 429 and 5xx are retried (after Retry-After when given), and so are Meta's throttling
codes (4, 80007, 130429, 131048, 131056) whatever the HTTP status; any other 4xx is permanent.
Reasons are classified by Meta's ``{"error": {"code", "title"}}`` (``CODE_ADVICE``); Meta's own
text (title and message) goes only to the log, redacted.

WhatsApp delivers free-form text only within 24 hours of the operator's last message to the
business number (outside it Meta answers code 131047, which fails the delivery with a hint).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from channels.base import GiveUp, Job, Outcome, RetryLater, Sent, linked_address
from channels.deps import ChannelDeps
from channels.http import RETRYABLE, log_answer, network_failure, outcome_for, retry_after, retrying
from channels.http_client import Answer, ProviderClient, TransportError
from channels.message import cut, fit_lines, message_for
from channels.redact import bot_secrets
from core.urls import UnsafeUrl, check_outbound
from domain.bots import BotConfig
from models.enums import ChannelKind

PROVIDER = "WhatsApp"
DEFAULT_API_BASE_URL = "https://graph.facebook.com/v21.0"
#: A text message's body holds at most 4096 characters; a template's body 1024, parameters filled in.
TEXT_MAX = 4096
TEMPLATE_BODY_MAX = 1024
#: Meta's rate-limit error codes: retried even when the HTTP status is a 400.
THROTTLING_CODES = frozenset({4, 80007, 130429, 131048, 131056})


@dataclass(frozen=True)
class WhatsAppSecret:
    access_token: str
    app_secret: str | None = None

    @property
    def signing_key(self) -> str:
        """The webhook signature key and verify token: the app secret, else the access token."""
        return self.app_secret or self.access_token

    def __repr__(self) -> str:
        return "WhatsAppSecret('**********')"


def parse_secret(raw: str | None) -> WhatsAppSecret | None:
    """A plain access token, or ``{"accessToken": ..., "appSecret": ...}``; None when unusable."""
    if not raw or not raw.strip():
        return None
    text = raw.strip()
    if not text.startswith("{"):
        return WhatsAppSecret(access_token=text)
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    token, app_secret = data.get("accessToken"), data.get("appSecret")
    if not isinstance(token, str) or not token.strip():
        return None
    return WhatsAppSecret(
        access_token=token.strip(),
        app_secret=app_secret.strip() if isinstance(app_secret, str) and app_secret.strip() else None,
    )


def _error(response: Answer) -> tuple[int | None, str, str]:
    """Meta's error code, title (``error_user_title`` or ``title``) and message (with details),
    from ``{"error": {...}}``."""
    try:
        body: Any = response.json()
    except ValueError:
        return None, "", ""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, "", ""
    message = str(error.get("message") or "")
    data = error.get("error_data")
    details = str(data.get("details") or "") if isinstance(data, dict) else ""
    if details and details not in message:
        message = f"{message}: {details}" if message else details
    code = error.get("code")
    title = str(error.get("error_user_title") or error.get("title") or "")
    return (code if isinstance(code, int) else None), title, message


#: What a refusing code means and what to do about it, in the service's words.
CODE_ADVICE: dict[int, str] = {
    190: "WhatsApp refused the access token ({code}): set a new access token in the WhatsApp bot settings",
    10: "WhatsApp: the access token lacks a permission ({code}): give it whatsapp_business_messaging",
    200: "WhatsApp: the access token lacks a permission ({code}): give it whatsapp_business_messaging",
    100: "WhatsApp refused the request as invalid ({code}): check phoneNumberId in the WhatsApp bot settings",
    131047: "WhatsApp: more than 24 hours passed since the operator last wrote to the business number "
    "({code}): WhatsApp delivers free-form messages only within that window; not retried",
    131026: "WhatsApp: the number cannot receive this message ({code}): not on WhatsApp, or an old app version",
    131030: "WhatsApp: the operator's number is not on the test number's allowed list ({code}): add it in "
    "the Meta app dashboard",
    131031: "WhatsApp: the business account is locked ({code}): check it in WhatsApp Manager",
    133010: "WhatsApp: the business number is not registered ({code}): register it in WhatsApp Manager",
}


def outcome_for_whatsapp(response: Answer, secrets: tuple[str, ...] = ()) -> Outcome:
    status = response.status_code
    if 200 <= status < 300:
        return Sent()
    code, title, message = _error(response)
    if code is None:
        return outcome_for(
            response, PROVIDER, secrets=secrets, credential="access token", where="the WhatsApp bot settings"
        )
    log_answer(PROVIDER, status, f"code {code}: {title}: {message}" if title else f"code {code}: {message}", secrets)
    named = f"HTTP {status}, code {code}"
    after = retry_after(response)
    if code in THROTTLING_CODES or status == 429:
        return RetryLater(f"WhatsApp is rate-limiting ({named}): {retrying(after)}", after)
    if status >= 500 or status in RETRYABLE:
        return RetryLater(f"WhatsApp answered {named}: {retrying(after)}", after)
    advice = CODE_ADVICE.get(code)
    if advice:
        return GiveUp(advice.format(code=named))
    if status == 401:
        return GiveUp(CODE_ADVICE[190].format(code=named))
    # Meta's own words stay in the log (redacted): an operator reads only the service's.
    return GiveUp(f"WhatsApp refused the message ({named}): not retried; the log has WhatsApp's reason")


def messages_url(bot: BotConfig) -> str:
    base = str(bot.setting("apiBaseUrl", DEFAULT_API_BASE_URL)).rstrip("/")
    return f"{base}/{quote(str(bot.setting('phoneNumberId', '')), safe='')}/messages"


async def send_text(http: ProviderClient, bot: BotConfig, to: str, body: str, *, allow_http: bool) -> Outcome:
    """One text message to ``to`` through the instance's business number."""
    secret = parse_secret(bot.secret)
    if secret is None:
        return GiveUp("WHATSAPP secret is not an access token nor a JSON object with accessToken")
    if not bot.setting("phoneNumberId"):
        return GiveUp("WHATSAPP settings.phoneNumberId is missing")
    url = messages_url(bot)
    try:
        await check_outbound(url, allow_http=allow_http)
    except UnsafeUrl as exc:
        return GiveUp(f"WHATSAPP settings.apiBaseUrl {exc}")
    payload = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": cut(body, TEXT_MAX), "preview_url": False},
    }
    try:
        response = await http.post(url, json=payload, headers={"Authorization": f"Bearer {secret.access_token}"})
    except UnsafeUrl as exc:  # the name resolved inside the network when connecting
        return GiveUp(f"WHATSAPP settings.apiBaseUrl {exc}")
    except TransportError as exc:
        return network_failure(exc, PROVIDER)
    return outcome_for_whatsapp(response, bot_secrets(bot.secret, bot.settings))


class WhatsAppChannel:
    kinds = frozenset({ChannelKind.WHATSAPP})

    def __init__(self, deps: ChannelDeps) -> None:
        self.deps = deps

    async def send(self, job: Job) -> Outcome:
        bot = await self.deps.bot(job.operator.instance_id, ChannelKind.WHATSAPP)
        if bot is None or not bot.secret:
            return GiveUp("WHATSAPP is not configured on this instance (no enabled bot with an access token)")
        address = await linked_address(job)
        if address is None:
            return GiveUp("not linked: the operator has not linked WhatsApp (Channels tab, link WhatsApp)")
        message = message_for(job, self.deps.panel_url)
        text = fit_lines(message.title, message.body, message.link, TEXT_MAX)
        return await send_text(self.deps.http, bot, address, text, allow_http=self.deps.settings.allow_http_endpoints)
