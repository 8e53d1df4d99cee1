"""`riskapi rules describe`: render the shipped questionnaire and rule set as Markdown.

Regenerate the committed copy with `python -m app.content.cli --output docs/default-content.md`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.content import default_questionnaire, default_ruleset
from app.content.describe import describe_markdown


def render_default_content() -> str:
    """The Markdown description of the shipped content."""
    return describe_markdown(default_questionnaire(), default_ruleset())


def describe(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the Markdown to this file instead of standard output."),
    ] = None,
) -> None:
    """Describe the default questionnaire and rule set in readable Markdown."""
    text = render_default_content()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


if __name__ == "__main__":  # pragma: no cover
    typer.run(describe)
