"""`riskapi rules check|test`: static checks and embedded tests of rule-set files, for rule authors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.scoring import (
    DefinitionError,
    Issue,
    Questionnaire,
    RuleSet,
    authoring_issues,
    check,
    compile_ruleset,
    load_document,
    parse_questionnaire,
    parse_ruleset,
    run_tests,
)

CONTENT_DIR = Path(__file__).parent / "content"

rules_app = typer.Typer(help="Check and test questionnaires and rule sets.", no_args_is_help=True)

FileArgument = Annotated[Path, typer.Argument(help="rule set (or questionnaire) as YAML or JSON")]
QuestionnaireOption = Annotated[
    Path | None,
    typer.Option(
        "--questionnaire", "-q", help="the questionnaire; default app/content/<key>.v<version>.yaml of the rule set"
    ),
]


def _print_issues(title: str, issues: list[Issue]) -> None:
    typer.echo(f"{title}: {len(issues)} error(s)", err=True)
    for issue in issues:
        typer.echo(f"  {issue.pointer or '/'}: {issue.message}", err=True)


def _load(file: Path, questionnaire_file: Path | None) -> tuple[RuleSet, Questionnaire]:
    document = load_document(file)
    ruleset = parse_ruleset(document)
    ref = ruleset.questionnaire
    path = questionnaire_file or CONTENT_DIR / f"{ref.key}.v{ref.version}.yaml"
    if not path.exists():
        raise DefinitionError([Issue("/questionnaire", f"questionnaire file not found: {path} (use --questionnaire)")])
    try:
        questionnaire = parse_questionnaire(load_document(path))
    except DefinitionError as exc:
        raise DefinitionError([Issue(f"{path}:{issue.pointer}", issue.message) for issue in exc.issues]) from None
    return ruleset, questionnaire


def _is_questionnaire(document: object) -> bool:
    return isinstance(document, dict) and "items" in document and "levels" not in document


@rules_app.command("check")
def run_checks(file: FileArgument, questionnaire: QuestionnaireOption = None) -> None:
    """Run the static checks (monotonicity included) and the authoring checks (bands need a reason and a source)
    and print every error with its path."""
    try:
        document = load_document(file)
        if _is_questionnaire(document):
            parse_questionnaire(document)
            typer.echo(f"{file}: questionnaire OK")
            return
        ruleset, parsed_questionnaire = _load(file, questionnaire)
        issues = check(ruleset, parsed_questionnaire) + authoring_issues(ruleset)
    except DefinitionError as exc:
        _print_issues(str(file), exc.issues)
        raise typer.Exit(1) from None
    if issues:
        _print_issues(str(file), issues)
        raise typer.Exit(1)
    typer.echo(f"{file}: OK ({ruleset.key} v{ruleset.version}, {len(ruleset.tests)} embedded test(s))")


@rules_app.command("test")
def run_embedded_tests(file: FileArgument, questionnaire: QuestionnaireOption = None) -> None:
    """Compile the rule set and run its embedded tests."""
    try:
        ruleset, parsed_questionnaire = _load(file, questionnaire)
        compiled = compile_ruleset(ruleset, parsed_questionnaire)
    except DefinitionError as exc:
        _print_issues(str(file), exc.issues)
        raise typer.Exit(1) from None
    outcomes = run_tests(compiled)
    failed = [outcome for outcome in outcomes if not outcome.passed]
    for outcome in outcomes:
        typer.echo(f"{'PASS' if outcome.passed else 'FAIL'}  {outcome.name}")
        for failure in outcome.failures:
            typer.echo(f"      {failure}")
    typer.echo(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    if failed or not outcomes:
        if not outcomes:
            typer.echo("no embedded tests: a rule set needs tests before it can be published", err=True)
        raise typer.Exit(1)
