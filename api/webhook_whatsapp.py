"""WhatsApp Cloud API callbacks: ``/webhooks/whatsapp/{instance}`` (the Meta app's webhook URL,
subscribed to the WhatsApp Business Account's ``messages`` field).

Keys. The WHATSAPP secret is a plain access token or ``{"accessToken": ..., "appSecret": ...}``
(see ``channels/whatsapp.py``). The *signing key* is the app secret when given, else the access
token; it serves twice:

* ``GET ?hub.mode=subscribe&hub.verify_token=<key>&hub.challenge=<n>``, Meta's subscription
  handshake, answers the challenge when the verify token equals the signing key (so enter that key
  as the "Verify token" in the Meta app dashboard), and 403 otherwise.
* ``POST`` calls must carry ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``
  keyed with it (Meta signs with the app secret: give ``appSecret`` in production). A missing or
  wrong signature, or an instance without an enabled WHATSAPP bot, is answered 403.

Linking. The operator sends the one-time code from the panel to the business number as a text
message; Meta posts ``entry[].changes[].value.messages[]`` with ``from`` (the number, digits only)
and ``text.body``. The body with its whitespace removed (or, failing that, each word of it) is
tried as the code: a match links the channel to that number (target: the number as Meta gives it;
label: the same with a leading "+", shown masked on the Channels tab) and the number gets a
confirmation message. Other messages, and status updates, are acknowledged with 200 and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from channels.base import Sent
from channels.deps import http_client
from channels.whatsapp import parse_secret, send_text
from domain.bots import BotConfig, load_bot
from domain.links import complete_link
from models.catalog import text
from models.db import transaction
from models.enums import ChannelKind
from models.operator import Operator
from services.shared import Services

log = logging.getLogger(__name__)

LINKED = {
    "en": "Linked: your notifications from the panel will come to this number, {name}.",
    "uk": "Підключено: сповіщення з панелі надходитимуть на цей номер, {name}.",
}
#: Words of one message tried as a code, at most (the whole text, spaces removed, comes first).
MAX_CANDIDATES = 5


def signature(key: str, body: bytes) -> str:
    return "sha256=" + hmac.new(key.encode(), body, hashlib.sha256).hexdigest()


def text_messages(body: Any) -> Iterator[tuple[str, str]]:
    """(sender's number, text) of each text message in a webhook payload."""
    if not isinstance(body, dict):
        return
    for entry in body.get("entry") or ():
        for change in (entry.get("changes") or ()) if isinstance(entry, dict) else ():
            value = change.get("value") if isinstance(change, dict) else None
            for message in (value.get("messages") or ()) if isinstance(value, dict) else ():
                if not isinstance(message, dict):
                    continue
                sender, content = message.get("from"), message.get("text")
                body_text = content.get("body") if isinstance(content, dict) else None
                if isinstance(sender, str) and sender.strip() and isinstance(body_text, str):
                    yield sender.strip(), body_text


def code_candidates(message: str) -> list[str]:
    words = message.split()
    candidates = ["".join(words), *words[:MAX_CANDIDATES]]
    return [c for i, c in enumerate(candidates) if c and c not in candidates[:i]]


async def _confirm(bot: BotConfig, linked: list[tuple[str, Operator]], allow_http: bool) -> None:
    """Tell each newly linked number it worked (best effort: the link stands either way)."""
    async with http_client(allow_private=allow_http) as http:
        for number, operator in linked:
            message = text(LINKED, operator.locale).format(name=operator.display_name or operator.user_id)
            outcome = await send_text(http, bot, number, message, allow_http=allow_http)
            if not isinstance(outcome, Sent):
                log.warning("the WHATSAPP link confirmation was not sent: %s", outcome.reason)


def routes(services: Services) -> list[Route]:
    async def signing_key(instance_id: str) -> tuple[BotConfig, str] | None:
        bot = await load_bot(services.secret_box, instance_id, ChannelKind.WHATSAPP)
        secret = parse_secret(bot.secret) if bot is not None else None
        return (bot, secret.signing_key) if bot is not None and secret is not None else None

    async def verify(request: Request) -> Response:
        found = await signing_key(request.path_params["instance"])
        params = request.query_params
        given = params.get("hub.verify_token", "")
        if (
            found is None
            or params.get("hub.mode") != "subscribe"
            or not given
            or not hmac.compare_digest(found[1].encode(), given.encode())
        ):
            return PlainTextResponse("forbidden", status_code=403)
        return PlainTextResponse(params.get("hub.challenge", ""))

    async def receive(request: Request) -> Response:
        instance_id = request.path_params["instance"]
        found = await signing_key(instance_id)
        raw = await request.body()
        given = request.headers.get("x-hub-signature-256", "").strip().lower()
        if found is None or not given or not hmac.compare_digest(signature(found[1], raw).encode(), given.encode()):
            return JSONResponse({"error": "forbidden"}, status_code=403)
        bot = found[0]
        try:
            body = json.loads(raw)
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, status_code=400)
        linked: list[tuple[str, Operator]] = []
        for number, message in text_messages(body):
            for code in code_candidates(message):
                async with transaction():
                    operator = await complete_link(
                        instance_id, ChannelKind.WHATSAPP, code, target=number, label=f"+{number.lstrip('+')}"
                    )
                if operator is not None:
                    log.info("WHATSAPP linked for operator %s of instance %s", operator.user_id, instance_id)
                    linked.append((number, operator))
                    break
        allow_http = services.settings.allow_http_endpoints
        task = BackgroundTask(_confirm, bot, linked, allow_http) if linked else None
        return JSONResponse({}, background=task)

    path = "/webhooks/whatsapp/{instance}"
    return [Route(path, verify, methods=["GET"]), Route(path, receive, methods=["POST"])]
