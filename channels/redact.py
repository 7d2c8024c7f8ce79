"""Taking a bot channel's secrets out of whatever a provider answers, before it is kept or logged.

A provider may echo the request back: Telegram's URL holds the bot token (/bot<token>/sendMessage),
a proxy's error page may quote a header, an SMTP server its AUTH line. Every channel passes remote
text (HTTP bodies, SMTP replies, exception text) through ``redact`` with every secret configured
for that bot channel (``bot_secrets``): bot token, access token and app secret, SMTP password,
webhook signing secret, Telegram webhook secret token. Each is taken out as written, URL-encoded
(any character as %XX, either case), JSON-escaped and base64-encoded.

``remote_text`` is what may be kept of such text: redacted, on one line, short, ending in "…"
when cut.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any

from channels.message import cut

MASK = "***"
#: A short excerpt: enough to recognise an answer, too short to carry a page of remote text.
REMOTE_TEXT_MAX = 120


def secret_forms(secret: str) -> set[str]:
    """The literal ways ``secret`` can appear in an answer that echoes a request, besides the
    URL-encoded ones (``_url_encoded`` matches any mix of plain and %XX-escaped characters)."""
    raw = secret.encode()
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
    }
    return {form for form in forms if form}


def _url_encoded(secret: str) -> str:
    """A pattern for ``secret`` with any of its characters percent-encoded (either case of hex
    digits, as quote() does it or not: ``-`` as ``%2D`` too) and spaces as ``+``."""
    parts = []
    for char in secret:
        escaped = "".join(f"%{byte:02X}" for byte in char.encode())
        options = [re.escape(char), f"(?i:{re.escape(escaped)})"]
        if char == " ":
            options.append(r"\+")
        parts.append("(?:" + "|".join(options) + ")")
    return "".join(parts)


def _pattern(secrets: Iterable[str | None]) -> re.Pattern[str] | None:
    literal: set[str] = set()
    encoded: set[str] = set()
    for secret in secrets:
        if secret:
            literal |= secret_forms(secret)
            encoded.add(secret)
    if not literal:
        return None
    # Longest first, so a form is never half-masked by a shorter one inside it.
    alternatives = [_url_encoded(secret) for secret in sorted(encoded, key=len, reverse=True)]
    alternatives += [re.escape(form) for form in sorted(literal, key=len, reverse=True)]
    return re.compile("|".join(alternatives))


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every form of every secret replaced by ``***``."""
    pattern = _pattern(secrets)
    return pattern.sub(MASK, text) if pattern is not None and text else text


def remote_text(text: Any, secrets: Iterable[str | None], limit: int = REMOTE_TEXT_MAX) -> str:
    """Remote text as it may be kept: redacted first (a cut must not leave half a secret), then on
    one line and cut to ``limit`` characters with an ellipsis."""
    return cut(" ".join(redact(str(text), secrets).split()), limit)


def bot_secrets(secret: str | None, settings: dict[str, Any] | None = None) -> tuple[str, ...]:
    """Every secret of a bot channel: its write-only secret (and, when it is a JSON object such as
    WhatsApp's ``{"accessToken", "appSecret"}``, each string in it), and a Telegram webhook secret
    token still held in the plain settings of a row written before it was sealed."""
    found: list[str] = []
    if secret:
        found.append(secret)
        if secret.lstrip().startswith("{"):
            try:
                data = json.loads(secret)
            except ValueError:
                data = None
            if isinstance(data, dict):
                found.extend(v.strip() for v in data.values() if isinstance(v, str) and v.strip())
    legacy = (settings or {}).get("webhookSecretToken")
    if isinstance(legacy, str) and legacy:
        found.append(legacy)
    return tuple(found)
