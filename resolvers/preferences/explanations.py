"""Channel decisions in words, for the operator who asks why a channel is locked or missing."""

from __future__ import annotations

from domain.resolution import Decision
from domain.routing import Route
from models.catalog import text
from models.enums import DecisionReason, RouteSource, RoutingMode

EXPLANATIONS: dict[DecisionReason, dict[str, str]] = {
    DecisionReason.CHOSEN: {"en": "On: you chose it for this type.", "uk": "Увімкнено: ви обрали його для цього типу."},
    DecisionReason.DEFAULT: {
        "en": "On: a default channel for this type.",
        "uk": "Увімкнено: типовий канал для цього типу.",
    },
    DecisionReason.MANDATORY: {
        "en": "On: your administrator made this channel mandatory.",
        "uk": "Увімкнено: адміністратор зробив цей канал обов'язковим.",
    },
    DecisionReason.MANDATORY_TYPE_BELL: {
        "en": "On: this type is mandatory, so it always reaches the bell.",
        "uk": "Увімкнено: цей тип обов'язковий, тому завжди потрапляє до дзвіночка.",
    },
    DecisionReason.NOT_CHOSEN: {"en": "Off: not chosen for this type.", "uk": "Вимкнено: не обрано для цього типу."},
    DecisionReason.SWITCHED_OFF: {
        "en": "Off: you switched this channel off on the Channels tab.",
        "uk": "Вимкнено: ви вимкнули цей канал на вкладці «Канали».",
    },
    DecisionReason.NOT_OFFERED: {
        "en": "Off: your instance does not offer this channel.",
        "uk": "Вимкнено: ваш інстанс не пропонує цей канал.",
    },
    DecisionReason.TYPE_UNAVAILABLE: {
        "en": "Off: this type is temporarily unavailable.",
        "uk": "Вимкнено: цей тип тимчасово недоступний.",
    },
    DecisionReason.NOTIFICATION_CENTER_DISABLED: {
        "en": "Off: the Notification Center is disabled, the simplified settings apply.",
        "uk": "Вимкнено: Центр сповіщень вимкнено, діють спрощені налаштування.",
    },
    DecisionReason.CLASSIC: {
        "en": "On: the simplified notification settings deliver it.",
        "uk": "Увімкнено: за спрощеними налаштуваннями сповіщень.",
    },
}
NOT_DELIVERABLE = {
    "en": " It can't deliver yet: link it or subscribe on the Channels tab.",
    "uk": " Поки що не може доставити: під'єднайте його або підпишіться на вкладці «Канали».",
}


MODES = {
    RoutingMode.WHEN_AWAY: {
        "en": " Sent only when you have no active panel open.",
        "uk": " Надсилається лише тоді, коли у вас немає активної відкритої панелі.",
    },
    RoutingMode.ESCALATE_AFTER: {
        "en": " Sent after {minutes} min only if still unread.",
        "uk": " Надсилається через {minutes} хв, лише якщо ще не прочитано.",
    },
}
SOURCES = {
    RouteSource.OPERATOR: {"en": " (your choice)", "uk": " (ваш вибір)"},
    RouteSource.TYPE_POLICY: {"en": " (this type's policy)", "uk": " (політика цього типу)"},
    RouteSource.INSTANCE: {"en": " (the instance's default)", "uk": " (типово для інстансу)"},
}
ALWAYS_ON = {
    "en": " Urgent type: sent at once, outside working hours too.",
    "uk": " Терміновий тип: надсилається одразу, також поза робочими годинами.",
}
MANDATORY_BYPASS = {"en": " Mandatory: sent at once.", "uk": " Обов'язковий: надсилається одразу."}
DIGEST = {
    "en": " Bursts within {seconds} s come as one message.",
    "uk": " Кілька сповіщень за {seconds} с надходять одним повідомленням.",
}


def explain(decision: Decision, locale: str | None, route: Route | None = None) -> str:
    words = text(EXPLANATIONS[decision.reason], locale)
    if decision.on and not decision.deliverable:
        words += text(NOT_DELIVERABLE, locale)
    if route is None:
        return words
    if route.always_on:
        return words + text(ALWAYS_ON, locale)
    if route.source is RouteSource.MANDATORY:
        words += text(MANDATORY_BYPASS, locale)
    elif route.mode in MODES:
        words += text(MODES[route.mode], locale).format(minutes=route.minutes)
        words = words.rstrip(".") + text(SOURCES[route.source], locale) + "." if route.source in SOURCES else words
    if route.digest_seconds:
        words += text(DIGEST, locale).format(seconds=route.digest_seconds)
    return words
