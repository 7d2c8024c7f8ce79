"""The explicit list of delivery channels a worker runs: one module per channel."""

from __future__ import annotations

from channels.base import Channel
from channels.deps import ChannelDeps
from channels.email import EmailChannel
from channels.panel import PanelChannels
from channels.telegram import TelegramChannel
from channels.viber import ViberChannel
from channels.webhook import WebhookChannel
from channels.webpush import WebPushChannel
from channels.whatsapp import WhatsAppChannel
from core.broker import Broker


def build_channels(broker: Broker, deps: ChannelDeps) -> list[Channel]:
    return [
        PanelChannels(broker),
        WebPushChannel(deps),
        TelegramChannel(deps),
        ViberChannel(deps),
        WhatsAppChannel(deps),
        EmailChannel(deps),
        WebhookChannel(deps),
    ]
