"""`riskapi audit verify [--org SLUG]`: exits 1 and names the first broken sequence number.
`riskapi audit monitor --url URL --org SLUG --state FILE --keys KEYS.json`: exits 1 when history was rewritten."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

audit_cli = typer.Typer(help="Audit trail", no_args_is_help=True)


@audit_cli.command("verify")
def verify(
    org: Annotated[str | None, typer.Option(help="organisation slug (default: every organisation)")] = None,
) -> None:
    """Verify each organisation's audit hash chain from genesis to its head."""
    from app.audit import service
    from app.auth import service as auth_service
    from app.core.config import get_settings
    from app.core.db import create_db_engine, make_sessionmaker
    from app.main import CASE_RECORDS

    engine = create_db_engine(get_settings())
    try:
        with make_sessionmaker(engine)() as session, session.begin():
            results = [
                (slug, service.verify(session, organisation_id, CASE_RECORDS))
                for organisation_id, slug in auth_service.organisations(session, org)
            ]
    finally:
        engine.dispose()
    if org is not None and not results:
        typer.secho(f"no organisation '{org}'", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1)
    broken = False
    for slug, result in results:
        records = f"{result.records_checked} case records matched"
        if result.records_legacy:
            records += f", {result.records_legacy} written before record digests (existence and links only)"
        if result.ok:
            typer.echo(f"{slug}: ok, {result.events} events, head at sequence {result.head_sequence}, {records}")
            continue
        broken = True
        if result.first_broken_sequence is not None:
            typer.secho(
                f"{slug}: BROKEN at sequence {result.first_broken_sequence}: {result.problem}",
                fg=typer.colors.RED,
                err=True,
            )
        for problem in result.record_problems:
            at = f" (event {problem.sequence})" if problem.sequence is not None else ""
            typer.secho(f"{slug}: {problem.record}: {problem.problem}{at}", fg=typer.colors.RED, err=True)
    if broken:
        raise typer.Exit(code=1)


@audit_cli.command("monitor")
def monitor(
    url: Annotated[str, typer.Option("--url", help="The server's base URL, e.g. https://riskapi.example")],
    org: Annotated[str, typer.Option("--org", help="The organisation's slug (its log's origin ends in it)")],
    state: Annotated[
        Path, typer.Option("--state", dir_okay=False, help="The state file: the last checkpoint accepted")
    ],
    keys: Annotated[
        Path,
        typer.Option("--keys", dir_okay=False, help="The pinned keys: GET /v1/audit/keys, saved once, as is"),
    ],
) -> None:
    """Check that the organisation's log only grew since the last run (API key from $RISKAPI_MONITOR_KEY).

    Exits 0 when the latest checkpoint verifies and extends the stored one (then stores it), 1 on evidence that
    history was rewritten (prints the stored and the new size and root; the state is kept), 2 when it could not
    check (network, key, files)."""
    from app.verifiable_log.monitor import KEY_VARIABLE, run

    report = run(url, org, state, keys, os.environ.get(KEY_VARIABLE, "").strip() or None)
    for line in report.out:
        typer.echo(line)
    for line in report.err:
        typer.secho(line, fg=typer.colors.RED, err=True)
    raise typer.Exit(code=report.exit_code)
