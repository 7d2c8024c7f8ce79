"""POST /webhooks/telegram/{instance}: the Telegram Bot API's updates for an instance's bot.

The administrator registers this URL with ``setWebhook(url, secret_token=<webhookSecretToken>)``;
Telegram then sends that token in ``X-Telegram-Bot-Api-Secret-Token`` with every update (1-256
characters of [A-Za-z0-9_-]). The token is stored sealed (``webhook_secret_sealed``, opened here
and compared in constant time); a row written before that holds it in plain settings, which is
still honoured until the next save seals it. Without a configured token nobody could tell Telegram
from anyone else, so such an instance's webhook refuses everything.

The only update acted on is the private message "/start <code>" that a t.me link made the user's
Telegram send (domain/links.py). The bot answers by returning a Bot API method as the response
body, which Telegram executes: no token and no outbound request are needed here. Any other update
gets 200 ``{}``, since an error status makes Telegram redeliver the same update for hours.
"""

from __future__ import annotations

import hmac
import logging
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain.keys import SecretBox
from domain.links import complete_link
from models.catalog import text
from models.db import transaction
from models.enums import ChannelKind
from models.instance import BotChannelConfig
from services.shared import Services

log = logging.getLogger(__name__)

SECRET_HEADER = "x-telegram-bot-api-secret-token"
START = re.compile(r"^/start(?:@\w+)?(?:\s+(?P<code>\S+))?\s*$")

LINKED = {
    "en": "Linked: Notification Center notifications will come to this chat.",
    "uk": "Підключено: сповіщення Notification Center надходитимуть у цей чат.",
}
INVALID = {
    "en": "This link code is not valid or has expired. Start linking again on the Channels tab.",
    "uk": "Цей код недійсний або застарів. Почніть підключення знову на вкладці «Канали».",
}
NO_CODE = {
    "en": "To get notifications here, open the link from the Channels tab of the Notification Center.",
    "uk": "Щоб отримувати сповіщення тут, відкрийте посилання з вкладки «Канали» Notification Center.",
}


async def _secret_token(instance_id: str, secret_box: SecretBox) -> str | None:
    row = await BotChannelConfig.get_or_none(instance_id=instance_id, channel=ChannelKind.TELEGRAM.value, enabled=True)
    if row is None:
        return None
    if row.webhook_secret_sealed:
        try:
            return secret_box.open(row.webhook_secret_sealed)
        except ValueError:
            log.warning("the TELEGRAM webhook secret token of instance %s cannot be opened: set it again", instance_id)
            return None
    token = (row.settings or {}).get("webhookSecretToken")  # a row from before tokens were sealed
    return token if isinstance(token, str) and token else None


def _label(sender: dict[str, Any]) -> str | None:
    if sender.get("username"):
        return f"@{sender['username']}"
    name = " ".join(str(sender.get(k) or "") for k in ("first_name", "last_name")).strip()
    return name or None


def _reply(chat_id: Any, message: str) -> Response:
    return JSONResponse({"method": "sendMessage", "chat_id": chat_id, "text": message})


async def telegram_update(request: Request, secret_box: SecretBox) -> Response:
    instance_id = request.path_params["instance"]
    expected = await _secret_token(instance_id, secret_box)
    given = request.headers.get(SECRET_HEADER, "")
    if expected is None or not hmac.compare_digest(given.encode(), expected.encode()):
        return JSONResponse({"error": "forbidden"}, status_code=403)
    try:
        update = await request.json()
    except ValueError:
        return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    message = update.get("message") if isinstance(update, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return JSONResponse({})
    given_chat, given_sender = message.get("chat"), message.get("from")
    chat = given_chat if isinstance(given_chat, dict) else {}
    sender = given_sender if isinstance(given_sender, dict) else chat
    matched = START.match(message["text"].strip())
    # Only a private chat is the operator's own: a group's members would all read the notifications.
    if matched is None or chat.get("id") is None or chat.get("type", "private") != "private":
        return JSONResponse({})
    language = sender.get("language_code")
    locale = language if isinstance(language, str) else None
    code = matched.group("code")
    if code is None:
        return _reply(chat["id"], text(NO_CODE, locale))
    async with transaction():
        operator = await complete_link(
            instance_id, ChannelKind.TELEGRAM, code, target=str(chat["id"]), label=_label(sender)
        )
    if operator is None:
        return _reply(chat["id"], text(INVALID, locale))
    log.info("TELEGRAM linked for operator %s of instance %s", operator.user_id, instance_id)
    return _reply(chat["id"], text(LINKED, operator.locale))


def routes(services: Services) -> list[Route]:
    async def endpoint(request: Request) -> Response:
        return await telegram_update(request, services.secret_box)

    return [Route("/webhooks/telegram/{instance}", endpoint, methods=["POST"])]
