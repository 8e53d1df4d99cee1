"""The checkpoint keys: `riskapi audit keys generate|show`, a rotation (both keys sign during the overlap, then the
old one is retired: published, never signing), the development key `riskapi dev-setup` writes, production refusing
to start without a key, and a bad key file named (file and line) without its key ever being echoed."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from typer.testing import CliRunner

from app.audit import service as audit_service
from app.cli import cli
from app.core.config import Environment, Settings, get_settings
from app.main import create_app
from app.verifiable_log.checkpoint import open_checkpoint
from app.verifiable_log.keys import (
    DEVELOPMENT_KEY_NAME,
    LogKeyError,
    load_log_keys,
    new_signer_key,
    verifiers_of,
)
from app.verifiable_log.note import Signer, UnverifiedNoteError, Verifier
from app.verifiable_log.schemas import LogKeysDocument
from app.verifiable_log.verification import TreeCheck
from tests.conftest import make_settings, make_tenant
from tests.verifiable_log.log_support import add_events, latest_checkpoint, worker_step


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("RISKAPI_DATABASE_URL", database_url)
    monkeypatch.setenv("RISKAPI_ENVIRONMENT", "test")
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def test_keys_generate_writes_the_signer_key_alone_mode_600_and_prints_the_verifier_key(tmp_path: Path) -> None:
    out, name = tmp_path / "log-key", "riskapi.example.org-2027"
    result = CliRunner().invoke(cli, ["audit", "keys", "generate", "--name", name, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    [line] = out.read_text().splitlines()
    signer = Signer.from_key(line)
    assert signer.name == name
    assert result.stdout.strip() == signer.verifier_key
    assert line not in result.output
    assert Verifier.from_key(result.stdout.strip()).key_id == signer.key_id

    again = CliRunner().invoke(cli, ["audit", "keys", "generate", "--name", "other", "--out", str(out)])
    assert again.exit_code == 1
    assert "never overwritten" in again.output
    assert out.read_text().splitlines() == [line]

    bad_name = CliRunner().invoke(cli, ["audit", "keys", "generate", "--name", "a+b", "--out", str(tmp_path / "x")])
    assert bad_name.exit_code == 1
    assert not (tmp_path / "x").exists()


def test_keys_show_prints_the_published_document_of_the_configured_keys(
    tmp_path: Path, cli_env: pytest.MonkeyPatch
) -> None:
    old, new = new_signer_key("riskapi-2026"), new_signer_key("riskapi-2027")
    key_file = tmp_path / "log-keys"
    key_file.write_text(f"# rotated in 2027\n{new}\n{Signer.from_key(old).verifier_key}\n")
    cli_env.setenv("RISKAPI_LOG_SIGNING_KEY_FILE", str(key_file))
    get_settings.cache_clear()
    result = CliRunner().invoke(cli, ["audit", "keys", "show"])
    assert result.exit_code == 0, result.output
    document = LogKeysDocument.model_validate(json.loads(result.stdout))
    assert document == load_log_keys(get_settings()).document()
    assert [(k.name, k.status) for k in document.keys] == [("riskapi-2027", "signing"), ("riskapi-2026", "retired")]
    assert [v.key for v in verifiers_of(document)] == [Signer.from_key(k).verifier_key for k in (new, old)]
    assert "PRIVATE" not in result.output


def test_a_rotation_overlaps_then_retires_the_old_key_and_every_checkpoint_keeps_verifying(
    database_url: str, tmp_path: Path
) -> None:
    old, new = new_signer_key("riskapi-2026"), new_signer_key("riskapi-2027")
    old_verifier, new_verifier = Signer.from_key(old).verifier, Signer.from_key(new).verifier
    key_file = tmp_path / "log-keys"
    phases = {
        "before": f"{old}\n",
        "overlap": f"{old}\n{new}\n",
        "retired": f"{new}\n{old_verifier.key}\n",
    }
    notes: dict[str, str] = {}
    apps: list[FastAPI] = []
    tenant = None
    try:
        for phase, lines in phases.items():
            key_file.write_text(lines)
            app = create_app(make_settings(database_url, log_signing_key_file=key_file))
            apps.append(app)
            tenant = tenant or make_tenant(app)
            add_events(app, tenant.organisation_id, 3)
            worker_step(app, tenant.organisation_id)
            notes[phase] = latest_checkpoint(app, tenant.organisation_id).note
        assert tenant is not None
        origin = app.state.log_keys.origin(tenant.slug)

        overlap = open_checkpoint(notes["overlap"], [old_verifier], origin=origin)
        assert [s.name for s in overlap.note.signatures] == ["riskapi-2026"]
        assert open_checkpoint(notes["overlap"], [new_verifier], origin=origin).checkpoint == overlap.checkpoint

        retired = open_checkpoint(notes["retired"], [new_verifier], origin=origin)
        assert [s.name for s in retired.note.signatures] == ["riskapi-2027"]
        assert retired.note.unverified == ()  # the new key's signature only
        with pytest.raises(UnverifiedNoteError):
            open_checkpoint(notes["retired"], [old_verifier], origin=origin)

        published = verifiers_of(app.state.log_keys.document())  # what GET /v1/audit/keys serves now
        for phase in ("before", "overlap", "retired"):
            open_checkpoint(notes[phase], published, origin=origin)
        with app.state.sessionmaker() as session:
            result = audit_service.verify(session, tenant.organisation_id, (), TreeCheck(app.state.log_keys))
        assert result.ok, result
        assert result.checkpoints_checked == 3
    finally:
        for made in apps:
            made.state.engine.dispose()


PRODUCTION = {
    "environment": Environment.production,
    "secret_key": "a-production-secret-key-of-at-least-32-characters",
    "public_base_url": "https://riskapi.example.org",
    "database_url": "postgresql+psycopg://riskapi@db.example.org/riskapi",
}


def test_production_refuses_to_start_without_a_checkpoint_key(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="RISKAPI_LOG_SIGNING_KEY"):
        Settings(**PRODUCTION)  # type: ignore[arg-type]
    assert Settings(**PRODUCTION, log_signing_key=new_signer_key("riskapi")).log_signing_key is not None  # type: ignore[arg-type]
    key_file = tmp_path / "log-key"
    key_file.write_text(new_signer_key("riskapi") + "\n")
    assert Settings(**PRODUCTION, log_signing_key_file=key_file).log_signing_key_file == key_file  # type: ignore[arg-type]


def test_a_bad_line_in_the_key_file_stops_start_up_naming_the_file_and_line_never_the_key(
    database_url: str, tmp_path: Path
) -> None:
    good = new_signer_key("riskapi-good")
    secret_part = new_signer_key("riskapi-bad").split("+", 4)[-1]
    bad = f"PRIVATE+KEY+riskapi-bad+00000000+{secret_part}"  # a key id that does not match its key
    key_file = tmp_path / "log-keys"
    key_file.write_text(f"# keys\n{good}\n{bad}\n")
    with pytest.raises(LogKeyError) as refused:
        create_app(make_settings(database_url, log_signing_key_file=key_file))
    message = str(refused.value)
    assert str(key_file) in message
    assert "line 3" in message
    assert secret_part not in message
    assert good.split("+", 4)[-1] not in message


def test_dev_setup_writes_a_development_key_once_mode_600(
    app: FastAPI, tmp_path: Path, cli_env: pytest.MonkeyPatch
) -> None:
    log_key = tmp_path / "var" / "dev-log-signing-key"
    cli_env.setenv("RISKAPI_DEV_KEY_PATH", str(tmp_path / "dev-api-key"))
    cli_env.setenv("RISKAPI_DEV_LOG_KEY_PATH", str(log_key))
    get_settings.cache_clear()
    first = CliRunner().invoke(cli, ["dev-setup"])
    assert first.exit_code == 0, first.output
    assert f"wrote a development checkpoint signing key ({DEVELOPMENT_KEY_NAME}) to {log_key}" in first.output
    assert stat.S_IMODE(log_key.stat().st_mode) == 0o600
    written = log_key.read_text()
    assert Signer.from_key(written.strip()).name == DEVELOPMENT_KEY_NAME
    assert written.strip() not in first.output

    second = CliRunner().invoke(cli, ["dev-setup"])
    assert second.exit_code == 0, second.output
    assert f"development checkpoint signing key in {log_key}" in second.output
    assert log_key.read_text() == written

    development = make_settings(
        str(app.state.settings.database_url), environment=Environment.development, dev_log_key_path=log_key
    )
    [signer] = load_log_keys(development).signers
    assert signer.key == written.strip()
