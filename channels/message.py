"""What a channel says: the notification's title, body and link, or a test message."""

from __future__ import annotations

from dataclasses import dataclass

from channels.base import Job
from models.catalog import text

TEST_TITLE = {"en": "Test notification", "uk": "Тестове сповіщення"}
TEST_BODY = {
    "en": "If you can read this, {channel} notifications reach you.",
    "uk": "Якщо ви це читаєте, сповіщення через {channel} до вас доходять.",
}
ENTITY_PATHS = {"TICKET": "tickets", "CHAT": "chats", "CLIENT": "clients"}
#: How each channel is named to people.
CHANNEL_NAMES = {
    "BELL": "Bell",
    "BANNER": "Banner",
    "SOUND": "Sound",
    "BROWSER": "Browser push",
    "TELEGRAM": "Telegram",
    "VIBER": "Viber",
    "WHATSAPP": "WhatsApp",
    "ECHAT": "eChat",
    "EMAIL": "Email",
    "CUSTOM": "Custom channel",
}


@dataclass(frozen=True)
class Message:
    notification_id: str | None
    type_code: str
    title: str
    body: str
    link: str
    urgent: bool = False

    @property
    def plain(self) -> str:
        return f"{self.title}\n{self.body}".strip()


def message_for(job: Job, panel_url: str) -> Message:
    from models.catalog import TYPES_BY_CODE

    n = job.notification
    if n is None:
        return Message(
            notification_id=None,
            type_code="test",
            title=text(TEST_TITLE, job.operator.locale),
            body=text(TEST_BODY, job.operator.locale).format(channel=CHANNEL_NAMES[job.channel.value]),
            link=panel_url,
        )
    path = ENTITY_PATHS.get((n.entity_kind or "").upper())
    link = f"{panel_url}/{path}/{n.entity_id}" if path and n.entity_id else f"{panel_url}/notifications/{n.id}"
    type_def = TYPES_BY_CODE.get(n.type_code)
    return Message(
        notification_id=str(n.id),
        type_code=n.type_code,
        title=n.title,
        body=n.body,
        link=link,
        urgent=bool(type_def and type_def.urgent),
    )
