"""Viber's callbacks: ``POST /webhooks/viber/{instance}`` (set it with Viber's set_webhook).

Every call is signed: ``X-Viber-Content-Signature`` is the hex HMAC-SHA256 of the raw body keyed
with the bot's auth token (the VIBER channel's secret). A missing or wrong signature, or an
instance without an enabled VIBER bot, is answered 403 and nothing is read.

Linking: the panel's link ``viber://pa?chatURI=<botUri>&context=<code>`` opens the bot, and Viber
calls back with ``{"event": "conversation_started", "context": <code>, "user": {"id", "name"}}``.
The code completes the operator's pending link (the Viber user id becomes the delivery target, the
user's name its label), and the answer's body is the welcome message Viber shows: "linked", or
"this code is not valid". Viber lets a bot message a user only once they subscribed (sent the bot
anything), so the welcome asks for that when ``subscribed`` is false.

Every other event (the set_webhook check "webhook", "subscribed", "message", delivery receipts)
is acknowledged with 200 ``{}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from channels.viber import sender
from domain.bots import BotConfig, load_bot
from domain.links import complete_link
from models.catalog import text
from models.db import transaction
from models.enums import ChannelKind
from services.shared import Services

log = logging.getLogger(__name__)

LINKED = {
    "en": "Linked: your notifications from the panel will come here, {name}.",
    "uk": "Підключено: сповіщення з панелі надходитимуть сюди, {name}.",
}
SUBSCRIBE = {
    "en": " Send any message to this chat to start receiving them.",
    "uk": " Надішліть у цей чат будь-яке повідомлення, щоб почати їх отримувати.",
}
INVALID = {
    "en": "This link code is not valid or has expired. Open the link again from the Channels tab of the panel.",
    "uk": "Цей код підключення недійсний або застарів. Відкрийте посилання знову на вкладці «Канали» панелі.",
}
NO_CODE = {
    "en": "To receive notifications here, open the Viber link from the Channels tab of the panel.",
    "uk": "Щоб отримувати тут сповіщення, відкрийте посилання Viber на вкладці «Канали» панелі.",
}


def signature(token: str, body: bytes) -> str:
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def _locale(value: Any) -> str:
    return value if isinstance(value, str) and value else "en"


def _reply(bot: BotConfig, message: str) -> JSONResponse:
    return JSONResponse({"sender": sender(bot), "type": "text", "text": message})


def routes(services: Services) -> list[Route]:
    async def receive(request: Request) -> Response:
        instance_id = request.path_params["instance"]
        bot = await load_bot(services.secret_box, instance_id, ChannelKind.VIBER)
        raw = await request.body()
        given = request.headers.get("x-viber-content-signature", "").strip().lower()
        if bot is None or not bot.secret or not given or not hmac.compare_digest(signature(bot.secret, raw), given):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        if not isinstance(body, dict) or body.get("event") != "conversation_started":
            return JSONResponse({})
        given_user = body.get("user")
        user = given_user if isinstance(given_user, dict) else {}
        user_id = str(user.get("id") or "")
        name = str(user.get("name") or "").strip() or None
        code = body.get("context")
        if not isinstance(code, str) or not code.strip() or not user_id:
            return _reply(bot, text(NO_CODE, _locale(user.get("language"))))
        async with transaction():
            operator = await complete_link(instance_id, ChannelKind.VIBER, code, target=user_id, label=name)
        if operator is None:
            return _reply(bot, text(INVALID, _locale(user.get("language"))))
        log.info("VIBER linked for operator %s of instance %s", operator.user_id, instance_id)
        locale = operator.locale
        message = text(LINKED, locale).format(name=operator.display_name or operator.user_id)
        if not body.get("subscribed"):
            message += text(SUBSCRIBE, locale)
        return _reply(bot, message)

    return [Route("/webhooks/viber/{instance}", receive, methods=["POST"])]
