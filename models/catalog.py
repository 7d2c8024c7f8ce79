"""The catalog of notification types (SPEC section 2): the same for every instance.

The catalog is code, not data an instance edits: what an instance changes about a type lives in its
``TypePolicy`` rows. Texts exist in English and Ukrainian; ``text(..., locale)`` falls back to English.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from models.enums import ChannelKind, TypeAvailability, Waveform

LOCALES = ("en", "uk")
DEFAULT_LOCALE = "en"


def pick_locale(locale: str | None) -> str:
    """The served locale for a BCP 47 tag: 'uk-UA' -> 'uk', anything unknown -> 'en'."""
    if not locale:
        return DEFAULT_LOCALE
    primary = locale.replace("_", "-").split("-", 1)[0].lower()
    return primary if primary in LOCALES else DEFAULT_LOCALE


def text(texts: dict[str, str], locale: str | None) -> str:
    return texts.get(pick_locale(locale)) or texts[DEFAULT_LOCALE]


@dataclass(frozen=True)
class Category:
    code: str
    position: int
    title: dict[str, str]


@dataclass(frozen=True)
class TypeDef:
    code: str
    category: str
    title: dict[str, str]
    description: dict[str, str]
    listed: bool = True
    extended: bool = False
    availability: TypeAvailability = TypeAvailability.AVAILABLE
    #: Channels a user starts with; None means the instance's default channels.
    default_channels: tuple[ChannelKind, ...] | None = None
    #: Title and body templates per locale, rendered from the event's data.
    templates: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Delivered with high urgency by channels that have the notion (Web Push).
    urgent: bool = False
    #: Input to other features only (reminders); never delivered.
    delivered: bool = True
    #: A recipient's unread items of this type about one entity collapse into one bell item
    #: (domain.collapse); an instance's type policy can change it.
    collapse: bool = False


CATEGORIES: tuple[Category, ...] = (
    Category("creation_and_messages", 1, {"en": "Creation and messages", "uk": "Створення та повідомлення"}),
    Category("changes", 2, {"en": "Changes", "uk": "Зміни"}),
    Category("csat", 3, {"en": "CSAT", "uk": "CSAT"}),
    Category("sla", 4, {"en": "SLA", "uk": "SLA"}),
    Category("normatives", 5, {"en": "Normatives", "uk": "Нормативи"}),
    Category("other", 6, {"en": "Other", "uk": "Інше"}),
)


def _t(en: str, uk: str) -> dict[str, str]:
    return {"en": en, "uk": uk}


TYPES: tuple[TypeDef, ...] = (
    # Creation and messages
    TypeDef(
        "ticket_created",
        "creation_and_messages",
        _t("Ticket created", "Створено тікет"),
        _t("A new ticket was created or assigned to you.", "Створено новий тікет або його призначено вам."),
        templates={
            "en": ("New ticket #{ticketNumber}", "{subject}"),
            "uk": ("Новий тікет #{ticketNumber}", "{subject}"),
        },
    ),
    TypeDef(
        "chat_created",
        "creation_and_messages",
        _t("Chat created", "Створено чат"),
        _t("A client started a new chat.", "Клієнт розпочав новий чат."),
        templates={
            "en": ("New chat", "{clientName} started a chat"),
            "uk": ("Новий чат", "{clientName} розпочинає чат"),
        },
    ),
    TypeDef(
        "comment_created",
        "creation_and_messages",
        _t("Comment", "Коментар"),
        _t("A comment was added to a ticket you work on.", "До вашого тікета додано коментар."),
        templates={
            "en": ("New comment on ticket #{ticketNumber}", "{authorName}: {text}"),
            "uk": ("Новий коментар до тікета #{ticketNumber}", "{authorName}: {text}"),
        },
        collapse=True,
    ),
    TypeDef(
        "ticket_message",
        "creation_and_messages",
        _t("Message in ticket", "Повідомлення в тікеті"),
        _t("A client wrote in a ticket you work on.", "Клієнт написав у вашому тікеті."),
        templates={
            "en": ("New message in ticket #{ticketNumber}", "{clientName}: {text}"),
            "uk": ("Нове повідомлення в тікеті #{ticketNumber}", "{clientName}: {text}"),
        },
        collapse=True,
    ),
    # Changes
    TypeDef(
        "ticket_reassign",
        "changes",
        _t("Ticket reassigned", "Тікет перепризначено"),
        _t("A ticket was reassigned to you or from you.", "Тікет перепризначено вам або від вас."),
        templates={
            "en": ("Ticket #{ticketNumber} reassigned", "{subject}"),
            "uk": ("Тікет #{ticketNumber} перепризначено", "{subject}"),
        },
    ),
    TypeDef(
        "chat_reassign",
        "changes",
        _t("Chat reassigned", "Чат перепризначено"),
        _t("A chat was reassigned to you.", "Чат перепризначено вам."),
        templates={
            "en": ("Chat reassigned", "Chat with {clientName} is now yours"),
            "uk": ("Чат перепризначено", "Чат з {clientName} тепер ваш"),
        },
    ),
    TypeDef(
        "send_transfer_chat",
        "changes",
        _t("Chat transfer", "Передача чату"),
        _t("A colleague transferred a chat to you.", "Колега передав вам чат."),
        templates={
            "en": ("Chat transferred to you", "{fromOperatorName} transferred the chat with {clientName}"),
            "uk": ("Вам передано чат", "{fromOperatorName} передає чат з {clientName}"),
        },
    ),
    TypeDef(
        "ticket_closed",
        "changes",
        _t("Ticket closed", "Тікет закрито"),
        _t("A ticket you work on was closed.", "Ваш тікет закрито."),
        templates={
            "en": ("Ticket #{ticketNumber} closed", "{subject}"),
            "uk": ("Тікет #{ticketNumber} закрито", "{subject}"),
        },
    ),
    TypeDef(
        "ticket_reopened",
        "changes",
        _t("Ticket reopened", "Тікет знову відкрито"),
        _t("A closed ticket was opened again.", "Закритий тікет знову відкрито."),
        templates={
            "en": ("Ticket #{ticketNumber} reopened", "{subject}"),
            "uk": ("Тікет #{ticketNumber} знову відкрито", "{subject}"),
        },
    ),
    TypeDef(
        "chat_closed",
        "changes",
        _t("Chat closed", "Чат закрито"),
        _t("A chat you took part in was closed.", "Чат, у якому ви брали участь, закрито."),
        templates={
            "en": ("Chat closed", "Chat with {clientName} was closed"),
            "uk": ("Чат закрито", "Чат з {clientName} закрито"),
        },
    ),
    TypeDef(
        "ticket_status_name_changed",
        "changes",
        _t("Ticket status name changed", "Змінено статус тікета"),
        _t("A ticket's status changed.", "Статус тікета змінено."),
        templates={
            "en": ("Ticket #{ticketNumber}: status changed", "{fromStatus} → {toStatus}"),
            "uk": ("Тікет #{ticketNumber}: змінено статус", "{fromStatus} → {toStatus}"),
        },
    ),
    TypeDef(
        "watcher_added",
        "changes",
        _t("Watcher added", "Додано спостерігача"),
        _t("You were added as a watcher of a ticket.", "Вас додано спостерігачем тікета."),
        templates={
            "en": ("You are watching ticket #{ticketNumber}", "{subject}"),
            "uk": ("Ви спостерігаєте за тікетом #{ticketNumber}", "{subject}"),
        },
    ),
    TypeDef(
        "subject_change",
        "changes",
        _t("Subject changed", "Змінено тему"),
        _t("A ticket's subject changed.", "Тему тікета змінено."),
        templates={
            "en": ("Ticket #{ticketNumber}: new subject", "{subject}"),
            "uk": ("Тікет #{ticketNumber}: нова тема", "{subject}"),
        },
    ),
    # CSAT
    TypeDef(
        "csat_received",
        "csat",
        _t("CSAT received", "Отримано CSAT"),
        _t(
            "A client rated a dialogue; the notification shows the score.",
            "Клієнт оцінив діалог; сповіщення показує оцінку.",
        ),
        templates={
            "en": ("New rating: {score}/5", "{clientName} rated the dialogue {score}/5"),
            "uk": ("Нова оцінка: {score}/5", "{clientName} оцінює діалог на {score}/5"),
        },
    ),
    TypeDef(
        "csat_negative",
        "csat",
        _t("Negative CSAT", "Негативний CSAT"),
        _t("A client gave a low rating.", "Клієнт поставив низьку оцінку."),
        extended=True,
        templates={
            "en": ("Negative rating: {score}/5", "{clientName} rated the dialogue {score}/5"),
            "uk": ("Негативна оцінка: {score}/5", "{clientName} оцінює діалог на {score}/5"),
        },
    ),
    # SLA
    TypeDef(
        "sla_expired",
        "sla",
        _t("SLA breached", "Порушено SLA"),
        _t("A ticket's SLA deadline passed.", "Минув термін SLA тікета."),
        extended=True,
        urgent=True,
        templates={
            "en": ("SLA breached: ticket #{ticketNumber}", "{subject}"),
            "uk": ("Порушено SLA: тікет #{ticketNumber}", "{subject}"),
        },
    ),
    TypeDef(
        "sla_time_in_status_exceeded",
        "sla",
        _t("Time in status exceeded", "Перевищено час у статусі"),
        _t("A ticket stayed in a status longer than allowed.", "Тікет перебуває у статусі довше, ніж дозволено."),
        extended=True,
        urgent=True,
        templates={
            "en": ("Ticket #{ticketNumber} too long in “{status}”", "{subject}"),
            "uk": ("Тікет #{ticketNumber} задовго у статусі «{status}»", "{subject}"),
        },
    ),
    TypeDef(
        "sla_warning",
        "sla",
        _t("SLA warning", "Попередження SLA"),
        _t("A ticket's SLA deadline is near.", "Наближається термін SLA тікета."),
        listed=False,
        availability=TypeAvailability.UNAVAILABLE,
        urgent=True,
        templates={
            "en": ("SLA deadline near: ticket #{ticketNumber}", "{subject}"),
            "uk": ("Наближається термін SLA: тікет #{ticketNumber}", "{subject}"),
        },
    ),
    # Normatives
    TypeDef(
        "normative_response_warning",
        "normatives",
        _t("Normative response warning", "Попередження нормативу відповіді"),
        _t(
            "A client is close to waiting longer than the response normative.",
            "Клієнт майже чекає довше за норматив відповіді.",
        ),
        extended=True,
        urgent=True,
        templates={
            "en": ("Response normative almost reached", "{clientName} has waited {waitMinutes} min"),
            "uk": ("Норматив відповіді майже вичерпано", "{clientName} чекає {waitMinutes} хв"),
        },
    ),
    TypeDef(
        "normative_response_overlimit",
        "normatives",
        _t("Normative responses over limit", "Перевищено норматив відповідей"),
        _t("A client waited longer than the response normative.", "Клієнт чекає довше за норматив відповіді."),
        extended=True,
        urgent=True,
        templates={
            "en": ("Response normative exceeded", "{clientName} has waited {waitMinutes} min"),
            "uk": ("Норматив відповіді перевищено", "{clientName} чекає {waitMinutes} хв"),
        },
    ),
    # Handled but not listed
    TypeDef(
        "operator_mentioned",
        "other",
        _t("Mention", "Згадка"),
        _t("A colleague mentioned you.", "Колега згадав вас."),
        listed=False,
        templates={
            "en": ("{authorName} mentioned you", "{text}"),
            "uk": ("{authorName} згадує вас", "{text}"),
        },
    ),
    TypeDef(
        "chat_message",
        "other",
        _t("New message", "Нове повідомлення"),
        _t("A new message in a chat.", "Нове повідомлення в чаті."),
        listed=False,
        templates={
            "en": ("New message from {clientName}", "{text}"),
            "uk": ("Нове повідомлення від {clientName}", "{text}"),
        },
        collapse=True,
    ),
    TypeDef(
        "operator_status_changed",
        "other",
        _t("Status changed", "Статус змінено"),
        _t("An operator's status changed (input for reminders).", "Статус оператора змінено (для нагадувань)."),
        listed=False,
        delivered=False,
    ),
    TypeDef(
        "entity_resolved",
        "other",
        _t("Handled", "Опрацьовано"),
        _t(
            "A ticket or chat was handled: its recipients' unread notifications about it are read "
            "(every operator's when recipients is empty).",
            "Тікет або чат опрацьовано: непрочитані сповіщення одержувачів про нього стають прочитаними "
            "(усіх операторів, коли список одержувачів порожній).",
        ),
        listed=False,
        delivered=False,
    ),
)

TYPES_BY_CODE: dict[str, TypeDef] = {t.code: t for t in TYPES}
LISTED_TYPES: tuple[TypeDef, ...] = tuple(t for t in TYPES if t.listed)
CATEGORIES_BY_CODE: dict[str, Category] = {c.code: c for c in CATEGORIES}
#: Categories shown in the types tab: those with listed types.
LISTED_CATEGORIES: tuple[Category, ...] = tuple(
    c for c in CATEGORIES if any(t.category == c.code for t in LISTED_TYPES)
)
TYPE_POSITION: dict[str, int] = {t.code: i for i, t in enumerate(TYPES)}

#: Types delivered through the classic settings' browser and sound toggles while the
#: Notification Center is disabled.
CLASSIC_BROWSER_SOUND_TYPES = frozenset({"chat_created", "chat_message"})


@dataclass(frozen=True)
class Note:
    """One tone of a melody: its pitch, when it starts after the melody's start, how long it sounds."""

    frequency_hz: float
    start_ms: int
    duration_ms: int


@dataclass(frozen=True)
class Melody:
    """A sound the panel plays for a banner when SOUND is on: a few tones on one oscillator shape,
    short enough (under a second) to be played for every banner without a file to download."""

    id: str
    title: dict[str, str]
    waveform: Waveform
    notes: tuple[Note, ...]


def _notes(*tones: tuple[float, int, int]) -> tuple[Note, ...]:
    return tuple(Note(frequency, start, duration) for frequency, start, duration in tones)


# Pitches in Hz: C5 523.25, E5 659.25, G5 783.99, A5 880, C6 1046.5, E6 1318.51, G6 1567.98.
MELODIES: tuple[Melody, ...] = (
    Melody("default", _t("Default", "Типова"), Waveform.SINE, _notes((659.25, 0, 180), (523.25, 200, 260))),
    Melody(
        "chime",
        _t("Chime", "Дзвін"),
        Waveform.TRIANGLE,
        _notes((1046.5, 0, 160), (1318.51, 150, 160), (1567.98, 300, 320)),
    ),
    Melody("ping", _t("Ping", "Пінг"), Waveform.SINE, _notes((880.0, 0, 140))),
    Melody(
        "marimba",
        _t("Marimba", "Марімба"),
        Waveform.TRIANGLE,
        _notes((783.99, 0, 90), (1046.5, 110, 90), (783.99, 220, 90), (1318.51, 330, 200)),
    ),
    Melody(
        "alert",
        _t("Alert", "Тривога"),
        Waveform.SQUARE,
        _notes((880.0, 0, 120), (659.25, 150, 120), (880.0, 300, 120), (659.25, 450, 120)),
    ),
)
MELODY_IDS = frozenset(m.id for m in MELODIES)
DEFAULT_MELODY = "default"


@dataclass(frozen=True)
class SystemMessage:
    code: str
    title: dict[str, str]


SYSTEM_MESSAGES: tuple[SystemMessage, ...] = (
    SystemMessage("fastline_started", _t("Fast Line started the dialogue", "Fast Line розпочав діалог")),
    SystemMessage(
        "fastline_transferred_to_operator",
        _t("Fast Line transferred the dialogue to an operator", "Fast Line передав діалог оператору"),
    ),
    SystemMessage("fastline_answer_failed", _t("Fast Line could not answer", "Fast Line не зміг відповісти")),
    SystemMessage("fastline_finished", _t("Fast Line finished the dialogue", "Fast Line завершив діалог")),
)
SYSTEM_MESSAGE_CODES = frozenset(m.code for m in SYSTEM_MESSAGES)

UNAVAILABLE_NOTICE = _t(
    "Some notification types are temporarily unavailable: they will work once the related "
    "functionality is connected for your instance.",
    "Деякі типи сповіщень тимчасово недоступні: вони запрацюють, щойно для вашого інстансу "
    "підключать відповідну функціональність.",
)
