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

QUESTIONNAIRE_FILES: Final = ("online-exposure.v1.yaml", "online-exposure.v2.yaml")
RULESET_FILES: Final = ("online-harm-england.v1.yaml", "online-harm-england.v2.yaml")
"""Every shipped version, oldest first. A shipped file never changes once released (its content hash is stored):
a change is a new file with the next version, and the older versions stay shipped for replay and for the
organisations that keep them."""

QUESTIONNAIRE_FILE: Final = QUESTIONNAIRE_FILES[-1]
RULESET_FILE: Final = RULESET_FILES[-1]
"""The latest versions: the default content that `default_questionnaire`, `default_ruleset` and the docs describe."""

DocumentKind = Literal["questionnaire", "ruleset"]

SHIPPED_FILES: Final[tuple[tuple[DocumentKind, str], ...]] = (
    *(("questionnaire", name) for name in QUESTIONNAIRE_FILES),
    *(("ruleset", name) for name in RULESET_FILES),
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
    """The latest shipped questionnaire."""
    return load(QUESTIONNAIRE_FILE)


def default_ruleset() -> dict[str, Any]:
    """The latest shipped rule set: the one organisations created from now on use unless they choose another."""
    return load(RULESET_FILE)
