"""`riskapi content ...` against a real server seeded like `make run`: the whole authoring workflow from the
command line (docs/authoring.md, "The same workflow from the command line"), errors on stderr with their
pointers and exit status 1, and no key means a usage error."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from app.cli import cli
from tests.servers import ROOT
from tests.test_openapi_examples import Served, served  # noqa: F401  (the fixture)

EXAMPLES = ROOT / "docs" / "examples"
QUESTIONNAIRE = str(EXAMPLES / "phq9.questionnaire.yaml")
RULESET = str(EXAMPLES / "phq9.ruleset.yaml")


# An HTTP client's behaviour does not depend on the database behind the API (the API tests cover both), and
# each run starts a server: SQLite only, to keep `make test` within its budget.
ON_SQLITE = pytest.mark.parametrize("served", ["sqlite"], indirect=True)


class Cli:
    def __init__(self, server: Served) -> None:
        self.served = server
        self.runner = CliRunner()

    def __call__(self, *args: str, key: str | None = None, exit_code: int = 0) -> Result:
        env = {"RISKAPI_URL": self.served.base, "RISKAPI_KEY": key if key is not None else self.served.key}
        result = self.runner.invoke(cli, ["content", *args], env=env)
        assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr, result.exception)
        return result

    def json(self, *args: str) -> dict[str, object]:
        body: dict[str, object] = json.loads(self(*args).stdout)
        return body


@ON_SQLITE
def test_the_whole_workflow_from_the_command_line(served: Served, tmp_path: Path) -> None:  # noqa: F811
    riskapi = Cli(served)
    author = ("--acting-user", "author-5")
    lead = ("--acting-user", "lead-2")

    draft = riskapi.json("questionnaire", "draft", QUESTIONNAIRE, *author)
    assert (draft["key"], draft["version"], draft["status"], draft["created_by"]) == ("phq-9", 1, "draft", "author-5")
    assert riskapi.json("questionnaire", "validate", "phq-9", "1")["valid"] is True
    draft = riskapi.json("ruleset", "draft", RULESET, *author)
    assert (draft["key"], draft["version"], draft["status"]) == ("phq-9-screening", 1, "draft")
    report = riskapi.json("ruleset", "validate", "phq-9-screening", "1")
    assert report["valid"] is True
    assert len(report["tests"]) == 11  # type: ignore[arg-type]

    refused = riskapi("ruleset", "publish", "phq-9-screening", "1", *lead, exit_code=1)
    assert refused.stdout == ""
    assert "HTTP 422 The request has invalid fields" in refused.stderr
    assert "  /questionnaire/version: questionnaire 'phq-9' version 1 is draft" in refused.stderr

    published = riskapi.json("questionnaire", "publish", "phq-9", "1", *lead)
    assert (published["status"], published["published_by"]) == ("published", "lead-2")
    impact = riskapi.json("ruleset", "impact", "phq-9-screening", "1", "--limit", "10", *author)
    assert (impact["assessed"], impact["limit"]) == (0, 10)
    published = riskapi.json("ruleset", "publish", "phq-9-screening", "1", "--make-current", *lead)
    assert (published["status"], published["published_by"]) == ("published", "lead-2")
    assert _current(served, "phq-9") == {"key": "phq-9-screening", "version": 1}

    assert riskapi.json("ruleset", "draft", RULESET, "--key", "phq-9-screening", *author)["version"] == 2
    stale = riskapi("ruleset", "publish", "phq-9-screening", "2", "--if-match", '"stale"', *lead, exit_code=1)
    assert "HTTP 412" in stale.stderr
    assert riskapi.json("ruleset", "publish", "phq-9-screening", "2", *lead)["status"] == "published"
    assert _current(served, "phq-9") == {"key": "phq-9-screening", "version": 1}
    current = riskapi.json("ruleset", "make-current", "phq-9-screening", "2", *lead)
    assert (current["ruleset"], current["updated_by"]) == ({"key": "phq-9-screening", "version": 2}, "lead-2")
    assert riskapi.json("ruleset", "retire", "phq-9-screening", "1", *lead)["status"] == "retired"

    in_use = riskapi("questionnaire", "retire", "phq-9", "1", *lead, exit_code=1)
    assert "HTTP 409" in in_use.stderr
    actions = [event["action"] for event in _audit(served) if event["acting_user"] in ("author-5", "lead-2")]
    assert actions == [
        "questionnaire.draft_created",
        "ruleset.draft_created",
        "questionnaire.published",
        "ruleset.impact_analysed",
        "ruleset.published",
        "ruleset.current_set",
        "ruleset.draft_created",
        "ruleset.published",
        "ruleset.current_set",
        "ruleset.retired",
    ]


@ON_SQLITE
def test_errors_go_to_stderr_with_their_pointers_and_exit_1(served: Served, tmp_path: Path) -> None:  # noqa: F811
    riskapi = Cli(served)
    broken = tmp_path / "broken.json"
    document = {"key": "broken-rules", "questionnaire": {"key": "online-exposure", "version": 1}, "levels": "none"}
    broken.write_text(json.dumps(document))
    refused = riskapi("ruleset", "draft", str(broken), exit_code=1)
    assert refused.stdout == ""
    assert "HTTP 422" in refused.stderr
    assert "\n  /levels: " in refused.stderr

    impact = riskapi("ruleset", "impact", "online-harm-england", "1", exit_code=1)
    assert "X-Acting-User header is required for case data" in impact.stderr

    missing = riskapi("ruleset", "validate", "no-such-rules", "1", exit_code=1)
    assert "HTTP 404" in missing.stderr


def test_the_key_comes_from_the_environment_only() -> None:
    # no server: the command stops before any request
    riskapi = Cli(Served(base="http://127.0.0.1:9", key="", database_url=""))
    result = riskapi("questionnaire", "validate", "phq-9", "1", key="", exit_code=2)
    assert "set RISKAPI_KEY to your API key" in result.stderr
    assert riskapi("ruleset", "validate", "online-harm-england", "1", "--key", "x", exit_code=2).stdout == ""


def _current(server: Served, questionnaire_key: str) -> object:
    response = httpx.get(
        f"{server.base}/v1/organisation/current-rulesets", headers={"Authorization": f"Bearer {server.key}"}
    )
    (current,) = [item for item in response.json()["items"] if item["questionnaire_key"] == questionnaire_key]
    return current["ruleset"]


def _audit(server: Served) -> list[dict[str, str]]:
    response = httpx.get(
        f"{server.base}/v1/audit/events?limit=200",
        headers={"Authorization": f"Bearer {server.key}", "X-Acting-User": "auditor-3"},
    )
    items: list[dict[str, str]] = response.json()["items"]
    return items
