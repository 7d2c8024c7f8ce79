"""The demo instance that ``serve --demo`` seeds, and the tokens it prints."""

from __future__ import annotations

from domain.operators import OperatorInput, upsert_operators
from models.db import transaction
from models.enums import Role
from services.auth import TokenCodec

DEMO_INSTANCE = "demo"
DEMO_USERS: tuple[OperatorInput, ...] = (
    OperatorInput("op-olena", "Olena Kovalenko", "olena@demo.example", "uk", Role.OPERATOR),
    OperatorInput("op-taras", "Taras Melnyk", "taras@demo.example", "en", Role.OPERATOR),
    OperatorInput("op-anna", "Anna Shevchenko", None, "en", Role.OPERATOR),
    OperatorInput("sup-iryna", "Iryna Bondar", "iryna@demo.example", "uk", Role.SUPERVISOR),
    OperatorInput("adm-petro", "Petro Tkachenko", "petro@demo.example", "en", Role.ADMINISTRATOR),
)
DEMO_SERVICE = "svc-platform"


async def seed_demo() -> None:
    """Idempotent: running it again leaves the demo users as they are."""
    async with transaction():
        await upsert_operators(DEMO_INSTANCE, list(DEMO_USERS), limit=100)


def demo_tokens(codec: TokenCodec, ttl_seconds: int = 7 * 24 * 3600) -> list[tuple[str, str, str]]:
    """(user id, role, token) for every demo user and the demo event producer."""
    out = []
    for user in DEMO_USERS:
        role = user.role or Role.OPERATOR
        token = codec.issue(
            instance=DEMO_INSTANCE,
            user=user.id,
            role=role,
            email=user.email,
            name=user.display_name,
            locale=user.locale,
            ttl_seconds=ttl_seconds,
        )
        out.append((user.id, role.value, token))
    token = codec.issue(instance=DEMO_INSTANCE, user=DEMO_SERVICE, role=Role.SERVICE, ttl_seconds=ttl_seconds)
    out.append((DEMO_SERVICE, Role.SERVICE.value, token))
    return out
