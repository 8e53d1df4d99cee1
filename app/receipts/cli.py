"""`riskapi receipt verify`: check a decision receipt offline (no database, no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.receipts.verify import EXIT_COULD_NOT_CHECK, Against, Report, verify_receipt

receipt_cli = typer.Typer(help="Decision receipts", no_args_is_help=True)


@receipt_cli.command("verify")
def verify(
    receipt: Annotated[Path, typer.Argument(help="the receipt (GET /v1/assessments/{id}/receipt), JSON")],
    public_key: Annotated[
        Path, typer.Option("--public-key", help="the pinned keys document (GET /v1/audit/keys, as served)")
    ],
    record: Annotated[
        Path | None,
        typer.Option(help="the stored record (GET /v1/assessments/{id}/record): also check the receipt commits to it"),
    ] = None,
    against: Annotated[
        Path | None,
        typer.Option(help="a later checkpoint of the same log (GET /v1/audit/checkpoint); needs --consistency"),
    ] = None,
    consistency: Annotated[
        Path | None,
        typer.Option(
            help="the consistency proof from the receipt's tree size to --against's (GET /v1/audit/proofs/consistency)"
        ),
    ] = None,
) -> None:
    """Check a receipt's signature, inclusion proofs and format; with --record, that it commits to that record; with
    --against and --consistency, that the log it is in was not rewritten since. Exit 0 verified, 1 does not verify,
    2 could not check."""
    report = _run(receipt, public_key, record, against, consistency)
    for line in report.out:
        typer.echo(line)
    for line in report.problems:
        typer.echo(line, err=True)
    if report.exit_code == EXIT_COULD_NOT_CHECK:
        typer.echo("(Could not check: this is not evidence of tampering.)", err=True)
    elif not report.verified:
        typer.echo("The receipt does NOT verify.", err=True)
    raise typer.Exit(code=report.exit_code)


def _run(
    receipt: Path, public_key: Path, record: Path | None, against: Path | None, consistency: Path | None
) -> Report:
    if (against is None) != (consistency is None):
        return Report(EXIT_COULD_NOT_CHECK, problems=["--against and --consistency go together"])
    try:
        later = Against(against.read_bytes(), consistency.read_bytes()) if against and consistency else None
        return verify_receipt(
            receipt.read_bytes(), public_key.read_bytes(), record.read_bytes() if record else None, later
        )
    except OSError as error:
        return Report(EXIT_COULD_NOT_CHECK, problems=[f"cannot read {error.filename}: {error.strerror}"])
