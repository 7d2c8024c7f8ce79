"""A bot channel as an administrator configures it (``BotChannelInput``): its settings checked
against what the channel takes, before anything is written.

    BOT_SETTINGS          the keys each bot channel accepts (SPEC section 5), and those it needs
                          when enabled; secrets go in the secret field, never in settings
    URL_KEYS              apiBaseUrl, url: https:// URLs (http:// where the deployment allows
                          it), scheme and literal addresses checked here; the channel checks the
                          addresses the host resolves to when it sends
    port, starttls        a whole number 1-65535 (not true or a string), a boolean
    EMAIL host            resolves only to public addresses, unless an allowed private relay
                          (NC_SMTP_ALLOWED_HOSTS); with a username, starttls or port 465 (the
                          password must not travel in clear) unless the deployment allows http
    secret                at most 4096 characters; needed to enable every channel but EMAIL
                          without a username
    webhookSecretToken    TELEGRAM's: 1-256 characters of A-Z, a-z, 0-9, _ and -, stored sealed
                          in its own column (``webhook_secret_sealed``) and never returned
    editWhenHandled       TELEGRAM's: true or false; true: a message already sent is edited to say
                          its notification was read or its ticket or chat handled

Each fault is a BadUserInput naming the setting (``field``) and what to change.
domain/instance_admin.py runs ``validate_bot`` (and ``validate_smtp_host`` for EMAIL) on each bot
channel of an update before it writes anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.smtp_host import SmtpHostRefused, checked_addresses
from core.urls import UnsafeUrl, check_syntax
from domain.errors import BadUserInput
from domain.keys import SecretBox
from models.enums import BOT_CHANNELS, ChannelKind
from models.instance import BotChannelConfig

#: Settings keys each bot channel accepts (SPEC section 5), and those it needs when enabled.
BOT_SETTINGS: dict[ChannelKind, tuple[frozenset[str], frozenset[str]]] = {
    ChannelKind.TELEGRAM: (
        frozenset({"botUsername", "apiBaseUrl", "webhookSecretToken", "editWhenHandled"}),
        frozenset({"botUsername"}),
    ),
    ChannelKind.VIBER: (frozenset({"botUri", "apiBaseUrl"}), frozenset({"botUri"})),
    # businessPhone (optional, international format) makes the wa.me link open the business chat.
    ChannelKind.WHATSAPP: (frozenset({"phoneNumberId", "apiBaseUrl", "businessPhone"}), frozenset({"phoneNumberId"})),
    ChannelKind.EMAIL: (
        frozenset({"host", "port", "starttls", "username", "from", "header", "footer"}),
        frozenset({"host", "from"}),
    ),
    ChannelKind.ECHAT: (frozenset({"url"}), frozenset({"url"})),
    ChannelKind.CUSTOM: (frozenset({"url"}), frozenset({"url"})),
}
URL_KEYS = frozenset({"apiBaseUrl", "url"})
#: TELEGRAM's webhook secret token: taken in settings (the contract's place for it) but stored
#: sealed in its own column and never returned, like the secret field. Telegram allows 1-256
#: characters of A-Z, a-z, 0-9, _ and - (setWebhook's secret_token).
WEBHOOK_SECRET_KEY = "webhookSecretToken"
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass(frozen=True)
class BotChannelInput:
    channel: ChannelKind
    enabled: bool
    settings: dict[str, Any] | None
    secret: str | None


def _is_int(value: Any, least: int, most: int) -> bool:
    """A JSON integer in [least, most]; booleans are not integers (Python's ``True == 1``)."""
    return isinstance(value, int) and not isinstance(value, bool) and least <= value <= most


def _validate_url(channel: ChannelKind, key: str, value: Any, allow_http: bool) -> None:
    if not isinstance(value, str):
        raise BadUserInput(f"{channel.value} settings.{key} must be a URL string")
    try:
        check_syntax(value, allow_http=allow_http)
    except UnsafeUrl as exc:
        raise BadUserInput(
            f"{channel.value} settings.{key} {exc}: use a public https:// URL",
            field=f"botChannels.settings.{key}",
        ) from None


async def validate_smtp_host(settings: dict[str, Any], allowed_hosts: Iterable[str]) -> None:
    """The EMAIL host must resolve only to public addresses, unless it is an allowed private relay."""
    host = settings.get("host")
    if not host:
        return
    try:
        await checked_addresses(host, int(settings.get("port") or 25), allowed_hosts)
    except SmtpHostRefused as exc:
        raise BadUserInput(
            f"EMAIL settings.host {exc}: use a public SMTP host, or have the deployment list this private "
            "relay in NC_SMTP_ALLOWED_HOSTS",
            field="botChannels.settings.host",
        ) from None
    except UnsafeUrl as exc:
        raise BadUserInput(
            f"EMAIL settings.host: {exc}: check the host name", field="botChannels.settings.host"
        ) from None


def validate_bot(bot: BotChannelInput, stored: BotChannelConfig | None, allow_http: bool) -> dict[str, Any]:
    if bot.channel not in BOT_CHANNELS:
        names = ", ".join(c.value for c in BOT_CHANNELS)
        raise BadUserInput(
            f"{bot.channel.value} is not a bot channel: configure one of {names}",
            field="botChannels.channel",
        )
    allowed, required = BOT_SETTINGS[bot.channel]
    settings = dict(stored.settings) if stored and bot.settings is None else dict(bot.settings or {})
    if not isinstance(settings, dict):
        raise BadUserInput(f"{bot.channel.value} settings must be a JSON object")
    unknown = set(settings) - allowed
    if unknown:
        raise BadUserInput(
            f"{bot.channel.value} settings take {', '.join(sorted(allowed))}; unknown: "
            f"{', '.join(sorted(unknown))}. Secrets go in the secret field, never in settings",
            field="botChannels.settings",
        )
    settings.pop(WEBHOOK_SECRET_KEY, None)  # sealed apart: see webhook_secret_sealed
    for key in URL_KEYS & settings.keys():
        _validate_url(bot.channel, key, settings[key], allow_http)
    if "port" in settings and not _is_int(settings["port"], 1, 65535):
        raise BadUserInput(f"{bot.channel.value} settings.port must be a whole number 1-65535 (not true or a string)")
    for flag in ("starttls", "editWhenHandled"):
        if flag in settings and not isinstance(settings[flag], bool):
            raise BadUserInput(f"{bot.channel.value} settings.{flag} must be true or false")
    for key, value in settings.items():
        if key not in URL_KEYS | {"port", "starttls", "editWhenHandled"} and not isinstance(value, str):
            raise BadUserInput(f"{bot.channel.value} settings.{key} must be a string")
    if bot.enabled:
        missing = required - {k for k, v in settings.items() if v not in (None, "")}
        if missing:
            raise BadUserInput(
                f"Enabling {bot.channel.value} needs settings {', '.join(sorted(missing))}",
                field="botChannels.settings",
            )
        has_secret = bool(bot.secret) or bool(stored and stored.secret_sealed)
        needs_secret = bot.channel is not ChannelKind.EMAIL or bool(settings.get("username"))
        if needs_secret and not has_secret:
            raise BadUserInput(
                f"Enabling {bot.channel.value} needs its secret (bot token, access token, password "
                "or signing secret) in the secret field",
                field="botChannels.secret",
            )
    if (
        bot.channel is ChannelKind.EMAIL
        and settings.get("username")
        and not settings.get("starttls")
        and settings.get("port") != 465
        and not allow_http
    ):
        raise BadUserInput(
            "EMAIL with a username needs starttls: true (or port 465): the password must not travel in clear",
            field="botChannels.settings.starttls",
        )
    if bot.secret is not None and len(bot.secret) > 4096:
        raise BadUserInput("secret is longer than 4096 characters", field="botChannels.secret")
    return settings


def webhook_secret_sealed(bot: BotChannelInput, stored: BotChannelConfig | None, secret_box: SecretBox) -> str | None:
    """The sealed webhookSecretToken to store for a TELEGRAM write.

    ``settings`` replaces the stored settings as a whole, but the token is write-only, so a client
    that sends back the settings it read (which never hold it) must not lose it:

        settings omitted, or without webhookSecretToken   kept as stored
        webhookSecretToken: null or ""                    cleared
        webhookSecretToken: "<token>"                     replaced

    A row written before tokens were sealed holds it in plain settings: kept means sealed now.
    """
    given = bot.settings or {}
    if WEBHOOK_SECRET_KEY in given:
        value = given[WEBHOOK_SECRET_KEY]
        if value in (None, ""):
            return None
        if not isinstance(value, str) or not WEBHOOK_SECRET.fullmatch(value):
            raise BadUserInput(
                "TELEGRAM settings.webhookSecretToken must be 1-256 characters of A-Z, a-z, 0-9, _ and - "
                "(as Telegram's setWebhook takes it), or null to clear it",
                field="botChannels.settings.webhookSecretToken",
            )
        return secret_box.seal(value)
    if stored is None:
        return None
    if stored.webhook_secret_sealed:
        return stored.webhook_secret_sealed
    legacy = (stored.settings or {}).get(WEBHOOK_SECRET_KEY)
    return secret_box.seal(legacy) if isinstance(legacy, str) and legacy else None
