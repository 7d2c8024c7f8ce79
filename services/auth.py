"""Bearer JWTs (SPEC section 1): who is calling, for which instance, in which role."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import jwt

from core.settings import Settings
from domain.errors import BadUserInput, Forbidden, Unauthenticated
from domain.input_text import check_id, check_text, shown
from models.enums import Role

ROLE_CLAIMS = {r.value.lower(): r for r in Role}

#: The latest ``exp`` a token may carry (9999-12-31T23:59:59Z): past it no date or float holds it.
LATEST_EXP = 253_402_300_799

#: Longer tokens are verified every time, never remembered (``TokenCodec.verify``).
CACHED_TOKEN_CHARS = 4_096


@dataclass(frozen=True)
class Principal:
    """The verified caller."""

    user_id: str
    instance_id: str
    role: Role
    email: str | None = None
    name: str | None = None
    locale: str | None = None
    #: The token's ``exp`` (Unix seconds): live sessions end then.
    expires_at: float | None = None

    def require(self, *roles: Role) -> Principal:
        if self.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"This needs one of the roles {allowed}; your token's role is {self.role.value}")
        return self

    @property
    def is_user(self) -> bool:
        return self.role is not Role.SERVICE


class TokenCodec:
    """Signs (embedded mode and the CLI) and verifies tokens with the deployment's keys.

    A token verified once is remembered until its ``exp`` (at most
    ``Limits.verified_tokens_cached`` of them, the least recently used forgotten first): a
    producer's or a panel's every request carries the same token, and checking its signature
    and claims again cost ~35 µs of the event loop per request (remembered: ~0.2 µs). Only a
    token that verified is remembered, by its exact text, so a changed byte is verified afresh;
    one past its ``exp`` is refused as before."""

    def __init__(self, settings: Settings) -> None:
        if settings.jwt_secret is None and settings.jwt_public_key is None:
            raise ValueError("a JWT secret or public key is required; call Settings.with_jwt_secret()")
        self._secret = settings.jwt_secret
        self._public_key = settings.jwt_public_key
        self._algorithms = list(settings.jwt_algorithms)
        self._verified: OrderedDict[str, Principal] = OrderedDict()
        self._most_verified = settings.limits.verified_tokens_cached

    def issue(
        self,
        *,
        instance: str,
        user: str,
        role: Role | str,
        email: str | None = None,
        name: str | None = None,
        locale: str | None = None,
        ttl_seconds: int = 3600,
    ) -> str:
        if self._secret is None:
            raise ValueError("tokens can only be issued with NC_JWT_SECRET (HS256)")
        role_value = role.value if isinstance(role, Role) else str(role)
        if role_value.lower() not in ROLE_CLAIMS:
            raise ValueError(f"role must be one of {', '.join(ROLE_CLAIMS)}, got {shown(role_value)}")
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": user,
            "instance": instance,
            "role": role_value.lower(),
            "iat": now,
            "exp": now + ttl_seconds,
        }
        for key, value in (("email", email), ("name", name), ("locale", locale)):
            if value:
                claims[key] = value
        return jwt.encode(claims, self._secret.reveal(), algorithm="HS256")

    def verify(self, token: str) -> Principal:
        """The token's caller. Unauthenticated (with what is wrong) when it is not valid here."""
        verified = self._verified
        principal = verified.get(token)
        if principal is not None:
            if principal.expires_at is not None and principal.expires_at > time.time():
                verified.move_to_end(token)
                return principal
            del verified[token]
        principal = self._verify(token)
        if len(token) <= CACHED_TOKEN_CHARS:
            verified[token] = principal
            if len(verified) > self._most_verified:
                verified.popitem(last=False)
        return principal

    def _verify(self, token: str) -> Principal:
        key: Any = self._public_key if self._public_key else self._secret.reveal()  # type: ignore[union-attr]
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                options={"require": ["sub", "exp", "instance", "role"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("The token has expired: sign in again for a fresh one") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthenticated(f"The token lacks the claim {exc.claim!r}") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            # PyJWTError covers bad signatures and algorithms; ValueError/TypeError come from a key
            # of the wrong kind for the token's algorithm (an HS256 token against an RSA key).
            raise Unauthenticated("The token is not valid for this deployment") from None
        role = ROLE_CLAIMS.get(str(claims["role"]).lower())
        if role is None:
            raise Unauthenticated(f"The token's role {shown(claims['role'])} is not one of {', '.join(ROLE_CLAIMS)}")
        user, instance = _identifier(claims["sub"], "sub", 128), _identifier(claims["instance"], "instance", 64)
        # As PyJWT judges it (a whole second): the WebSocket closes and the cache forgets it then.
        expires_at = int(claims["exp"])
        if expires_at > LATEST_EXP:
            raise Unauthenticated("The token's exp claim is past the year 9999: sign it with a real expiry time")
        return Principal(
            user_id=user,
            instance_id=instance,
            role=role,
            email=_text(claims.get("email"), "email"),
            name=_text(claims.get("name"), "name"),
            locale=_text(claims.get("locale"), "locale"),
            expires_at=float(expires_at),
        )

    def from_header(self, value: str | None) -> Principal:
        if not value:
            raise Unauthenticated("Send a token: Authorization: Bearer <JWT>")
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("The Authorization header must be 'Bearer <JWT>'")
        return self.verify(token.strip())


def _identifier(value: Any, claim: str, most: int) -> str:
    """A signed claim used as an id: a string (or integer) of 1-``most`` characters, valid Unicode,
    no control character; anything else makes the token unusable here (UNAUTHENTICATED)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Unauthenticated(f"The token's {claim} claim must be a string")
    text = str(value)
    if not 1 <= len(text) <= most:
        raise Unauthenticated(f"The token's {claim} claim must be 1-{most} characters")
    try:
        check_id(text, f"The token's {claim} claim")
    except BadUserInput as exc:
        raise Unauthenticated(exc.message) from None
    return text


def _text(value: Any, claim: str, most: int = 320) -> str | None:
    """An optional signed claim shown as text (email, name, locale): a string of valid Unicode."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > most:
        raise Unauthenticated(f"The token's {claim} claim must be a string of at most {most} characters")
    try:
        check_text(value, f"The token's {claim} claim")
    except BadUserInput as exc:
        raise Unauthenticated(exc.message) from None
    return value
