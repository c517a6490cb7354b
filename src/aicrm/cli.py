"""The `aicrm` command."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from aicrm.config import Settings, get_settings

app = typer.Typer(
    help="aicrm — self-hostable, AI-first CRM", no_args_is_help=True, add_completion=False
)


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[
        int, typer.Option(help="more than 1 runs granian with that many workers")
    ] = 1,
    reload: bool = False,
) -> None:
    """Serve the API and web UI."""
    if workers > 1:
        from granian import Granian
        from granian.constants import Interfaces

        Granian(
            "aicrm.asgi:app", address=host, port=port, interface=Interfaces.ASGI, workers=workers
        ).serve()
        return
    import uvicorn

    uvicorn.run(
        "aicrm.asgi:app",
        host=host,
        port=port,
        reload=reload,
        access_log=False,
        log_config=None,
        # per-message compression costs ~28 µs CPU and ~47 KB per websocket for small JSON
        ws_per_message_deflate=False,
    )


@app.command()
def migrate(revision: str = "head") -> None:
    """Apply database migrations (SQLite or PostgreSQL, from DATABASE_URL)."""
    from aicrm import migrate as m

    m.upgrade(revision=revision)
    typer.echo(f"database migrated to {revision}")


@app.command("seed-demo")
def seed_demo(
    seed: int = 42,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="do nothing when users exist")
    ] = False,
) -> None:
    """Load the demo organizations (deterministic by seed) and print the demo login."""
    from aicrm.seed import run_seed

    result = asyncio.run(run_seed(seed=seed, if_empty=if_empty))
    typer.echo(json.dumps(result, indent=2))


@app.command("create-user")
def create_user(
    email: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    full_name: str = "",
    organization: Annotated[
        str | None, typer.Option(help="name of a new organization to own")
    ] = None,
) -> None:
    """Create a user who owns a new organization."""
    from aicrm.auth.schemas import RegisterIn
    from aicrm.auth.service import register
    from aicrm.db import Database

    async def go() -> tuple[int, int]:
        db = Database()
        try:
            async with db.sessionmaker() as session, session.begin():
                user, org_id = await register(
                    session,
                    RegisterIn(
                        email=email,
                        password=password,
                        full_name=full_name,
                        organization_name=organization,
                    ),
                )
                return user.id, org_id
        finally:
            await db.dispose()

    user_id, org_id = asyncio.run(go())
    typer.echo(f"created user {user_id} ({email}) owning organization {org_id}")


@app.command("import")
def import_(
    entity: Annotated[str, typer.Argument(help="contacts | companies | leads")],
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    organization: Annotated[str, typer.Option("--org", help="organization id or slug")],
    mapping: Annotated[str | None, typer.Option(help='JSON {"csv column": "field"}')] = None,
    dry_run: bool = False,
    on_duplicate: Annotated[str, typer.Option(help="skip | update | create")] = "skip",
) -> None:
    """Import a CSV file (streamed; any size)."""
    from aicrm.imports.cli import run_import

    report = asyncio.run(
        run_import(
            entity,
            path,
            organization=organization,
            mapping=json.loads(mapping) if mapping else None,
            dry_run=dry_run,
            on_duplicate=on_duplicate,
        )
    )
    typer.echo(json.dumps(report, indent=2, default=str))
    if (
        report.get("errors")
        and not dry_run
        and report.get("created", 0) + report.get("updated", 0) == 0
    ):
        raise typer.Exit(1)


@app.command()
def export(
    entity: Annotated[str, typer.Argument(help="contacts | companies | leads")],
    organization: Annotated[str, typer.Option("--org", help="organization id or slug")],
    out: Annotated[Path | None, typer.Option(help="file to write; stdout if omitted")] = None,
) -> None:
    """Export records as CSV (streamed)."""
    from aicrm.imports.cli import run_export

    if out is None:
        n = asyncio.run(run_export(entity, sys.stdout, organization=organization))
    else:
        with out.open("w", newline="", encoding="utf-8") as fh:
            n = asyncio.run(run_export(entity, fh, organization=organization))
    typer.echo(f"exported {n} {entity}", err=True)


@app.command()
def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            help="Celery: worker processes (default: CPU count); embedded: jobs run at once "
            "(default: JOB_CONCURRENCY)"
        ),
    ] = None,
    loglevel: Annotated[str | None, typer.Option(help="default: LOG_LEVEL")] = None,
    queues: Annotated[
        str | None,
        typer.Option(help="Celery queues to consume, comma-separated (default: CELERY_QUEUE)"),
    ] = None,
) -> None:
    """Run jobs: a Celery worker when CELERY_BROKER_URL is set, else the embedded worker and
    scheduler without HTTP (start several to scale either mode)."""
    from aicrm.jobs.registry import load_job_modules
    from aicrm.logging import configure as configure_logging

    settings = get_settings()
    level = (loglevel or settings.LOG_LEVEL).upper()
    configure_logging(level, settings.LOG_JSON)
    load_job_modules(settings)
    if not settings.CELERY_BROKER_URL:
        asyncio.run(_embedded_worker(settings, concurrency))
        return
    from aicrm.jobs.celery_app import app as celery
    from aicrm.jobs.celery_app import queue_name

    argv = [
        "worker",
        "--pool=prefork",
        f"--loglevel={level}",
        f"--queues={queues or queue_name(settings)}",
        "--hostname=aicrm@%h",
        # no remote-control chatter between workers: the job table coordinates them
        "--without-mingle",
        "--without-gossip",
    ]
    if concurrency:
        argv.append(f"--concurrency={concurrency}")
    celery.worker_main(argv)


async def _embedded_worker(settings: Settings, concurrency: int | None) -> None:
    """The embedded worker + tick until SIGTERM/SIGINT, then a graceful stop."""
    import signal

    from aicrm.db import Database
    from aicrm.jobs.embedded import EmbeddedWorker

    db = Database(settings)
    running = EmbeddedWorker(db, settings, concurrency=concurrency)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await running.start()
    typer.echo(
        f"embedded worker {running.runner.worker} running "
        f"(concurrency {running.concurrency}); Ctrl-C to stop",
        err=True,
    )
    try:
        await stop.wait()
    finally:
        await running.stop()
        await db.dispose()


@app.command()
def beat(
    loglevel: Annotated[str | None, typer.Option(help="default: LOG_LEVEL")] = None,
) -> None:
    """Celery beat: sends the scheduler tick every second (outbox relay, periodic jobs,
    re-sending lost messages). Run exactly one per installation."""
    settings = get_settings()
    if not settings.CELERY_BROKER_URL:
        typer.echo(
            "aicrm beat is for the Celery mode: set CELERY_BROKER_URL (redis://… or amqp://…). "
            "Without a broker, `aicrm serve` and `aicrm worker` schedule jobs themselves.",
            err=True,
        )
        raise typer.Exit(2)
    from aicrm.jobs.registry import load_job_modules
    from aicrm.logging import configure as configure_logging

    level = (loglevel or settings.LOG_LEVEL).upper()
    configure_logging(level, settings.LOG_JSON)
    load_job_modules(settings)
    from aicrm.jobs.celery_app import app as celery

    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    celery.start(
        ["beat", f"--loglevel={level}", f"--schedule={settings.DATA_DIR / 'celerybeat-schedule'}"]
    )


@app.command("mcp")
def mcp_stdio(
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="AICRM_API_KEY",
            show_default=False,
            help="an organization API key (aicrm_…); prefer the AICRM_API_KEY variable",
        ),
    ] = None,
) -> None:
    """Serve the assistant's tools over MCP on stdin/stdout (Claude Desktop and other MCP
    clients), as the organization of an API key with its scopes, on DATABASE_URL."""
    if not api_key:
        typer.echo("aicrm mcp: give an API key (--api-key or AICRM_API_KEY)", err=True)
        raise typer.Exit(2)
    from aicrm.assistant.mcp.server import run_stdio

    raise typer.Exit(run_stdio(api_key))


@app.command()
def config() -> None:
    """Print the effective settings (secrets masked)."""
    s = get_settings().model_dump()
    for k in ("SECRET_KEY",):
        s[k] = "***" if s.get(k) else ""
    typer.echo(json.dumps(s, indent=2, default=str))


if __name__ == "__main__":
    app()
