"""TELEGRAM: a plain-text message from the instance's bot, through the Telegram Bot API.

Limits (https://core.telegram.org/bots/api, /bots/faq): a message is at most 4096 characters
counted in UTF-16 code units (an emoji is two): a longer body is cut to fit, ending in "…", so the
link survives; about 30 messages a second per bot and one a second per chat, beyond which Telegram
answers 429 with ``retry_after``.

    POST {apiBaseUrl}/bot{token}/sendMessage
         {"chat_id": <linked chat>, "text": "title\\nbody\\nlink", "disable_web_page_preview": true}
    -> {"ok": true, "result": {...}}
     | {"ok": false, "error_code": 429, "description": "...", "parameters": {"retry_after": N}}

A bot can only write to a chat whose user started it, which is what linking (domain/links.py)
makes sure of; a user who blocks the bot gets 403 from then on.

With the bot's ``editWhenHandled`` setting, each message sent is kept (models.TelegramSent: chat
and message id), and once its notification is read or its ticket or chat handled (domain.retract)
a worker edits it (``TELEGRAM_EDITS``) to start with "✓ Handled" in the recipient's language:

    POST {apiBaseUrl}/bot{token}/editMessageText
         {"chat_id": ..., "message_id": ..., "text": "✓ Handled\ntitle\nbody\nlink", ...}

An edit is tried up to ``EDIT_ATTEMPTS`` times (429, 5xx and network failures again after 2^n
seconds); a refusal (the message is gone, too old to edit, unchanged) drops it.

Failures are classified (``outcome_of``): a refused token (401/404), a blocked bot or a vanished
chat (403/400 with a known description), rate limiting (429), Telegram's own trouble (5xx). The
bot token is part of the URL path: reasons never quote the URL, the client's exceptions carry no
text of it (channels/http_client.py), Telegram's description is kept only short and redacted of
the channel's secrets (channels/redact.py), and the client (aiohttp) logs no request URLs.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from channels.base import DeliveryRow, GiveUp, Job, Outcome, RetryLater, Sent, linked_address
from channels.deps import ChannelDeps
from channels.http import log_answer, network_failure, outcome_for, retry_after, retry_delay, retrying
from channels.http_client import Answer, InvalidURL, TransportError
from channels.message import fit_lines, message_for
from channels.redact import bot_secrets, remote_text
from channels.schedules import Due, Schedule
from core.broker import Broker
from core.urls import UnsafeUrl, check_outbound
from models.catalog import text
from models.enums import ChannelKind
from models.notification import Notification, TelegramSent

log = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://api.telegram.org"
MAX_TEXT = 4096
#: Characters of Telegram's own description a reason may keep (redacted, one line).
MAX_DESCRIPTION = 80
PROVIDER = "Telegram"


def utf16_units(text: str) -> int:
    """Telegram counts a message's length in UTF-16 code units (an emoji is two)."""
    return len(text.encode("utf-16-le")) // 2


def message_text(title: str, body: str, link: str) -> str:
    """Title, body and link on their own lines, at most MAX_TEXT UTF-16 units; a long body is
    cut (ending in an ellipsis) so the link survives."""
    return fit_lines(title, body, link, MAX_TEXT, utf16_units)


#: Telegram's descriptions of a 403 or 400 that say the chat is out of reach, and what they mean.
UNREACHABLE: tuple[tuple[str, str], ...] = (
    ("bot was blocked by the user", "the operator blocked the bot"),
    ("user is deactivated", "the operator's Telegram account is deleted"),
    ("bot can't initiate conversation", "the operator has not started the bot"),
    ("bot was kicked", "the bot was removed from the chat"),
    ("chat not found", "the linked chat no longer exists"),
)


def outcome_of(response: Answer, secrets: tuple[str, ...] = ()) -> Outcome:
    """Telegram's answer: its JSON says what went wrong; anything else is judged by the status.
    Known descriptions become the service's words; Telegram's own text only goes to the log, redacted."""
    try:
        data: Any = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict) or "ok" not in data:
        return outcome_for(
            response, PROVIDER, secrets=secrets, credential="bot token", where="the Telegram bot settings"
        )
    if data.get("ok") is True:
        return Sent()
    error_code = data.get("error_code")
    code = error_code if isinstance(error_code, int) else response.status_code
    description = remote_text(data.get("description") or "", secrets, MAX_DESCRIPTION)
    log_answer(PROVIDER, code, description, secrets)
    given = data.get("parameters")
    parameters = given if isinstance(given, dict) else {}
    if code == 429:
        after = parameters.get("retry_after")
        seconds = retry_delay(after)
        if seconds is None:
            seconds = retry_after(response)
        return RetryLater(f"{PROVIDER} is rate-limiting (HTTP 429): {retrying(seconds)}", seconds)
    if code >= 500 or code in (408, 425):
        return RetryLater(f"{PROVIDER} answered HTTP {code}: retrying")
    if code in (401, 404):
        # Telegram answers both for a token it does not know: no message can get through.
        return GiveUp(
            f"{PROVIDER} refused the bot token (HTTP {code}): check the bot token in the Telegram bot settings"
        )
    lowered = description.lower()
    for known, meaning in UNREACHABLE:
        if known in lowered:
            return GiveUp(f"{PROVIDER}: {meaning} (HTTP {code}): they must link Telegram again")
    if code == 403:
        return GiveUp(f"{PROVIDER} refused to write to the linked chat (HTTP 403): they must link Telegram again")
    if "too long" in lowered:
        return GiveUp(f"{PROVIDER} refused the message as too long (HTTP {code}): not retried")
    # Telegram's own words stay in the log (redacted): an operator reads only the service's.
    return GiveUp(f"{PROVIDER} refused the message (HTTP {code}): not retried; the log has Telegram's reason")


class TelegramChannel:
    kinds = frozenset({ChannelKind.TELEGRAM})

    def __init__(self, deps: ChannelDeps) -> None:
        self.deps = deps

    async def send(self, job: Job) -> Outcome:
        config = await self.deps.bot(job.operator.instance_id, ChannelKind.TELEGRAM)
        if config is None or not config.secret:
            return GiveUp("TELEGRAM is not configured")
        address = await linked_address(job)
        if address is None:
            return GiveUp("not linked: link Telegram on the Channels tab first")
        base = str(config.setting("apiBaseUrl", DEFAULT_API_BASE_URL)).rstrip("/")
        try:
            await check_outbound(base, allow_http=self.deps.settings.allow_http_endpoints)
        except UnsafeUrl as exc:
            return GiveUp(f"TELEGRAM apiBaseUrl {exc}")
        message = message_for(job, self.deps.panel_url)
        payload = {
            "chat_id": address,
            "text": message_text(message.title, message.body, message.link),
            "disable_web_page_preview": True,
        }
        url = f"{base}/bot{quote(config.secret, safe=':')}/sendMessage"
        try:
            response = await self.deps.http.post(url, json=payload)
        except InvalidURL:
            return GiveUp("TELEGRAM apiBaseUrl or bot token does not make a valid URL")
        except UnsafeUrl as exc:  # the name resolved inside the network when connecting
            return GiveUp(f"TELEGRAM apiBaseUrl {exc}")
        except TransportError as exc:
            return network_failure(exc, PROVIDER)
        outcome = outcome_of(response, bot_secrets(config.secret, config.settings))
        if isinstance(outcome, Sent) and job.notification is not None and config.setting("editWhenHandled") is True:
            await _keep(job, address, response)
        return outcome

    @property
    def schedules(self) -> tuple[Schedule, ...]:
        """The runtime runs these beside the deliveries: the edits of handled notifications' messages."""
        return (
            Schedule(
                name="telegram edits",
                model=TelegramSent,
                due_column="edit_due_at",
                returning="id, instance_id, operator_id, notification_id, chat_id, message_id, attempts",
                fire=self._fire_edits,
            ),
        )

    async def _fire_edits(self, broker: Broker, due: list[Due]) -> None:
        notifications = {n.id: n for n in await Notification.filter(id__in={d.row["notification_id"] for d in due})}
        done: list[int] = []
        for d in due:
            notification = notifications.get(d.row["notification_id"])
            if notification is None or d.operator is None:
                done.append(d.row["id"])
                continue
            outcome = await self._edit(d, notification)
            attempts = int(d.row["attempts"]) + 1
            if isinstance(outcome, RetryLater) and attempts < EDIT_ATTEMPTS:
                delay = outcome.after_seconds if outcome.after_seconds is not None else float(2**attempts)
                await TelegramSent.filter(id=d.row["id"]).update(
                    edit_due_at=d.at + timedelta(seconds=delay), lease_until=None, attempts=attempts
                )
                continue
            if isinstance(outcome, GiveUp):
                log.info("the Telegram message of notification %s was not edited: %s", notification.id, outcome.reason)
            done.append(d.row["id"])
        if done:
            await TelegramSent.filter(id__in=done).delete()

    async def _edit(self, d: Due, notification: Notification) -> Outcome:
        assert d.operator is not None
        config = await self.deps.bot(d.row["instance_id"], ChannelKind.TELEGRAM)
        if config is None or not config.secret:
            return GiveUp("TELEGRAM is not configured")
        base = str(config.setting("apiBaseUrl", DEFAULT_API_BASE_URL)).rstrip("/")
        try:
            await check_outbound(base, allow_http=self.deps.settings.allow_http_endpoints)
        except UnsafeUrl as exc:
            return GiveUp(f"TELEGRAM apiBaseUrl {exc}")
        job = Job(delivery=_EDITED, notification=notification, operator=d.operator)
        message = message_for(job, self.deps.panel_url)
        handled = f"✓ {text(HANDLED, d.operator.locale)}: {message.title}"
        payload = {
            "chat_id": d.row["chat_id"],
            "message_id": int(d.row["message_id"]),
            "text": message_text(handled, message.body, message.link),
            "disable_web_page_preview": True,
        }
        url = f"{base}/bot{quote(config.secret, safe=':')}/editMessageText"
        try:
            response = await self.deps.http.post(url, json=payload)
        except (InvalidURL, UnsafeUrl):
            return GiveUp("TELEGRAM apiBaseUrl or bot token does not make a valid URL")
        except TransportError as exc:
            return network_failure(exc, PROVIDER)
        return outcome_of(response, bot_secrets(config.secret, config.settings))


#: Tries of one edit before it is dropped.
EDIT_ATTEMPTS = 5
HANDLED = {"en": "Handled", "uk": "Опрацьовано"}
#: The delivery row an edit's message is built as (message_for reads only its notification and operator).
_EDITED = DeliveryRow(id=0, instance_id="", operator_id=0, notification_id=None, channel="TELEGRAM", attempts=1)


async def _keep(job: Job, chat_id: str, response: Answer) -> None:
    """Keep a sent message's chat and id, for the edit once its notification is handled."""
    try:
        message_id = response.json()["result"]["message_id"]
    except (ValueError, KeyError, TypeError):
        return
    if not isinstance(message_id, int) or isinstance(message_id, bool) or job.notification is None:
        return
    await TelegramSent.create(
        instance_id=job.operator.instance_id,
        operator_id=job.operator.id,
        notification_id=job.notification.id,
        chat_id=str(chat_id),
        message_id=message_id,
    )
