"""`riskapi rules check|test`."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from app.rules_cli import rules_app
from tests.scoring.conftest import FIXTURES, QUESTIONNAIRE, ruleset_doc

runner = CliRunner()


def test_check_clean_rule_set() -> None:
    result = runner.invoke(
        rules_app, ["check", str(FIXTURES / "dash.ruleset.yaml"), "-q", str(FIXTURES / "dash.questionnaire.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


def test_check_a_questionnaire_alone() -> None:
    result = runner.invoke(rules_app, ["check", str(FIXTURES / "phq9.questionnaire.yaml")])
    assert result.exit_code == 0, result.output


def test_check_prints_errors_with_paths(tmp_path: Path) -> None:
    doc = ruleset_doc()
    doc["triggers"][0]["level"] = "catastrophic"
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(doc))
    questionnaire = tmp_path / "q.json"
    questionnaire.write_text(json.dumps(QUESTIONNAIRE))
    result = runner.invoke(rules_app, ["check", str(rules), "--questionnaire", str(questionnaire)])
    assert result.exit_code == 1
    assert "/triggers/0/level: unknown level 'catastrophic'" in result.output


def test_check_asks_every_band_for_a_reason_and_a_source(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(ruleset_doc()))  # its first two bands have neither
    questionnaire = tmp_path / "q.json"
    questionnaire.write_text(json.dumps(QUESTIONNAIRE))
    result = runner.invoke(rules_app, ["check", str(rules), "--questionnaire", str(questionnaire)])
    assert result.exit_code == 1
    assert "/bands/0: a band needs a reason (plain text for a professional)" in result.output
    assert "/bands/1: a band needs a source (citation tag)" in result.output
    assert "/bands/2" not in result.output


def test_check_without_questionnaire_looks_in_content(tmp_path: Path) -> None:
    doc = ruleset_doc()
    doc["questionnaire"] = {"key": "no-such-questionnaire", "version": 9}
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(doc))
    result = runner.invoke(rules_app, ["check", str(rules)])
    assert result.exit_code == 1
    assert "no-such-questionnaire.v9.yaml" in result.output


def test_test_command_runs_embedded_tests() -> None:
    result = runner.invoke(
        rules_app, ["test", str(FIXTURES / "phq9.ruleset.yaml"), "-q", str(FIXTURES / "phq9.questionnaire.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert "2 passed, 0 failed" in result.output


def test_test_command_fails_on_a_failing_test(tmp_path: Path) -> None:
    doc = yaml.safe_load((FIXTURES / "phq9.ruleset.yaml").read_text())
    doc["tests"][0]["expect"]["level"] = "severe"
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(doc))
    result = runner.invoke(rules_app, ["test", str(rules), "-q", str(FIXTURES / "phq9.questionnaire.yaml")])
    assert result.exit_code == 1
    assert "FAIL  all not at all" in result.output
    assert "level: expected severe, got minimal" in result.output
