"""The notification-center command: serve, migrate, token, export-schema."""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO

from core.logs import configure as configure_logging
from core.settings import LIMIT_MAX_SECONDS, Settings, SettingsError
from models.db import check_sqlite, sqlite_file


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app
    from api.server import raise_open_files_limit, uvicorn_options
    from services.auth import TokenCodec

    # One process per SQLite database, with or without Redis (held until this one exits).
    sqlite_dir = _sqlite_dir(settings)
    held = _hold_data_dir(sqlite_dir) if sqlite_dir is not None else None
    settings = settings.with_jwt_secret()
    # Embedded: everything in one process. Scaled: API processes run no workers unless asked.
    settings = replace(settings, run_workers=settings.embedded or args.with_workers)
    if args.demo:
        settings = replace(settings, demo=True)
        from api.demo import demo_tokens, seed_demo
        from models.db import close_db, init_db

        async def seed() -> None:
            await init_db(settings, run_migrations=True)
            try:
                await seed_demo()
            finally:
                await close_db()

        asyncio.run(seed())
        base = f"http://{args.host}:{args.port}"
        print("Demo instance 'demo' is ready. Tokens (valid 7 days):\n")
        if settings.panel_enabled:
            print(f"  Operator panel: {base}/panel/  (pick a demo user there)\n")
        for user, role, token in demo_tokens(TokenCodec(settings)):
            print(f"  {role:<13} {user:<12} {token}")
        print(
            f"\nGraphiQL: {base}/graphql  (add the header  Authorization: Bearer <token>)\n"
            f"Try:      curl -s {base}/graphql -H 'Authorization: Bearer <token>' "
            "-H 'Content-Type: application/json' "
            '-d \'{"query": "{ notificationTypes { code channels editable } }"}\'\n'
            f"More tokens: notification-center token --instance demo --user <id> --role operator\n",
            flush=True,
        )
    configure_logging(args.log_level, settings.log_format)
    raise_open_files_limit()
    try:
        uvicorn.run(
            create_app(settings),
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            log_config=None,
            **uvicorn_options(settings),
        )
    finally:
        if held is not None:
            held.close()
    return 0


def _sqlite_dir(settings: Settings) -> Path | None:
    """The directory of the SQLite file the service uses (the data directory, embedded); None on
    PostgreSQL or an in-memory database."""
    path = sqlite_file(settings)
    return None if path is None or path == ":memory:" else Path(path).parent


def _hold_data_dir(data_dir: Path) -> IO[bytes]:
    """A ``serve`` on a SQLite database (embedded: in the data directory) holds the database's
    directory for its whole life: an exclusive lock on ``serve.lock`` in it, released
    when the process ends, however it ends. The in-process broker and workers of a second one on
    the same database would claim the first one's jobs and send live messages (a snooze's return,
    a banner's repeat, a fallback) that none of its panels hear; joined through Redis, their
    unread counts would still cross (many processes: PostgreSQL and Redis). Raises SettingsError (exit 2)
    when another process holds it; the directory is created if need be."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(data_dir / "serve.lock", "ab")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise SettingsError(
            f"another `serve` is running on the data directory {data_dir.resolve()} (NC_DATA_DIR): embedded, "
            "one process serves its SQLite database; stop that one, or give this one another NC_DATA_DIR "
            "(many processes: PostgreSQL and Redis, NC_DATABASE_URL and NC_REDIS_URL)"
        ) from None
    return handle


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    from api.server import raise_open_files_limit
    from api.worker import run_worker

    if not settings.redis_url:
        # Its banner repeats, reminders and live fallbacks would go to a broker of its own,
        # which no panel listens to: they would be marked sent and never shown.
        raise SettingsError(
            "the worker process needs NC_REDIS_URL: it hands the panels' live messages to the API "
            "processes through Redis (without it, run `serve`, whose workers run in-process)"
        )

    configure_logging(args.log_level, settings.log_format)
    raise_open_files_limit()
    asyncio.run(run_worker(settings, concurrency=args.concurrency or settings.worker_concurrency))
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from models.db import apply_migrations, close_db

    async def run() -> None:
        try:
            await apply_migrations(settings)
        finally:
            await close_db()

    asyncio.run(run())
    print(f"Migrations applied to {'the embedded SQLite file' if settings.embedded else 'NC_DATABASE_URL'}")
    return 0


def _token(settings: Settings, args: argparse.Namespace) -> int:
    from services.auth import TokenCodec

    codec = TokenCodec(settings.with_jwt_secret())
    print(
        codec.issue(
            instance=args.instance,
            user=args.user,
            role=args.role,
            email=args.email,
            name=args.name,
            locale=args.locale,
            ttl_seconds=args.ttl,
        )
    )
    return 0


def _export_schema(settings: Settings, args: argparse.Namespace) -> int:
    from resolvers.schema import sdl

    sys.stdout.write(sdl())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="notification-center",
        description="The Notification Center service. Settings come from NC_* environment variables (see README).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the GraphQL API under uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="seed a demo instance and print tokens")
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--with-workers",
        action="store_true",
        help="with NC_DATABASE_URL set, also run delivery workers and schedulers in this process",
    )
    serve.set_defaults(func=_serve)

    worker = sub.add_parser("worker", help="run delivery workers and schedulers (no API)")
    worker.add_argument(
        "--concurrency",
        type=_between(1, 10_000),
        default=None,
        help="deliveries sent at once (1-10000; NC_WORKER_CONCURRENCY, 100)",
    )
    worker.add_argument("--log-level", default="info")
    worker.set_defaults(func=_worker)

    migrate = sub.add_parser("migrate", help="apply the versioned migrations to the configured database")
    migrate.set_defaults(func=_migrate)

    token = sub.add_parser("token", help="print a signed JWT for a user")
    token.add_argument("--instance", required=True)
    token.add_argument("--user", required=True)
    token.add_argument("--role", required=True, choices=["operator", "supervisor", "administrator", "service"])
    token.add_argument("--email")
    token.add_argument("--name")
    token.add_argument("--locale")
    token.add_argument(
        "--ttl",
        type=_between(1, LIMIT_MAX_SECONDS),
        default=3600,
        help=f"seconds the token stays valid (1-{LIMIT_MAX_SECONDS}: ten years)",
    )
    token.set_defaults(func=_token)

    export = sub.add_parser("export-schema", help="print the GraphQL SDL (schema.graphql must equal it)")
    export.set_defaults(func=_export_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        check_sqlite(settings)
        return int(args.func(settings, args))
    except SettingsError as exc:
        print(f"notification-center: {exc}", file=sys.stderr)
        return 2


def _between(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` to ``high`` (argparse reports anything else)."""

    def whole(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low}-{high}, got {value}")
        return value

    return whole


if __name__ == "__main__":
    raise SystemExit(main())
