"""Level labels: declared in `level_labels`, else made from the level id."""

from __future__ import annotations

from app.scoring import parse_ruleset
from app.scoring.labels import default_level_label, level_label
from tests.scoring.conftest import ruleset_doc


def test_a_level_without_an_entry_gets_the_label_made_from_its_id() -> None:
    assert default_level_label("category_1") == "Category 1"
    assert default_level_label("probable_major_depression") == "Probable major depression"
    assert default_level_label("low") == "Low"


def test_a_declared_label_wins() -> None:
    doc = ruleset_doc()
    doc["level_labels"] = {"immediate": {"label": "Immediate danger", "description": "Act now."}}
    ruleset = parse_ruleset(doc)
    assert level_label(ruleset, "immediate") == "Immediate danger"
    assert level_label(ruleset, "medium") == "Medium"
