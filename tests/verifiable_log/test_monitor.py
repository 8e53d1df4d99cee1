"""`riskapi audit monitor`: first run stores the checkpoint; later runs accept a log that only grew (consistency
proof verified) and replace the state atomically; any inconsistency exits 1, prints the stored and the new size and
root and keeps the state; what is not evidence (network, key, files, malformed answers) exits 2. The core runs
through the app in process on both databases; the command runs for real against a real server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.auth.permissions import Role
from app.core.config import Settings
from app.main import create_app
from app.verifiable_log.monitor import STATE_FORMAT, run
from app.verifiable_log.note import b64encode, generate_signer
from tests.conftest import Tenant, make_tenant
from tests.servers import Server, start_server
from tests.verifiable_log.log_support import SIGNER_KEY, advance
from tests.verifiable_log.log_support import signing_settings as _signing_settings
from tests.verifiable_log.monitor_support import monitor_command, monitor_in_process, save_keys, through


@pytest.fixture
def settings(database_url: str) -> Settings:
    return _signing_settings(database_url)


@pytest.fixture
def keys(app: FastAPI, tmp_path: Path) -> Path:
    return save_keys(app, tmp_path / "keys.json")


@pytest.fixture
def state(tmp_path: Path) -> Path:
    return tmp_path / "monitor" / "state.json"


def monitor_key(tenant: Tenant) -> str:
    return tenant.keys[str(Role.monitor)]


def grow(app: FastAPI, tenant: Tenant, reads: int = 2) -> int:
    """Append audited events (reads of the audit trail) and sign a checkpoint over them: the new size."""
    with httpx.Client(transport=through(app), base_url="http://testserver") as http:
        for _ in range(reads):
            response = http.get("/v1/audit/verify", headers=tenant.headers(Role.auditor))
            assert response.status_code == 200, response.text
    return advance(app, tenant.organisation_id)


def stored(state: Path) -> dict[str, object]:
    body: dict[str, object] = json.loads(state.read_text(encoding="utf-8"))
    return body


@pytest.fixture(autouse=True)
def _state_directory(state: Path) -> None:
    state.parent.mkdir()


# --- consistent logs ----------------------------------------------------------------------------------------------


def test_first_run_stores_then_later_runs_accept_a_log_that_grew(
    app: FastAPI, tenant: Tenant, keys: Path, state: Path
) -> None:
    first = grow(app, tenant)
    report = monitor_in_process(app, tenant.slug, state, keys, monitor_key(tenant))
    assert report.exit_code == 0, report
    assert report.out[0].startswith(f"{app.state.settings.origin_prefix}/{tenant.slug}: first run: ")
    assert f"size {first}" in report.out[0]
    kept = stored(state)
    assert kept["format"] == STATE_FORMAT
    assert (kept["origin"], kept["tree_size"]) == (f"{app.state.settings.origin_prefix}/{tenant.slug}", first)
    assert str(kept["note"]).startswith(f"{kept['origin']}\n{first}\n{kept['root_hash']}\n\n")

    second = grow(app, tenant)
    assert second > first
    report = monitor_in_process(app, tenant.slug, state, keys, monitor_key(tenant))
    assert report.exit_code == 0, report
    assert report.out == [
        f"{kept['origin']}: ok, grew from size {first} to {second} (root {stored(state)['root_hash']})"
    ]
    assert stored(state)["tree_size"] == second

    # nothing signed since (the monitor's own reads are in the log, not yet in a checkpoint)
    report = monitor_in_process(app, tenant.slug, state, keys, monitor_key(tenant))
    assert report.exit_code == 0, report
    assert "unchanged at size" in report.out[0]
    assert [p.name for p in state.parent.iterdir()] == ["state.json"]  # no temporary file left behind


# --- evidence: exit 1, the state kept ---------------------------------------------------------------------------


def _kept_then(app: FastAPI, tenant: Tenant, keys: Path, state: Path) -> str:
    grow(app, tenant)
    assert monitor_in_process(app, tenant.slug, state, keys, monitor_key(tenant)).exit_code == 0
    return state.read_text(encoding="utf-8")


def _assert_inconsistent(app: FastAPI, tenant: Tenant, keys: Path, state: Path, before: str, reason: str) -> None:
    report = monitor_in_process(app, tenant.slug, state, keys, monitor_key(tenant))
    assert report.exit_code == 1, report
    assert report.out == []
    assert reason in report.err[0], report.err
    kept = json.loads(before)
    assert report.err[1] == f"  stored checkpoint: size {kept['tree_size']}, root {kept['root_hash']}"
    assert report.err[2].startswith("  server's checkpoint: size ")
    assert state.read_text(encoding="utf-8") == before


def test_a_different_root_at_the_same_size_is_evidence(app: FastAPI, tenant: Tenant, keys: Path, state: Path) -> None:
    before = _kept_then(app, tenant, keys, state)
    forked = {**json.loads(before), "root_hash": b64encode(b"\x01" * 32)}
    before = json.dumps(forked)
    state.write_text(before, encoding="utf-8")
    _assert_inconsistent(app, tenant, keys, state, before, "a different root at the same size")


def test_a_log_that_shrank_is_evidence(app: FastAPI, tenant: Tenant, keys: Path, state: Path) -> None:
    before = _kept_then(app, tenant, keys, state)
    larger = {**json.loads(before), "tree_size": json.loads(before)["tree_size"] + 10}
    before = json.dumps(larger)
    state.write_text(before, encoding="utf-8")
    _assert_inconsistent(app, tenant, keys, state, before, "the log shrank")


def test_a_consistency_proof_that_does_not_verify_is_evidence(
    app: FastAPI, tenant: Tenant, keys: Path, state: Path
) -> None:
    before = _kept_then(app, tenant, keys, state)
    forked = {**json.loads(before), "root_hash": b64encode(b"\x01" * 32)}  # a fork the server once showed us
    before = json.dumps(forked)
    state.write_text(before, encoding="utf-8")
    grow(app, tenant)
    _assert_inconsistent(app, tenant, keys, state, before, "the consistency proof does not verify")


def test_no_checkpoint_at_the_kept_size_is_evidence(app: FastAPI, tenant: Tenant, keys: Path, state: Path) -> None:
    before = _kept_then(app, tenant, keys, state)
    unsigned = {**json.loads(before), "tree_size": 1}
    before = json.dumps(unsigned)
    state.write_text(before, encoding="utf-8")
    grow(app, tenant)
    _assert_inconsistent(app, tenant, keys, state, before, "the server cannot prove consistency from size 1")


def test_a_log_that_lost_its_checkpoints_is_evidence(app: FastAPI, tenant: Tenant, keys: Path, state: Path) -> None:
    before = _kept_then(app, tenant, keys, state)
    with app.state.engine.begin() as connection:
        connection.execute(
            text("DELETE FROM audit_checkpoints WHERE organisation_id = :org"), {"org": tenant.organisation_id}
        )
    _assert_inconsistent(app, tenant, keys, state, before, "the server shows no checkpoint")


def test_a_checkpoint_the_pinned_keys_did_not_sign_is_evidence(
    app: FastAPI, tenant: Tenant, keys: Path, state: Path
) -> None:
    before = _kept_then(app, tenant, keys, state)
    _, stranger = generate_signer("riskapi-test")  # same name, another key
    document = json.loads(keys.read_text(encoding="utf-8"))
    document["keys"][0]["verifier_key"] = stranger
    document["keys"][0]["key_id"] = stranger.split("+")[1]
    keys.write_text(json.dumps(document), encoding="utf-8")
    _assert_inconsistent(app, tenant, keys, state, before, "does not verify with the pinned keys")


# --- no evidence either way: exit 2, the state kept --------------------------------------------------------------


def test_what_is_not_evidence_exits_2_and_keeps_the_state(
    app: FastAPI, tenant: Tenant, keys: Path, state: Path, tmp_path: Path
) -> None:
    before = _kept_then(app, tenant, keys, state)
    grow(app, tenant)

    def refused(report_err: list[str], exit_code: int, *expected: str) -> None:
        assert exit_code == 2, report_err
        assert all(any(text in line for line in report_err) for text in expected), report_err
        assert state.read_text(encoding="utf-8") == before

    no_key = monitor_in_process(app, tenant.slug, state, keys, None)
    refused(no_key.err, no_key.exit_code, "RISKAPI_MONITOR_KEY")
    wrong = monitor_in_process(app, tenant.slug, state, keys, "rk_" + "x" * 43)
    refused(wrong.err, wrong.exit_code, "HTTP 401", "not evidence of tampering")
    assessor = monitor_in_process(app, tenant.slug, state, keys, tenant.keys[str(Role.assessor)])
    refused(assessor.err, assessor.exit_code, "HTTP 403", "monitor role")
    other_org = monitor_in_process(app, "another-org", state, keys, monitor_key(tenant))
    refused(other_org.err, other_org.exit_code, "is for the log")
    missing_keys = monitor_in_process(app, tenant.slug, state, tmp_path / "nope.json", monitor_key(tenant))
    refused(missing_keys.err, missing_keys.exit_code, "cannot read the keys file")
    (tmp_path / "bad.json").write_text('{"format": "something else"}', encoding="utf-8")
    bad_keys = monitor_in_process(app, tenant.slug, state, tmp_path / "bad.json", monitor_key(tenant))
    refused(bad_keys.err, bad_keys.exit_code, "is not a keys document")

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    down = run("http://testserver", tenant.slug, state, keys, monitor_key(tenant), httpx.MockTransport(unreachable))
    refused(down.err, down.exit_code, "ConnectError")
    garbled = httpx.MockTransport(lambda request: httpx.Response(200, json={"tree_size": "many"}))
    malformed = run("http://testserver", tenant.slug, state, keys, monitor_key(tenant), garbled)
    refused(malformed.err, malformed.exit_code, "not what the API documents")


def test_before_the_first_checkpoint_there_is_nothing_to_check(
    app: FastAPI, tenant: Tenant, keys: Path, state: Path
) -> None:
    report = monitor_in_process(app, tenant.slug, state, keys, monitor_key(tenant))
    assert report.exit_code == 2, report
    assert "HTTP 404" in report.err[0]
    assert not state.exists()


# --- the real command against a real server -----------------------------------------------------------------------


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    served = start_server(database_url, tmp_path / "server.log", RISKAPI_LOG_SIGNING_KEY=SIGNER_KEY)
    try:
        yield served
    finally:
        served.stop()


def test_the_command_end_to_end(database_url: str, server: Server, tmp_path: Path) -> None:
    # The test's own app on the server's database: to make the organisation and keys, and to do the worker's step.
    worker = create_app(_signing_settings(database_url))
    try:
        tenant = make_tenant(worker, (Role.monitor,), (Role.auditor,))
        keys = tmp_path / "keys.json"
        keys.write_bytes(httpx.get(f"{server.base}/v1/audit/keys", timeout=10).content)
        state = tmp_path / "state.json"

        def grow_on_server() -> int:
            audited = httpx.get(f"{server.base}/v1/audit/verify", headers=tenant.headers(Role.auditor), timeout=10)
            assert audited.status_code == 200, audited.text
            return advance(worker, tenant.organisation_id)

        first = grow_on_server()
        done = monitor_command(server.base, tenant.slug, state, keys, tenant.keys[str(Role.monitor)])
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert "first run" in done.stdout
        assert f"size {first}" in done.stdout

        second = grow_on_server()
        done = monitor_command(server.base, tenant.slug, state, keys, tenant.keys[str(Role.monitor)])
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert f"grew from size {first} to {second}" in done.stdout

        kept = state.read_text(encoding="utf-8")
        forked = {**json.loads(kept), "root_hash": b64encode(b"\x02" * 32)}
        state.write_text(json.dumps(forked), encoding="utf-8")
        done = monitor_command(server.base, tenant.slug, state, keys, tenant.keys[str(Role.monitor)])
        assert done.returncode == 1, (done.stdout, done.stderr)
        assert f"stored checkpoint: size {second}, root {forked['root_hash']}" in done.stderr

        done = monitor_command(server.base, tenant.slug, state, keys, "")
        assert done.returncode == 2, (done.stdout, done.stderr)
        assert "RISKAPI_MONITOR_KEY" in done.stderr
    finally:
        worker.state.engine.dispose()
