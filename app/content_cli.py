"""`riskapi content questionnaire|ruleset ...`: the authoring workflow from the command line, as a client of a
running server. Each command sends the one HTTP request the workflow documents (docs/authoring.md), so roles,
ETags, the publish gate and the audit trail apply exactly as over HTTP; nothing here reads the database."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import quote

import httpx
import typer
import yaml

DEFAULT_URL = "http://127.0.0.1:8000"
KEY_VARIABLE = "RISKAPI_KEY"
TIMEOUT_SECONDS = 120  # the publish gate and impact can take a while on a large rule set or many assessments

content_app = typer.Typer(
    help=f"Draft, validate, publish and retire content on a running server (API key from ${KEY_VARIABLE}).",
    no_args_is_help=True,
)
questionnaire_app = typer.Typer(help="Questionnaire versions: draft, validate, publish, retire.", no_args_is_help=True)
ruleset_app = typer.Typer(
    help="Rule-set versions: draft, validate, impact, publish, make current, retire.", no_args_is_help=True
)
content_app.add_typer(questionnaire_app, name="questionnaire")
content_app.add_typer(ruleset_app, name="ruleset")

UrlOption = Annotated[
    str, typer.Option("--url", envvar="RISKAPI_URL", help="The server's base URL.", show_default=True)
]
ActingUserOption = Annotated[
    str | None,
    typer.Option(
        "--acting-user",
        help="The person you act for, sent as X-Acting-User and recorded as created_by, published_by, ...; "
        "required by impact (case data).",
    ),
]
KeyArgument = Annotated[str, typer.Argument(help="The document's key, e.g. phq-9-screening.")]
VersionArgument = Annotated[int, typer.Argument(min=1, help="The version number.")]
FileArgument = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="The document, as YAML or JSON.")
]
KeyOverride = Annotated[
    str | None, typer.Option("--key", help="The key to draft under; default: the document's `key`.")
]


class Api:
    """One server, one API key (from the environment, so it stays out of shell history), one acting user."""

    def __init__(self, url: str, acting_user: str | None) -> None:
        api_key = os.environ.get(KEY_VARIABLE, "").strip()
        if not api_key:
            typer.echo(f"Error: set {KEY_VARIABLE} to your API key (it is never a command-line argument)", err=True)
            raise typer.Exit(2)
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        if acting_user is not None:
            headers["X-Acting-User"] = acting_user
        self.http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=TIMEOUT_SECONDS)

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            _fail(f"{method} {self.http.base_url}{path}: {exc}")
        if response.is_error:
            _print_problem(response)
            raise typer.Exit(1)
        return response


def _fail(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(1)


def _print_problem(response: httpx.Response) -> None:
    """The problem's title and detail, then each field error as `pointer: message`."""
    try:
        problem = response.json()
    except ValueError:
        problem = None
    if not isinstance(problem, dict):
        typer.echo(f"Error: HTTP {response.status_code}: {response.text[:500]}", err=True)
        return
    typer.echo(f"Error: HTTP {response.status_code} {problem.get('title', '')}".rstrip(), err=True)
    if problem.get("detail"):
        typer.echo(str(problem["detail"]), err=True)
    _print_errors(problem.get("errors"))


def _print_errors(errors: object) -> None:
    for error in errors if isinstance(errors, list) else []:
        if isinstance(error, dict):
            typer.echo(f"  {error.get('pointer') or '/'}: {error.get('detail', '')}", err=True)


def _print_json(response: httpx.Response) -> Any:
    body = response.json()
    typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
    return body


def _run(url: str, acting_user: str | None, step: Callable[[Api], httpx.Response]) -> Any:
    api = Api(url, acting_user)
    with api.http:
        return _print_json(step(api))


def _version_path(collection: str, key: str, version: int) -> str:
    return f"/v1/{collection}/{quote(key, safe='')}/versions/{version}"


def _draft(collection: str, file: Path, key: str | None, url: str, acting_user: str | None) -> None:
    """POST the file as it stands (YAML or JSON by its suffix), under the given key or the document's own."""
    content = file.read_bytes()
    is_json = file.suffix.lower() == ".json"
    if key is None:
        try:
            document = json.loads(content) if is_json else yaml.safe_load(content)
        except (ValueError, yaml.YAMLError) as exc:
            _fail(f"{file}: not valid {'JSON' if is_json else 'YAML'}: {exc}")
        key = document.get("key") if isinstance(document, dict) else None
        if not isinstance(key, str):
            _fail(f"{file} has no `key`; give one with --key")
    media_type = "application/json" if is_json else "application/yaml"
    _run(
        url,
        acting_user,
        lambda api: api.call(
            "POST",
            f"/v1/{collection}/{quote(key, safe='')}/versions",
            content=content,
            headers={"Content-Type": media_type},
        ),
    )


def _validate(collection: str, key: str, version: int, url: str, acting_user: str | None) -> None:
    """The stored version's validation report; exit status 1 when it is not valid (its errors on stderr)."""
    report = _run(url, acting_user, lambda api: api.call("POST", _version_path(collection, key, version) + "/validate"))
    failed_tests = [test for test in report.get("tests") or [] if not test.get("passed")]
    if report.get("valid") and not failed_tests:
        return
    typer.echo(f"Error: {key} version {version} is not valid", err=True)
    _print_errors(report.get("errors"))
    for test in failed_tests:
        typer.echo(f"  test '{test.get('name')}': {'; '.join(map(str, test.get('failures', [])))}", err=True)
    raise typer.Exit(1)


def _publish(
    collection: str, key: str, version: int, if_match: str | None, body: dict[str, Any] | None, api: Api
) -> httpx.Response:
    """Publish with If-Match: the ETag given, else the one of the version as it is now (so a change between the
    read and the publish is refused with a 412, never published unseen)."""
    path = _version_path(collection, key, version)
    etag = if_match or api.call("GET", path).headers.get("ETag")
    headers = {"If-Match": etag} if etag else {}
    return api.call("POST", f"{path}/publish", json=body, headers=headers)


IfMatchOption = Annotated[
    str | None,
    typer.Option(
        "--if-match",
        help="The ETag of the version as you reviewed it (412 if it changed since); default: its ETag now.",
    ),
]


@questionnaire_app.command("draft")
def questionnaire_draft(
    file: FileArgument, key: KeyOverride = None, url: UrlOption = DEFAULT_URL, acting_user: ActingUserOption = None
) -> None:
    """Create a new draft version from a file (POST /v1/questionnaires/{key}/versions)."""
    _draft("questionnaires", file, key, url, acting_user)


@questionnaire_app.command("validate")
def questionnaire_validate(
    key: KeyArgument, version: VersionArgument, url: UrlOption = DEFAULT_URL, acting_user: ActingUserOption = None
) -> None:
    """Run the static checks of a stored version (POST .../versions/{version}/validate)."""
    _validate("questionnaires", key, version, url, acting_user)


@questionnaire_app.command("publish")
def questionnaire_publish(
    key: KeyArgument,
    version: VersionArgument,
    if_match: IfMatchOption = None,
    url: UrlOption = DEFAULT_URL,
    acting_user: ActingUserOption = None,
) -> None:
    """Publish a draft (POST .../versions/{version}/publish, with If-Match)."""
    _run(url, acting_user, lambda api: _publish("questionnaires", key, version, if_match, None, api))


@questionnaire_app.command("retire")
def questionnaire_retire(
    key: KeyArgument, version: VersionArgument, url: UrlOption = DEFAULT_URL, acting_user: ActingUserOption = None
) -> None:
    """Retire a published version (POST .../versions/{version}/retire)."""
    _run(url, acting_user, lambda api: api.call("POST", f"{_version_path('questionnaires', key, version)}/retire"))


@ruleset_app.command("draft")
def ruleset_draft(
    file: FileArgument, key: KeyOverride = None, url: UrlOption = DEFAULT_URL, acting_user: ActingUserOption = None
) -> None:
    """Create a new draft version from a file (POST /v1/rulesets/{key}/versions)."""
    _draft("rulesets", file, key, url, acting_user)


@ruleset_app.command("validate")
def ruleset_validate(
    key: KeyArgument, version: VersionArgument, url: UrlOption = DEFAULT_URL, acting_user: ActingUserOption = None
) -> None:
    """Run the static checks and the embedded tests of a stored version (POST .../versions/{version}/validate)."""
    _validate("rulesets", key, version, url, acting_user)


@ruleset_app.command("impact")
def ruleset_impact(
    key: KeyArgument,
    version: VersionArgument,
    since: Annotated[
        str | None, typer.Option(help="Only assessments created at or after this time (ISO 8601 with a time zone).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only assessments created before this time (ISO 8601 with a time zone).")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="At most this many of the latest assessments.")] = None,
    url: UrlOption = DEFAULT_URL,
    acting_user: ActingUserOption = None,
) -> None:
    """Re-score your stored assessments with this version and count the level changes (POST .../impact)."""
    body: dict[str, Any] = {}
    if since is not None:
        body["since"] = since
    if until is not None:
        body["until"] = until
    if limit is not None:
        body["limit"] = limit
    _run(url, acting_user, lambda api: api.call("POST", f"{_version_path('rulesets', key, version)}/impact", json=body))


@ruleset_app.command("publish")
def ruleset_publish(
    key: KeyArgument,
    version: VersionArgument,
    make_current: Annotated[
        bool, typer.Option("--make-current", help="Also make it your current rule set for new assessments.")
    ] = False,
    if_match: IfMatchOption = None,
    url: UrlOption = DEFAULT_URL,
    acting_user: ActingUserOption = None,
) -> None:
    """Publish a draft through the gate (POST .../versions/{version}/publish, with If-Match)."""
    body = {"make_current": make_current}
    _run(url, acting_user, lambda api: _publish("rulesets", key, version, if_match, body, api))


@ruleset_app.command("make-current")
def ruleset_make_current(
    key: KeyArgument, version: VersionArgument, url: UrlOption = DEFAULT_URL, acting_user: ActingUserOption = None
) -> None:
    """Make a published version your current rule set, or roll back to one (PUT /v1/organisation/current-rulesets)."""
    body = {"ruleset": {"key": key, "version": version}}
    _run(url, acting_user, lambda api: api.call("PUT", "/v1/organisation/current-rulesets", json=body))


@ruleset_app.command("retire")
def ruleset_retire(
    key: KeyArgument, version: VersionArgument, url: UrlOption = DEFAULT_URL, acting_user: ActingUserOption = None
) -> None:
    """Retire a published version (POST .../versions/{version}/retire)."""
    _run(url, acting_user, lambda api: api.call("POST", f"{_version_path('rulesets', key, version)}/retire"))
