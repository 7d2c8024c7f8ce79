"""The config tortoise-orm's own CLI loads (``tortoise -c api.tortoise_config.TORTOISE_ORM``).

Used by ``make migrations`` to write a new versioned migration after a model change; the service
itself applies migrations with ``notification-center migrate``.
"""

from core.settings import Settings
from models.db import tortoise_config

TORTOISE_ORM = tortoise_config(Settings.from_env())
