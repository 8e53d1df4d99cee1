"""`riskapi audit ...`: `verify [--org SLUG]` (exits 1 and names the first broken sequence number or what does not
match), `backfill [--org SLUG]` (builds the verifiable log's trees of existing events), `keys generate|show` (the
checkpoint signing keys, docs/worker.md) and `monitor --url URL --org SLUG --state FILE --keys KEYS.json` (exits 1
when history was rewritten, docs/verifiable-log.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

audit_cli = typer.Typer(help="Audit trail", no_args_is_help=True)
keys_cli = typer.Typer(help="Checkpoint signing keys of the verifiable log", no_args_is_help=True)
audit_cli.add_typer(keys_cli, name="keys")


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg=typer.colors.RED, err=True)
    return typer.Exit(code=1)


@audit_cli.command("verify")
def verify(
    org: Annotated[str | None, typer.Option(help="organisation slug (default: every organisation)")] = None,
) -> None:
    """Verify each organisation's audit hash chain from genesis to its head, its case records, and its verifiable
    log (the stored Merkle tree and every signed checkpoint, against the events)."""
    from app.audit import service
    from app.auth import service as auth_service
    from app.core.config import get_settings
    from app.core.db import create_db_engine, make_sessionmaker
    from app.main import CASE_RECORDS
    from app.verifiable_log.keys import LogKeyError, load_log_keys
    from app.verifiable_log.verification import TreeCheck

    settings = get_settings()
    try:
        log_check = TreeCheck(load_log_keys(settings))
    except LogKeyError as error:
        raise _fail(f"the checkpoint keys are unusable: {error}") from None
    engine = create_db_engine(settings)
    try:
        with make_sessionmaker(engine)() as session, session.begin():
            results = [
                (slug, service.verify(session, organisation_id, CASE_RECORDS, log_check))
                for organisation_id, slug in auth_service.organisations(session, org)
            ]
    finally:
        engine.dispose()
    if org is not None and not results:
        raise _fail(f"no organisation '{org}'")
    broken = False
    for slug, result in results:
        records = f"{result.records_checked} case records matched"
        if result.records_legacy:
            records += f", {result.records_legacy} written before record digests (existence and links only)"
        if result.tree_size is None:
            tree = "no Merkle tree yet (`riskapi audit backfill` builds it)"
        else:
            tree = f"tree at size {result.tree_size}, {result.checkpoints_checked} checkpoints verified"
        if result.ok:
            typer.echo(
                f"{slug}: ok, {result.events} events, head at sequence {result.head_sequence}, {records}, {tree}"
            )
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
        for log_problem in result.log_problems:
            typer.secho(f"{slug}: {log_problem.where}: {log_problem.problem}", fg=typer.colors.RED, err=True)
        if result.log_problems_total > len(result.log_problems):
            more = result.log_problems_total - len(result.log_problems)
            typer.secho(f"{slug}: ... and {more} more verifiable log problem(s)", fg=typer.colors.RED, err=True)
    if broken:
        raise typer.Exit(code=1)


@audit_cli.command("backfill")
def backfill(
    org: Annotated[str | None, typer.Option(help="organisation slug (default: every organisation)")] = None,
    batch: Annotated[int, typer.Option(min=1, help="events added per transaction")] = 100_000,
) -> None:
    """Build each organisation's Merkle tree over the audit events it does not hold yet (events written before the
    verifiable log existed), in committed batches, then sign a checkpoint when a signing key is configured.
    Idempotent; exits 1 naming the sequence where a broken chain stopped it."""
    from app.auth import service as auth_service
    from app.core.config import get_settings
    from app.core.db import create_db_engine, make_sessionmaker, utcnow
    from app.verifiable_log.backfill import backfill as backfill_organisation
    from app.verifiable_log.keys import LogKeyError, load_log_keys

    settings = get_settings()
    try:
        keys = load_log_keys(settings)
    except LogKeyError as error:
        raise _fail(f"the checkpoint keys are unusable: {error}") from None
    engine = create_db_engine(settings)
    broken = False
    try:
        sessions = make_sessionmaker(engine)
        with sessions() as session:
            organisations = auth_service.organisations(session, org)
        if org is not None and not organisations:
            raise _fail(f"no organisation '{org}'")
        if not keys.signers:
            typer.secho("no checkpoint signing key is configured: trees are built, nothing is signed", err=True)
        for organisation_id, slug in organisations:
            done = backfill_organisation(sessions, organisation_id, keys, utcnow, batch=batch)
            signed = f", checkpoint signed at size {done.signed_size}" if done.signed_size is not None else ""
            typer.echo(f"{slug}: tree at size {done.size} ({done.added} events added) in {done.seconds:.2f}s{signed}")
            if done.broken_at is not None:
                broken = True
                typer.secho(
                    f"{slug}: STOPPED at sequence {done.broken_at}: the chain is broken there "
                    "(`riskapi audit verify` says how)",
                    fg=typer.colors.RED,
                    err=True,
                )
    finally:
        engine.dispose()
    if broken:
        raise typer.Exit(code=1)


@keys_cli.command("generate")
def keys_generate(
    name: Annotated[str, typer.Option(help="the key's name, e.g. riskapi.example.org-2027 (no spaces or '+')")],
    out: Annotated[Path, typer.Option(help="file to write the signer (private) key to, mode 600; must not exist")],
) -> None:
    """Make a checkpoint signing key: the signer key line goes to OUT (never to the screen), the verifier (public)
    key to stdout. Point RISKAPI_LOG_SIGNING_KEY_FILE at OUT, or add the line to the key file beside the old one to
    rotate (docs/worker.md)."""
    from app.verifiable_log.keys import new_signer_key
    from app.verifiable_log.note import NoteError, Signer

    try:
        signer_key = new_signer_key(name)
    except NoteError as error:
        raise _fail(f"--name: {error}") from None
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise _fail(f"--out: {out} exists; a key file is never overwritten (choose another name)") from None
    except OSError as error:
        raise _fail(f"--out: {out} cannot be created: {error.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(signer_key + "\n")
    os.chmod(out, 0o600)
    typer.echo(Signer.from_key(signer_key).verifier_key)
    typer.echo(f"signer key written to {out} (mode 600); the line above is its public verifier key", err=True)


@keys_cli.command("show")
def keys_show() -> None:
    """Print the public keys document (what GET /v1/audit/keys serves) of the configured keys, to pin offline."""
    from app.core.config import get_settings
    from app.verifiable_log.keys import LogKeyError, load_log_keys

    try:
        keys = load_log_keys(get_settings())
    except LogKeyError as error:
        raise _fail(f"the checkpoint keys are unusable: {error}") from None
    typer.echo(keys.document().model_dump_json(indent=2))


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
