"""Deployment settings, read once from the environment and passed down.

Nothing else in the code base reads ``os.environ``: the CLI builds one ``Settings`` and hands it to
the app, the database setup, the token signer and (later) the workers.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one client request may ask for (SPEC section 8)."""

    recipients_per_event: int = 5_000
    events_per_batch: int = 500
    #: Recipients of all the events of one publishing call together: the notifications one request
    #: may create (the write and the live messages of 20,000 take ~1 s of the embedded process).
    recipients_per_call: int = 20_000
    event_data_bytes: int = 16_384
    #: How far ahead of the service's clock an event's ``occurredAt`` may be (producers' clocks
    #: drift; a reminder is scheduled from it, and year 9999 plus its delay overflowed).
    occurred_at_ahead_seconds: int = 86_400
    operators_per_upsert: int = 5_000
    request_body_bytes: int = 4 * 1024 * 1024
    #: Fields deep, every field counted (introspection too: GraphiQL's introspection query is 15).
    query_depth: int = 16
    query_tokens: int = 2_000
    query_aliases: int = 30
    #: Selections in one selection set, and fragments defined in one document.
    selections_per_set: int = 64
    fragments_per_document: int = 32
    #: Fields with a sub-selection selected again in the same set (via inline fragments, @include).
    duplicate_fields: int = 8
    page_size_max: int = 100
    subscriptions_per_connection: int = 10
    push_subscriptions_per_user: int = 20
    #: Characters in one GraphQL document (checked before it is parsed).
    document_chars: int = 20_000
    #: Bytes of JSON in one operation's variables, and JSON values (list items, fields, scalars).
    variables_bytes: int = 4 * 1024 * 1024
    variable_values: int = 100_000
    #: Items in any one list, and characters in any one string, of the variables.
    list_items: int = 5_000
    string_chars: int = 65_536
    #: Nesting of JSON in variables and event data (arrays and objects inside each other).
    json_depth: int = 32
    #: Static cost of one operation: every field counts 1, a list field with ``first`` multiplies
    #: what it selects by ``first`` (by the most a page may hold when it comes from a variable).
    query_cost: int = 5_000
    #: Notification ids in one markNotificationsRead (and in one mark unread, archive, unarchive or snooze).
    ids_per_request: int = 1_000
    #: How far ahead a snooze may end, in seconds (snoozeNotifications' ``until``).
    snooze_seconds: int = 30 * 86_400
    #: Open WebSockets of one user (same instance and user id) across the deployment.
    websockets_per_user: int = 16
    #: Characters of a panel tab's id (reportPanelActivity's ``tab``, and connectionParams' ``tab``).
    panel_tab_chars: int = 64
    #: WebSockets from one client address that have not authenticated yet (per process).
    pending_websockets_per_address: int = 100
    #: One WebSocket message (the panel's are small; publish large batches over HTTP).
    websocket_message_bytes: int = 65_536
    #: Messages a WebSocket may send per second (pings included), with bursts of twice that.
    websocket_messages_per_second: int = 20
    #: Request line and headers of one HTTP request.
    header_bytes: int = 65_536
    #: Open TCP connections from one peer address, and in all (per process; the latter also stays
    #: 256 below the open-files limit).
    connections_per_address: int = 1_000
    connections: int = 16_000
    #: Requests of one caller being handled at once (per process): users, and services.
    concurrent_requests_per_user: int = 16
    concurrent_requests_per_service: int = 64
    #: Parsed documents kept: entries, and characters of document text across them (a parsed
    #: document takes ~150 bytes per character: 250,000 characters are ~40 MiB at most).
    document_cache_entries: int = 256
    document_cache_chars: int = 250_000
    #: FAILED deliveries one retryDeliveries may queue again (by ids or by filter).
    deliveries_per_retry: int = 1_000
    #: Operators a policy preview names for each type and channel that turns on or off.
    preview_sample: int = 20
    #: Tokens whose verification a process remembers until they expire (each at most
    #: ``services.auth.CACHED_TOKEN_CHARS`` characters: ~4 KiB, ~16 MiB when full).
    verified_tokens_cached: int = 4_096


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("var")
    database_url: str | None = None
    redis_url: str | None = None
    jwt_secret: Secret | None = None
    jwt_public_key: str | None = None
    jwt_algorithms: tuple[str, ...] = ("HS256",)
    public_url: str = "http://127.0.0.1:8000"
    #: The operator panel's address, for links in pushes, messages and emails.
    panel_url: str = "http://127.0.0.1:8000"
    allowed_origins: tuple[str, ...] = ()
    graphiql: bool = True
    #: Serve the operator panel page at /panel/; None: on when embedded (NC_PANEL).
    panel: bool | None = None
    #: Set by `serve --demo`: the panel page offers the demo users' tokens (never from the environment).
    demo: bool = False
    allow_http_endpoints: bool = False
    #: SMTP hosts (names or addresses) the EMAIL channel may reach although they are not public.
    smtp_allowed_hosts: tuple[str, ...] = ()
    retention_days: int = 90
    db_pool_size: int = 10
    #: PostgreSQL: how long start-up waits for the pool's connections to be primed
    #: (services.dispatch.prime_connections) before it goes on without; 0: not primed at all.
    db_prime_seconds: float = 10.0
    #: Seconds in a reminder "minute" (notReadyAfterMinutes, notReadyRepeatMinutes): tests shorten it.
    reminder_minute_seconds: float = 60.0
    #: Seconds in a routing "minute" (ESCALATE_AFTER's escalateAfterMinutes): tests shorten it.
    routing_minute_seconds: float = 60.0
    #: A WHEN_AWAY delivery whose operator is at an active panel looks again this often.
    away_recheck_seconds: float = 60.0
    #: How often workers and schedulers look for due jobs when nothing woke them.
    poll_seconds: float = 1.0
    #: How long a claimed job stays a worker's before another may take it again (the worker
    #: extends it while the job is in flight: see ``heartbeat_every`` and ``send_deadline``).
    lease_seconds: float = 60.0
    #: How often a worker extends the leases of its jobs in flight (unset: a third of the lease).
    heartbeat_seconds: float | None = None
    #: How long a worker waits on a provider before it abandons the try and retries it later
    #: (unset: three quarters of the lease). Counted from the claim; always shorter than the lease.
    send_timeout_seconds: float | None = None
    #: The publisher sends the panel's live messages itself right after its commit; should it die
    #: (or the broker fail) first, a worker sends them this many seconds after the commit.
    live_fallback_seconds: float = 5.0
    #: SQLite: operators whose delivery settings a process keeps between publishing transactions
    #: (domain.recipients.RecipientCache; ~0.7 KiB each); 0 reads them for every transaction.
    recipient_cache_operators: int = 50_000
    #: A collapsed bell item's banner and external channels fire at most once per this many
    #: seconds however many events collapse into it (domain/collapse.py).
    collapse_window_seconds: float = 60.0
    #: An operator's open panel (a live bell or toasts subscription) lapses this long after its
    #: process last refreshed it (every third of it): a process that died leaves no one present.
    presence_ttl_seconds: float = 90.0
    #: An operator with an open panel counts as active for this long after their last activity.
    presence_idle_seconds: float = 300.0
    #: Due jobs a worker claims at once.
    claim_batch: int = 100
    #: External deliveries a worker sends at once (``worker --concurrency`` overrides it): a send
    #: mostly waits on its provider, so the slots, not the CPU, bound a worker's rate.
    worker_concurrency: int = 100
    #: External sends' outcomes returning within this many seconds are recorded in one go.
    settle_window_seconds: float = 0.005
    #: Delivery retries: exponential backoff from this many seconds, up to this many attempts.
    retry_base_seconds: float = 2.0
    retry_max_attempts: int = 8
    #: How long testChannel waits for its delivery to be settled.
    test_send_timeout_seconds: float = 20.0
    #: Answer the panel's read queries with compiled plans (0: always execute).
    compiled_queries: bool = True
    #: WebSocket compression (costs ~40 KiB per connection).
    ws_per_message_deflate: bool = False
    #: Answer subscriptions over graphql-transport-ws with compiled plans (0: always execute).
    compiled_subscriptions: bool = True
    #: Log lines as JSON ("json") or text ("text"); unset: text embedded, JSON at scale.
    log_format: str = "text"
    #: Run the delivery workers and schedulers inside the API process (the embedded default).
    run_workers: bool = True
    #: Schema introspection and "Did you mean ..." suggestions (default: on when GraphiQL is).
    introspection: bool = True
    #: Bearer token /metrics asks for; unset: /metrics answers loopback clients only.
    metrics_token: Secret | None = None
    #: Rate limits (the `limits` library's notation, "N/second;M/minute"; empty: off): per user
    #: token, per service token, and per client address for requests without a valid token.
    rate_limit_user: str = "60/second;1200/minute"
    rate_limit_service: str = "1000/second"
    rate_limit_anonymous: str = "10/second;100/minute"
    rate_limit_webhook: str = "50/second"
    #: Seconds a connection may take to send its request line and headers before it is closed.
    header_timeout_seconds: float = 10.0
    #: Seconds a request may take to send its body once its headers are in.
    body_timeout_seconds: float = 30.0
    #: Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated addresses);
    #: empty: none, the peer address is the client's.
    forwarded_allow_ips: str = ""
    #: Seconds a WebSocket may take to send connection_init.
    connection_init_timeout_seconds: float = 10.0
    #: Seconds a stopping server waits for its connections to close before it closes them (a
    #: client that stopped reading would otherwise hold the shutdown for as long as it likes).
    shutdown_grace_seconds: float = 10.0
    limits: Limits = field(default_factory=Limits)

    @property
    def heartbeat_every(self) -> float:
        return self.heartbeat_seconds or self.lease_seconds / 3

    @property
    def send_deadline(self) -> float:
        return self.send_timeout_seconds or self.lease_seconds * 0.75

    @property
    def panel_enabled(self) -> bool:
        """Whether /panel/ is served: NC_PANEL when set, else only in embedded mode."""
        return self.embedded if self.panel is None else self.panel

    @property
    def embedded(self) -> bool:
        """True when no database URL is set: one process, a SQLite file in the data dir."""
        return self.database_url is None

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite://{(self.data_dir / 'notification-center.sqlite3').resolve()}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        defaults = Limits()
        limits = Limits(
            **{
                name: _int(
                    env,
                    f"NC_LIMIT_{name.upper()}",
                    getattr(defaults, name),
                    minimum=1,
                    maximum=LIMIT_MAX_SECONDS if name.endswith("_seconds") else None,
                )
                for name in Limits.__dataclass_fields__
            }
        )
        secret = env.get("NC_JWT_SECRET")
        if secret and len(secret) < 32:
            raise SettingsError("NC_JWT_SECRET must be at least 32 characters (HS256 needs a 256-bit key)")
        lease_seconds = _float(env, "NC_LEASE_SECONDS", 60.0)
        heartbeat_seconds = _float_or_none(env, "NC_HEARTBEAT_SECONDS")
        send_timeout_seconds = _float_or_none(env, "NC_SEND_TIMEOUT_SECONDS")
        # A lease must outlive the send it covers and be extended before it runs out.
        for name, value in (
            ("NC_HEARTBEAT_SECONDS", heartbeat_seconds),
            ("NC_SEND_TIMEOUT_SECONDS", send_timeout_seconds),
        ):
            if value is not None and value >= lease_seconds:
                raise SettingsError(f"{name} must be below NC_LEASE_SECONDS ({lease_seconds:g}), got {value:g}")
        algorithms = tuple(a.strip() for a in env.get("NC_JWT_ALGORITHMS", "HS256").split(",") if a.strip())
        return cls(
            data_dir=Path(env.get("NC_DATA_DIR", "var")),
            database_url=env.get("NC_DATABASE_URL") or None,
            redis_url=env.get("NC_REDIS_URL") or None,
            jwt_secret=Secret(secret) if secret else None,
            jwt_public_key=env.get("NC_JWT_PUBLIC_KEY") or None,
            jwt_algorithms=algorithms,
            public_url=env.get("NC_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
            panel_url=(env.get("NC_PANEL_URL") or env.get("NC_PUBLIC_URL") or "http://127.0.0.1:8000").rstrip("/"),
            allowed_origins=tuple(o.strip() for o in env.get("NC_ALLOWED_ORIGINS", "").split(",") if o.strip()),
            graphiql=_bool(env, "NC_GRAPHIQL", True),
            panel=_bool(env, "NC_PANEL", True) if env.get("NC_PANEL") else None,
            allow_http_endpoints=_bool(env, "NC_ALLOW_HTTP_ENDPOINTS", False),
            smtp_allowed_hosts=tuple(h.strip() for h in env.get("NC_SMTP_ALLOWED_HOSTS", "").split(",") if h.strip()),
            retention_days=_int(env, "NC_RETENTION_DAYS", 90, minimum=1),
            db_pool_size=_int(env, "NC_DB_POOL_SIZE", 10, minimum=1),
            db_prime_seconds=_float(env, "NC_DB_PRIME_SECONDS", 10.0, zero_is_off=True),
            reminder_minute_seconds=_float(env, "NC_REMINDER_MINUTE_SECONDS", 60.0),
            routing_minute_seconds=_float(env, "NC_ROUTING_MINUTE_SECONDS", 60.0),
            away_recheck_seconds=_float(env, "NC_AWAY_RECHECK_SECONDS", 60.0),
            poll_seconds=_float(env, "NC_POLL_SECONDS", 1.0),
            lease_seconds=lease_seconds,
            heartbeat_seconds=heartbeat_seconds,
            send_timeout_seconds=send_timeout_seconds,
            live_fallback_seconds=_float(env, "NC_LIVE_FALLBACK_SECONDS", 5.0),
            recipient_cache_operators=_int(env, "NC_RECIPIENT_CACHE_OPERATORS", 50_000, minimum=0),
            collapse_window_seconds=_float(env, "NC_COLLAPSE_WINDOW_SECONDS", 60.0),
            presence_ttl_seconds=_float(env, "NC_PRESENCE_TTL_SECONDS", 90.0),
            presence_idle_seconds=_float(env, "NC_PRESENCE_IDLE_SECONDS", 300.0),
            claim_batch=_int(env, "NC_CLAIM_BATCH", 100, minimum=1),
            settle_window_seconds=_float(env, "NC_SETTLE_WINDOW_SECONDS", 0.005),
            worker_concurrency=_int(env, "NC_WORKER_CONCURRENCY", 100, minimum=1),
            retry_base_seconds=_float(env, "NC_RETRY_BASE_SECONDS", 2.0),
            retry_max_attempts=_int(env, "NC_RETRY_MAX_ATTEMPTS", 8, minimum=1),
            run_workers=_bool(env, "NC_RUN_WORKERS", True),
            compiled_subscriptions=_bool(env, "NC_COMPILED_SUBSCRIPTIONS", True),
            compiled_queries=_bool(env, "NC_COMPILED_QUERIES", True),
            ws_per_message_deflate=_bool(env, "NC_WS_PER_MESSAGE_DEFLATE", False),
            introspection=_bool(env, "NC_INTROSPECTION", _bool(env, "NC_GRAPHIQL", True)),
            metrics_token=Secret(env["NC_METRICS_TOKEN"]) if env.get("NC_METRICS_TOKEN") else None,
            rate_limit_user=_rate(env, "NC_RATE_LIMIT_USER", "60/second;1200/minute"),
            rate_limit_service=_rate(env, "NC_RATE_LIMIT_SERVICE", "1000/second"),
            rate_limit_anonymous=_rate(env, "NC_RATE_LIMIT_ANONYMOUS", "10/second;100/minute"),
            rate_limit_webhook=_rate(env, "NC_RATE_LIMIT_WEBHOOK", "50/second"),
            header_timeout_seconds=_float(env, "NC_HEADER_TIMEOUT_SECONDS", 10.0),
            body_timeout_seconds=_float(env, "NC_BODY_TIMEOUT_SECONDS", 30.0),
            connection_init_timeout_seconds=_float(env, "NC_CONNECTION_INIT_TIMEOUT_SECONDS", 10.0),
            shutdown_grace_seconds=_float(env, "NC_SHUTDOWN_GRACE_SECONDS", 10.0),
            forwarded_allow_ips=env.get("NC_FORWARDED_ALLOW_IPS", "").strip(),
            log_format=_choice(
                env, "NC_LOG_FORMAT", ("text", "json"), "json" if env.get("NC_DATABASE_URL") else "text"
            ),
            limits=limits,
        )

    def with_jwt_secret(self) -> Settings:
        """Fill in the embedded-mode JWT secret: generated once, kept in the data dir."""
        if self.jwt_secret is not None:
            return self
        if not self.embedded:
            raise SettingsError(
                "NC_JWT_SECRET is required when NC_DATABASE_URL is set: every API process must "
                "verify tokens with the same secret"
            )
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return replace(self, jwt_secret=Secret(path.read_text().strip()))


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name} must be at most {maximum}, got {value}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = (env.get(name) or default).strip().lower()
    if raw not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _rate(env: Mapping[str, str], name: str, default: str) -> str:
    """A rate limit in the `limits` notation ("30/second;600/minute"); "" or "off" turns it off."""
    raw = env.get(name)
    if raw is None:
        return default
    raw = raw.strip()
    if raw.lower() in ("", "0", "off", "none"):
        return ""
    from limits import parse_many

    try:
        parse_many(raw)
    except ValueError:
        raise SettingsError(f"{name} must look like '30/second;600/minute' (or 'off'), got {raw!r}") from None
    return raw


#: The longest any seconds setting may be: past it, due times overflow a datetime long before.
MAX_SECONDS = 30 * 86_400.0
#: The longest a limit in seconds may be (``NC_LIMIT_*_SECONDS``: how far ahead a snooze or an
#: event's occurredAt may be): ten years, far from overflowing the dates it is added to.
LIMIT_MAX_SECONDS = 10 * 365 * 86_400


def _float(env: Mapping[str, str], name: str, default: float, *, zero_is_off: bool = False) -> float:
    """A number of seconds above 0 (or 0 too, with ``zero_is_off``: the setting's off switch)."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number of seconds, got {raw!r}")
    if value < 0 or (value == 0 and not zero_is_off):
        floor = "0 or more (0: off)" if zero_is_off else "above 0"
        raise SettingsError(f"{name} must be {floor}, got {raw!r}")
    if value > MAX_SECONDS:
        raise SettingsError(f"{name} must be at most {MAX_SECONDS:.0f} seconds (30 days), got {raw!r}")
    return value


def _float_or_none(env: Mapping[str, str], name: str) -> float | None:
    return _float(env, name, 0.0) if env.get(name) else None


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1/0 or true/false, got {raw!r}")
