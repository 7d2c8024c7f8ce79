"""The typed request context: the caller, and per-request caches of what many fields need."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

from strawberry.dataloader import DataLoader
from strawberry.types import Info as StrawberryInfo

from domain.audit import Actor
from domain.bell import push_targets
from domain.errors import BadUserInput, Unauthenticated
from domain.operators import ensure_operator, find_operator, load_prefs, unsaved_operator
from domain.policy import POLICY_TOPIC, InstancePolicy
from domain.resolution import RecipientPrefs
from domain.type_choices import ViewerState
from models.enums import Role
from models.notification import PushTarget
from models.operator import Operator
from services.auth import Principal
from services.shared import Services

#: A tab id's characters (its length is NC_LIMIT_PANEL_TAB_CHARS at most).
TAB_CHARS = re.compile(r"[A-Za-z0-9_-]*")


class Context:
    def __init__(
        self,
        services: Services,
        authorization: str | None,
        *,
        principal: Principal | None = None,
        language: str | None = None,
        client: str | None = None,
    ) -> None:
        self.services = services
        #: The language the request asked for (X-NC-Locale), when the service serves it.
        self.language = language
        #: The client the request came from (X-NC-Client, else User-Agent), for the audit log.
        self.client = client
        self.settings = services.settings
        self._authorization = authorization
        #: Verified already by the HTTP gate (api/graphql_http.py), or on first use.
        self._principal: Principal | None = principal
        self._policy: InstancePolicy | None = None
        self._operator: Operator | None = None
        self._state: ViewerState | None = None
        #: Set by strawberry for WebSocket connections: the connection_init payload.
        self.connection_params: dict[str, Any] | None = None
        self._loads: dict[str, asyncio.Future[Any]] = {}
        #: This request writes the viewer's own settings (it called ``saved_operator``).
        self._writes_viewer = False
        self._push_targets: DataLoader[int, list[PushTarget]] | None = None

    # -- who is calling -------------------------------------------------------------------
    @property
    def principal(self) -> Principal:
        if self._principal is None:
            self._principal = self.services.tokens.from_header(self._authorization)
        return self._principal

    def authenticate_connection(self) -> Principal:
        """WebSocket: the token travels in connection_init's payload, not in a header."""
        params = self.connection_params or {}
        # {"authorization": ...} as documented; also GraphiQL's headers pane ("Authorization"),
        # and clients that nest headers ({"headers": {"Authorization": ...}}).
        headers = params.get("headers")
        nested = headers if isinstance(headers, dict) else {}
        value = next((v for src in (params, nested) for k, v in src.items() if k.lower() == "authorization"), None)
        if not isinstance(value, str):
            raise Unauthenticated('Send the token in connection_init: {"authorization": "Bearer <JWT>"}')
        self._principal = self.services.tokens.from_header(value)
        return self._principal

    def panel_tab(self, tab: str | None = None) -> str:
        """The viewer's tab (core/presence.py): ``tab`` when given, else the ``tab`` of the
        WebSocket's connectionParams, else ``""`` (the tab every client without an id shares).
        BAD_USER_INPUT unless it is at most NC_LIMIT_PANEL_TAB_CHARS of A-Z, a-z, 0-9, _ and -."""
        value: object = tab if tab is not None else (self.connection_params or {}).get("tab")
        if value is None:
            return ""
        most = self.settings.limits.panel_tab_chars
        if not isinstance(value, str) or len(value) > most or not TAB_CHARS.fullmatch(value):
            raise BadUserInput(
                f"tab must be a string of at most {most} characters A-Z, a-z, 0-9, _ and - "
                "(an id the page makes once per load, e.g. crypto.randomUUID())"
            )
        return value

    def for_operation(self) -> Context:
        """A context for one operation of a live connection: the same caller, fresh per-request
        caches (what the connection loaded an hour ago may have changed since)."""
        fresh = Context(self.services, self._authorization, principal=self._principal)
        fresh.connection_params = self.connection_params
        return fresh

    def actor(self) -> Actor:
        """The caller as the audit log names them."""
        p = self.principal
        return Actor(user_id=p.user_id, role=p.role.value, client=self.client)

    def require(self, *roles: Role) -> Principal:
        return self.principal.require(*roles)

    def require_user(self) -> Principal:
        """Any role that has settings and a bell of its own (not a service)."""
        return self.require(Role.OPERATOR, Role.SUPERVISOR, Role.ADMINISTRATOR)

    # -- what many fields of one request need ---------------------------------------------
    async def _once(self, key: str, load: Callable[[], Awaitable[Any]]) -> Any:
        """Load ``key`` once per request, even when sibling fields ask for it concurrently."""
        task = self._loads.get(key)
        if task is None:
            task = self._loads[key] = asyncio.ensure_future(load())
        return await task

    @property
    def push_targets(self) -> DataLoader[int, list[PushTarget]]:
        """BROWSER deliveries' push targets by delivery id: one query for all a response shows."""
        if self._push_targets is None:
            self._push_targets = DataLoader(load_fn=push_targets)
        return self._push_targets

    async def policy(self) -> InstancePolicy:
        if self._policy is None:
            self._policy = await self._once("policy", lambda: self.services.policies.get(self.principal.instance_id))
        return self._policy

    async def policy_changed(self) -> None:
        """After an administrator's write: this process forgets it now, the others when told."""
        instance_id = self.principal.instance_id
        self.services.policies.invalidate(instance_id)
        await self.services.broker.publish(POLICY_TOPIC, {"instance": instance_id})
        # Turning the Notification Center on writes every operator's choices (materialize_defaults).
        await self.services.viewers.changed(self.services.broker, instance_id)
        self._policy = None
        self._state = None
        self._loads.pop("policy", None)
        self._state = None
        self._loads.clear()

    async def bots_changed(self) -> None:
        """After an administrator changed bot channels: a testChannel right after uses the new
        settings, here and in the worker processes."""
        await self.services.bots.changed(self.services.broker, self.principal.instance_id)

    async def operator(self) -> Operator:
        """The viewer's row, or an unsaved one with the defaults when they never wrote anything."""
        if self._operator is None:
            found, _ = await self._viewer()
            if self._operator is None:
                p = self.principal
                self._operator = found or unsaved_operator(p.instance_id, p.user_id)
                if found is None:
                    self._operator.email = p.email
                    self._operator.display_name = p.name
                    self._operator.locale = p.locale or "en"
        return self._operator

    async def _viewer(self) -> tuple[Operator | None, RecipientPrefs]:
        """The viewer's row and preferences: from the process's cache, unless this request writes
        them (then from the database, and every process forgets its copy once it is done)."""
        p = self.principal
        if self._writes_viewer:
            found = await self._once("operator", lambda: find_operator(p.instance_id, p.user_id))
            return found, await self._once("prefs", lambda: load_prefs(found))
        return await self._once("viewer", lambda: self.services.viewers.get(p.instance_id, p.user_id))

    async def saved_operator(self) -> Operator:
        """The viewer's row, created from the token's claims if this is their first write. From
        here on the request reads the viewer's settings from the database, not the cache."""
        if not self._writes_viewer:
            self._writes_viewer = True
            self.services.viewers.forget(self.principal.instance_id, [self.principal.user_id])
            self._operator = None
            self._state = None
            self._loads.clear()
        operator = await self.operator()
        if operator.id is None:
            p = self.principal
            operator = self._operator = await ensure_operator(
                p.instance_id, p.user_id, email=p.email, name=p.name, locale=p.locale
            )
            self._state = None
            self._loads.clear()
        return operator

    async def viewer_written(self) -> None:
        """After the request that wrote the viewer's settings: every process forgets its copy."""
        if self._writes_viewer:
            p = self.principal
            await self.services.viewers.changed(self.services.broker, p.instance_id, [p.user_id])

    async def viewer_state(self, *, with_reach: bool = False) -> ViewerState:
        if self._state is None or (with_reach and self._state.prefs.reachable is None):
            operator = await self.operator()
            policy = await self.policy()
            if with_reach:
                prefs = await self._once("prefs+reach", lambda: load_prefs(operator, with_reach=True))
            elif operator.id is None:
                prefs = NO_PREFS
            else:
                prefs = (await self._viewer())[1]
            if self._state is None or (with_reach and self._state.prefs.reachable is None):
                self._state = ViewerState(policy=policy, operator=operator, prefs=prefs, locale=self.locale)
        return self._state

    def set_state(self, state: ViewerState) -> None:
        self._state = state

    @property
    def locale(self) -> str | None:
        """The language the request asked for (a page's language switch: X-NC-Locale, when it names
        a served language), else the token's locale, else the stored profile's."""
        if self.language:
            return self.language
        if self.principal.locale:
            return self.principal.locale
        return self._operator.locale if self._operator is not None else None


#: The preferences of a viewer who never saved any (one object: what depends on it is kept once).
NO_PREFS = RecipientPrefs()

Info = StrawberryInfo[Context, None]
