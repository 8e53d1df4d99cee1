"""Admin CLI: `riskapi serve`, `riskapi worker`, `riskapi db upgrade`, `riskapi seed`, organisations, keys, rules,
audit."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.audit.cli import audit_cli
from app.auth.permissions import Role
from app.content.cli import describe
from app.content_cli import content_app
from app.receipts.cli import receipt_cli
from app.rules_cli import rules_app

if TYPE_CHECKING:
    from fastapi import FastAPI
    from sqlalchemy.orm import Session

# Each command imports what it needs when it runs: `riskapi content`, an HTTP client, starts without loading the web
# application, the ORM or the database driver.

cli = typer.Typer(help="riskapi administration", no_args_is_help=True, pretty_exceptions_enable=False)
db_cli = typer.Typer(help="Database migrations", no_args_is_help=True)
org_cli = typer.Typer(help="Organisations", no_args_is_help=True)
key_cli = typer.Typer(help="API clients and keys", no_args_is_help=True)
cli.add_typer(db_cli, name="db")
cli.add_typer(org_cli, name="org")
cli.add_typer(key_cli, name="key")
cli.add_typer(audit_cli, name="audit")
cli.add_typer(receipt_cli, name="receipt")

DEMO_ORG_SLUG = "demo"


@contextmanager
def session_scope() -> Iterator[Session]:
    from app.core.config import get_settings
    from app.core.db import create_db_engine, make_sessionmaker

    engine = create_db_engine(get_settings())
    session = make_sessionmaker(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        engine.dispose()


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


def _organisation_id(session: Session, slug: str) -> str:
    """The id of the organisation a command names by slug; the command fails when there is none."""
    from app.auth import repository as auth_repository

    organisation = auth_repository.organisation_by_slug(session, slug)
    if organisation is None:
        raise _fail(f"no organisation '{slug}'")
    return organisation.id


@db_cli.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations (default: to the head)."""
    from alembic import command

    from app.health.service import alembic_config

    command.upgrade(alembic_config(), revision)


@db_cli.command("downgrade")
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION ('base' removes every table)."""
    from alembic import command

    from app.health.service import alembic_config

    command.downgrade(alembic_config(), revision)


@db_cli.command("current")
def db_current() -> None:
    """Show the database's migration revision."""
    from alembic import command

    from app.health.service import alembic_config

    command.current(alembic_config())


@org_cli.command("create")
def org_create(slug: str, name: str) -> None:
    """Create an organisation (tenant)."""
    from app.auth import service as auth_service
    from app.core.errors import ProblemError

    with session_scope() as session:
        try:
            organisation = auth_service.create_organisation(session, slug, name)
        except ProblemError as exc:
            raise _fail(str(exc.detail or exc.title)) from exc
        typer.echo(f"organisation {organisation.slug} id={organisation.id}")


@org_cli.command("set-identifier-system")
def org_set_identifier_system(
    org: Annotated[str, typer.Option(help="organisation slug")],
    uri: Annotated[str, typer.Argument(help="absolute URI of the organisation's own case-id system")],
) -> None:
    """Set the identifier system of the organisation's case ids in FHIR (audited; NHS-number systems refused)."""
    from app.core.errors import ProblemError
    from app.organisation import service as organisation_service

    with session_scope() as session:
        organisation_id = _organisation_id(session, org)
        try:
            organisation_service.set_identifier_system(session, organisation_id, uri, actor=None)
        except ProblemError as exc:
            raise _fail(str(exc.detail or exc.title)) from exc
    typer.echo(f"organisation {org}: FHIR identifier system {uri}")


@key_cli.command("create")
def key_create(
    org: Annotated[str, typer.Option(help="organisation slug")],
    name: Annotated[str, typer.Option(help="client name")],
    role: Annotated[list[Role], typer.Option(help="role (repeat for several)")],
    expires: Annotated[
        str | None, typer.Option(help="expiry: a future ISO 8601 date-time with a time zone, e.g. 2027-06-30T17:00Z")
    ] = None,
) -> None:
    """Create an API client and print its key (shown once)."""
    from pydantic import TypeAdapter, ValidationError

    from app.auth import service as auth_service
    from app.auth.schemas import KeyExpiry
    from app.core.config import get_settings

    key_expiry: TypeAdapter[datetime] = TypeAdapter(KeyExpiry)  # the API's rule: a zone, and in the future
    try:
        expires_at = key_expiry.validate_python(expires) if expires is not None else None
    except ValidationError as exc:
        raise _fail(f"--expires {exc.errors()[0]['msg'].lower()}") from exc
    with session_scope() as session:
        organisation_id = _organisation_id(session, org)
        issued = auth_service.create_client(
            session, organisation_id, name, role, expires_at, secret_key=get_settings().secret_key
        )
    typer.echo(f"client id: {issued.client.id}\nkey id:    {issued.key_id}\napi key:   {issued.api_key}")
    typer.echo("The key is shown once; store it in your secret manager.", err=True)


@key_cli.command("revoke")
def key_revoke(
    org: Annotated[str, typer.Option(help="organisation slug")],
    client_id: Annotated[str, typer.Argument(help="client id (revokes every key it holds)")],
) -> None:
    """Revoke a client and all its keys."""
    from app.auth import service as auth_service
    from app.core.errors import ProblemError

    with session_scope() as session:
        organisation_id = _organisation_id(session, org)
        try:
            auth_service.revoke_client(session, organisation_id, client_id)
        except ProblemError as exc:
            raise _fail(str(exc.detail or exc.title)) from exc
    typer.echo(f"revoked client {client_id}")


@cli.command("seed")
def seed() -> None:
    """Load the shipped default content (idempotent)."""
    from app.rulesets.seed import seed_default_content

    with session_scope() as session:
        for line in seed_default_content(session):
            typer.echo(line)


@cli.command("dev-setup")
def dev_setup() -> None:
    """Development only: migrate, seed, write a checkpoint signing key if there is none, and create a demo
    organisation and an all-roles key if none exists; the demo organisation's FHIR identifier system is a made-up
    one (https://example.org/riskapi-demo/case-reference)."""
    from app.auth import repository as auth_repository
    from app.auth import service as auth_service
    from app.core.config import get_settings
    from app.organisation import service as organisation_service
    from app.organisation.schemas import DEMO_IDENTIFIER_SYSTEM

    settings = get_settings()
    if settings.environment.value == "production":
        raise _fail("dev-setup refuses to run with RISKAPI_ENVIRONMENT=production")
    db_upgrade()
    seed()
    _write_dev_log_key(settings.dev_log_key_path)
    key_path: Path = settings.dev_key_path
    with session_scope() as session:
        organisation = auth_repository.organisation_by_slug(session, DEMO_ORG_SLUG)
        if organisation is not None and organisation.fhir_identifier_system is None:
            # Development only: a made-up case-reference system, so the FHIR routes work on the demo organisation.
            organisation_service.set_identifier_system(session, organisation.id, DEMO_IDENTIFIER_SYSTEM, actor=None)
        if organisation is not None and key_path.exists():
            typer.echo(f"demo organisation exists; development key in {key_path}")
            return
        if organisation is None:
            organisation = auth_service.create_organisation(session, DEMO_ORG_SLUG, "Demo organisation")
            organisation_service.set_identifier_system(session, organisation.id, DEMO_IDENTIFIER_SYSTEM, actor=None)
        issued = auth_service.create_client(
            session, organisation.id, "development key (all roles)", list(Role), secret_key=settings.secret_key
        )
    key_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(issued.api_key + "\n")
    os.chmod(key_path, 0o600)
    banner = "=" * 72
    typer.secho(
        f"{banner}\nDEVELOPMENT ONLY - an API key holding every role for the demo organisation:\n\n"
        f"    {issued.api_key}\n\nIt is shown once and written to {key_path} (mode 600).\n"
        f'Use it in /docs (Authorize) or: curl -H "Authorization: Bearer $(cat {key_path})" ...\n{banner}',
        fg=typer.colors.YELLOW,
    )


def _write_dev_log_key(path: Path) -> None:
    """The development checkpoint signing key (used when neither RISKAPI_LOG_SIGNING_KEY nor _FILE is set)."""
    from app.verifiable_log.keys import DEVELOPMENT_KEY_NAME, new_signer_key

    if path.exists():
        typer.echo(f"development checkpoint signing key in {path}")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(new_signer_key(DEVELOPMENT_KEY_NAME) + "\n")
    os.chmod(path, 0o600)
    typer.echo(f"wrote a development checkpoint signing key ({DEVELOPMENT_KEY_NAME}) to {path} (mode 600)")


def served_app() -> FastAPI:
    """The application as `riskapi serve` runs it in each worker process: built from the environment's settings,
    then the garbage collector tuned for a long-lived server (app/core/gc_tuning.py), which freezes what start-up
    built. Tests and tools that build many applications in one process call `create_app` and leave it alone."""
    from app.core.config import get_settings
    from app.core.gc_tuning import tune_garbage_collector
    from app.main import create_app

    app = create_app(get_settings())
    tune_garbage_collector()
    return app


@cli.command("serve")
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Serve the API with uvicorn (migrations are a separate command: `riskapi db upgrade`)."""
    import uvicorn

    uvicorn.run(
        "app.cli:served_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        access_log=False,
        # A worker that starts slowly on a busy machine (imports take seconds) is not killed and restarted in a
        # loop by uvicorn's 5 s health check.
        timeout_worker_healthcheck=30,
    )


@cli.command("worker")
def worker() -> None:
    """Deliver webhooks, raise the reviews that fall due and purge expired events, until SIGTERM or SIGINT
    (docs/worker.md). Run as many as you like on PostgreSQL; one on SQLite."""
    from app.core.config import get_settings
    from app.worker.main import run

    run(get_settings())


rules_app.command("describe")(describe)
cli.add_typer(rules_app, name="rules", help="Check, test and describe rule sets")
cli.add_typer(content_app, name="content")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
