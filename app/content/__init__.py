"""Default content shipped with riskapi: the questionnaire and rule set as data files.

The files are package data (see `[tool.setuptools.package-data]` in pyproject.toml) and are read through
`importlib.resources`, so they load the same way from a source checkout, a wheel or a zip.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any, Final, Literal

from app.scoring import load_document

CONTENT_DIR: Final[Path] = Path(__file__).resolve().parent
"""Directory of the shipped content files in a source checkout (for tools and tests)."""

QUESTIONNAIRE_FILE: Final = "online-exposure.v1.yaml"
RULESET_FILE: Final = "online-harm-england.v1.yaml"

DocumentKind = Literal["questionnaire", "ruleset"]

SHIPPED_FILES: Final[tuple[tuple[DocumentKind, str], ...]] = (
    ("questionnaire", QUESTIONNAIRE_FILE),
    ("ruleset", RULESET_FILE),
)
"""(kind, file name) of every shipped document; questionnaires come before the rule sets that target them."""


def read_text(name: str) -> str:
    """The text of one shipped content file."""
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    """One shipped file parsed as a mapping, exactly as the engine reads documents (`load_document`).

    YAML anchors and `<<` merges are expanded; only true/false are booleans, so answer codes stay strings.
    """
    document = load_document(read_text(name))
    if not isinstance(document, dict):
        raise ValueError(f"{name}: a content document must be a mapping, not {type(document).__name__}")
    return document


def default_documents() -> list[tuple[str, dict[str, Any]]]:
    """Every shipped document as ("questionnaire" | "ruleset", parsed document), questionnaires first."""
    return [(kind, load(name)) for kind, name in SHIPPED_FILES]


def default_questionnaire() -> dict[str, Any]:
    return load(QUESTIONNAIRE_FILE)


def default_ruleset() -> dict[str, Any]:
    return load(RULESET_FILE)
