"""The verifiable log over HTTP: the public keys document, signed checkpoints and both proofs, each checked with
the pure verifiers (open_checkpoint with the published keys and origin, verify_inclusion, verify_consistency)
after the worker's step signed; who may read them; every read audited; another organisation's log invisible."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.auth.permissions import Role
from app.core.config import Settings
from app.rulesets.seed import seed_default_content
from app.verifiable_log import merkle
from app.verifiable_log.keys import verifiers_of
from tests.assessments.conftest import create
from tests.conftest import Tenant
from tests.verifiable_log.log_support import VERIFIER_KEY, advance, b64, keys_document, leaf_hashes, opened
from tests.verifiable_log.log_support import signing_settings as _signing_settings

PROBLEM = "application/problem+json"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return _signing_settings(database_url)


@pytest.fixture(autouse=True)
def seeded(app: FastAPI) -> None:
    with app.state.sessionmaker.begin() as session:
        seed_default_content(session)


def auditor(tenant: Tenant) -> dict[str, str]:
    return tenant.headers(Role.auditor, acting_user=None)


async def get_json(client: httpx.AsyncClient, url: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await client.get(url, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def audit_actions(client: httpx.AsyncClient, tenant: Tenant, prefix: str = "audit.") -> list[dict[str, Any]]:
    """The organisation's events whose action starts with `prefix`, oldest first."""
    response = await client.get(
        "/v1/audit/events", params={"limit": 200}, headers=tenant.headers(Role.auditor, acting_user="dpo")
    )
    assert response.status_code == 200, response.text
    return [e for e in response.json()["items"] if e["action"].startswith(prefix)]


async def assessments(client: httpx.AsyncClient, tenant: Tenant, count: int) -> None:
    for number in range(count):
        await create(client, tenant, subject_ref=f"case-{number}")


def assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"] == f"/problems/{kind}"
    return body


# --- the keys document ------------------------------------------------------------------------------------------


async def test_the_keys_document_is_public_and_is_what_verifiers_accept(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    response = await client.get("/v1/audit/keys")  # no key at all
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["format"] == "riskapi.log-keys.v1"
    assert body["origin_prefix"] == settings.origin_prefix
    assert [(k["verifier_key"], k["status"], k["algorithm"]) for k in body["keys"]] == [
        (VERIFIER_KEY, "signing", "ed25519")
    ]
    assert [v.key for v in verifiers_of(await keys_document(client))] == [VERIFIER_KEY]


# --- checkpoints --------------------------------------------------------------------------------------------------


async def test_the_latest_checkpoint_is_404_until_one_is_signed_then_verifies(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    none_yet = await client.get("/v1/audit/checkpoint", headers=auditor(tenant))
    assert_problem(none_yet, 404, "not-found")

    await assessments(client, tenant, 2)
    size = advance(app, tenant.organisation_id)
    checkpoint = await get_json(client, "/v1/audit/checkpoint", auditor(tenant))
    assert checkpoint["tree_size"] == size
    checked = (await opened(client, checkpoint, tenant.slug)).checkpoint
    assert (checked.size, checked.root_hash) == (size, b64(checkpoint["root_hash"]))
    assert checkpoint["origin"] == checked.origin
    assert checked.root_hash == merkle.root(merkle.build(leaf_hashes(app, tenant.organisation_id, size)), size)
    assert checkpoint["signed_at"].endswith("Z") or "+00:00" in checkpoint["signed_at"]


async def test_a_checkpoint_signed_for_another_origin_does_not_open(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await assessments(client, tenant, 1)
    advance(app, tenant.organisation_id)
    checkpoint = await get_json(client, "/v1/audit/checkpoint", auditor(tenant))
    with pytest.raises(ValueError, match="origin"):
        await opened(client, checkpoint, other_tenant.slug)


async def test_a_checkpoint_at_a_size_has_an_etag_and_other_sizes_are_404(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await assessments(client, tenant, 1)
    size = advance(app, tenant.organisation_id)
    url = f"/v1/audit/checkpoints/{size}"
    response = await client.get(url, headers=auditor(tenant))
    assert response.status_code == 200, response.text
    assert response.json()["tree_size"] == size
    assert response.json() == await get_json(client, "/v1/audit/checkpoint", auditor(tenant))
    etag = response.headers["etag"]
    again = await client.get(url, headers={**auditor(tenant), "If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    assert again.content == b""
    assert (await client.get(url, headers={**auditor(tenant), "If-None-Match": '"other"'})).status_code == 200

    # Never signed for a past size, nor for one that does not exist yet
    assert_problem(await client.get(f"/v1/audit/checkpoints/{size - 1}", headers=auditor(tenant)), 404, "not-found")
    assert_problem(await client.get(f"/v1/audit/checkpoints/{size + 1}", headers=auditor(tenant)), 404, "not-found")
    for bad in ("0", str(2**63), "x"):
        refused = assert_problem(
            await client.get(f"/v1/audit/checkpoints/{bad}", headers=auditor(tenant)), 422, "validation-error"
        )
        assert [e["pointer"] for e in refused["errors"]] == ["/tree_size"]


# --- proofs -------------------------------------------------------------------------------------------------------


async def test_every_event_has_an_inclusion_proof_that_verifies(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await assessments(client, tenant, 3)
    size = advance(app, tenant.organisation_id)
    assert size >= 3
    root = b64((await get_json(client, f"/v1/audit/checkpoints/{size}", auditor(tenant)))["root_hash"])
    leaves = leaf_hashes(app, tenant.organisation_id, size)
    for sequence in range(1, size + 1):
        proof = await get_json(client, "/v1/audit/proofs/inclusion", auditor(tenant), sequence=sequence, tree_size=size)
        assert (proof["sequence"], proof["leaf_index"], proof["tree_size"]) == (sequence, sequence - 1, size)
        leaf, hashes = b64(proof["leaf_hash"]), [b64(h) for h in proof["hashes"]]
        assert leaf == leaves[sequence - 1]  # the leaf of the event as the audit chain holds it
        assert merkle.verify_inclusion(leaf, sequence - 1, size, hashes, root)
        # the check can fail: another event's leaf, or a wrong index, does not lead to the root
        assert not merkle.verify_inclusion(leaves[sequence % size], sequence - 1, size, hashes, root)
        if size > 1:
            assert not merkle.verify_inclusion(leaf, sequence % size, size, hashes, root)


async def test_an_inclusion_proof_names_a_sequence_outside_the_tree_and_needs_a_signed_size(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await assessments(client, tenant, 1)
    size = advance(app, tenant.organisation_id)
    url = "/v1/audit/proofs/inclusion"
    outside = await client.get(url, params={"sequence": size + 1, "tree_size": size}, headers=auditor(tenant))
    body = assert_problem(outside, 422, "validation-error")
    assert [(e["pointer"], e["location"]) for e in body["errors"]] == [("/sequence", "query")]
    unsigned = await client.get(url, params={"sequence": 1, "tree_size": size + 1}, headers=auditor(tenant))
    assert_problem(unsigned, 404, "not-found")
    for params, pointer in (
        ({"sequence": 0, "tree_size": size}, "/sequence"),
        ({"sequence": 2**63, "tree_size": size}, "/sequence"),
        ({"sequence": 1, "tree_size": 2**64}, "/tree_size"),
        ({"sequence": 1}, "/tree_size"),
    ):
        refused = assert_problem(await client.get(url, params=params, headers=auditor(tenant)), 422, "validation-error")
        assert [e["pointer"] for e in refused["errors"]] == [pointer], params


async def test_a_consistency_proof_links_two_signed_checkpoints(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await assessments(client, tenant, 2)
    old_size = advance(app, tenant.organisation_id)
    old = await get_json(client, "/v1/audit/checkpoint", auditor(tenant))
    await assessments(client, tenant, 3)
    new_size = advance(app, tenant.organisation_id)
    new = await get_json(client, "/v1/audit/checkpoint", auditor(tenant))
    assert new_size > old_size
    old_root = (await opened(client, old, tenant.slug)).checkpoint.root_hash
    new_root = (await opened(client, new, tenant.slug)).checkpoint.root_hash

    proof = await get_json(
        client, "/v1/audit/proofs/consistency", auditor(tenant), **{"from": old_size, "to": new_size}
    )
    assert (proof["from_size"], proof["to_size"]) == (old_size, new_size)
    hashes = [b64(h) for h in proof["hashes"]]
    assert merkle.verify_consistency(old_size, new_size, hashes, old_root, new_root)
    assert not merkle.verify_consistency(old_size, new_size, hashes, new_root, new_root)  # it can fail
    same = await get_json(client, "/v1/audit/proofs/consistency", auditor(tenant), **{"from": new_size, "to": new_size})
    assert same["hashes"] == []


async def test_a_consistency_proof_refuses_a_reversed_range_and_unsigned_sizes(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await assessments(client, tenant, 1)
    size = advance(app, tenant.organisation_id)
    url = "/v1/audit/proofs/consistency"
    reversed_range = await client.get(url, params={"from": size + 1, "to": size}, headers=auditor(tenant))
    body = assert_problem(reversed_range, 422, "validation-error")
    assert [(e["pointer"], e["location"]) for e in body["errors"]] == [("/from", "query")]
    for params in ({"from": size, "to": size + 1}, {"from": size + 1, "to": size + 2}, {"from": 1, "to": size}):
        if params == {"from": 1, "to": size} and size == 1:
            continue
        assert_problem(await client.get(url, params=params, headers=auditor(tenant)), 404, "not-found")
    missing_to = await client.get(url, params={"from": size}, headers=auditor(tenant))
    assert [e["pointer"] for e in assert_problem(missing_to, 422, "validation-error")["errors"]] == ["/to"]


async def test_missing_tree_storage_is_a_clear_409_not_a_500(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await assessments(client, tenant, 3)
    first = advance(app, tenant.organisation_id)
    await assessments(client, tenant, 2)
    second = advance(app, tenant.organisation_id)
    inclusion = {"sequence": 1, "tree_size": second}
    consistency = {"from": first, "to": second}
    await get_json(client, "/v1/audit/proofs/inclusion", auditor(tenant), **inclusion)
    await get_json(client, "/v1/audit/proofs/consistency", auditor(tenant), **consistency)
    with app.state.engine.begin() as connection:
        connection.execute(
            text("DELETE FROM merkle_nodes WHERE organisation_id = :org"), {"org": tenant.organisation_id}
        )
    for url, params in (("/v1/audit/proofs/inclusion", inclusion), ("/v1/audit/proofs/consistency", consistency)):
        response = await client.get(url, params=params, headers=auditor(tenant))
        body = assert_problem(response, 409, "log-storage-damaged")
        assert "riskapi audit verify" in body["detail"]
    assert (await client.get("/problems/log-storage-damaged")).status_code == 200


async def test_an_unreadable_stored_checkpoint_is_a_409_too(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await assessments(client, tenant, 1)
    size = advance(app, tenant.organisation_id)
    with app.state.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_checkpoints SET note = 'not a checkpoint' WHERE organisation_id = :org"),
            {"org": tenant.organisation_id},
        )
    for url in ("/v1/audit/checkpoint", f"/v1/audit/checkpoints/{size}"):
        body = assert_problem(await client.get(url, headers=auditor(tenant)), 409, "log-storage-damaged")
        assert body["detail"] == f"The checkpoint stored at tree size {size} cannot be read; run `riskapi audit verify`"


# --- who may read, and what is recorded ------------------------------------------------------------------------


async def test_a_monitor_key_reads_checkpoints_and_proofs_and_nothing_else(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    created = await create(client, tenant)
    size = advance(app, tenant.organisation_id)
    monitor = tenant.headers(Role.monitor, acting_user=None)
    for url, params in (
        ("/v1/audit/checkpoint", {}),
        (f"/v1/audit/checkpoints/{size}", {}),
        ("/v1/audit/proofs/inclusion", {"sequence": 1, "tree_size": size}),
        ("/v1/audit/proofs/consistency", {"from": size, "to": size}),
    ):
        await get_json(client, url, monitor, **params)

    with_user = tenant.headers(Role.monitor, acting_user="someone")
    refused = [
        await client.get("/v1/assessments", headers=with_user),
        await client.get(f"/v1/assessments/{created['id']}", headers=with_user),
        await client.post("/v1/assessments", json={}, headers=with_user),
        await client.get("/v1/questionnaires", headers=with_user),
        await client.get("/v1/rulesets", headers=with_user),
        await client.post(
            "/v1/rulesets/online-harm-england/versions/1/evaluate", json={"answers": {}}, headers=with_user
        ),
        await client.get("/v1/audit/events", headers=with_user),
        await client.get("/v1/audit/verify", headers=with_user),
    ]
    for response in refused:
        assert_problem(response, 403, "forbidden")


async def test_roles_without_read_checkpoints_get_403_and_no_key_401(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await assessments(client, tenant, 1)
    advance(app, tenant.organisation_id)
    for role in (Role.assessor, Role.supervisor, Role.rule_author, Role.rule_publisher):
        response = await client.get("/v1/audit/checkpoint", headers=tenant.headers(role))
        body = assert_problem(response, 403, "forbidden")
        assert body["detail"].startswith("This operation needs one of the roles: auditor, admin, monitor ")
    for role in (Role.auditor, Role.admin, Role.monitor):
        await get_json(client, "/v1/audit/checkpoint", tenant.headers(role, acting_user=None))
    assert_problem(await client.get("/v1/audit/checkpoint"), 401, "unauthenticated")


async def test_another_organisations_checkpoints_and_proofs_are_never_visible(
    app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    await assessments(client, tenant, 4)
    size = advance(app, tenant.organisation_id)
    other = other_tenant.headers(Role.monitor, acting_user=None)
    for url, params in (
        ("/v1/audit/checkpoint", {}),
        (f"/v1/audit/checkpoints/{size}", {}),
        ("/v1/audit/proofs/inclusion", {"sequence": 1, "tree_size": size}),
        ("/v1/audit/proofs/consistency", {"from": size, "to": size}),
    ):
        assert_problem(await client.get(url, params=params, headers=other), 404, "not-found")

    # once the other organisation has its own log, it sees that one: its own origin, its own size
    await create(client, other_tenant)
    other_size = advance(app, other_tenant.organisation_id)
    own = await get_json(client, "/v1/audit/checkpoint", other)
    assert own["tree_size"] == other_size
    assert (await opened(client, own, other_tenant.slug)).checkpoint.origin.endswith("/" + other_tenant.slug)
    theirs = await get_json(client, "/v1/audit/checkpoint", auditor(tenant))
    assert theirs["root_hash"] != own["root_hash"]


async def test_each_read_is_audited_without_case_data(app: FastAPI, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await assessments(client, tenant, 1)
    size = advance(app, tenant.organisation_id)
    monitor = tenant.headers(Role.monitor, acting_user=None)
    latest = await get_json(client, "/v1/audit/checkpoint", monitor)
    await get_json(client, f"/v1/audit/checkpoints/{size}", monitor)
    await get_json(client, "/v1/audit/proofs/inclusion", monitor, sequence=1, tree_size=size)
    await get_json(client, "/v1/audit/proofs/consistency", monitor, **{"from": size, "to": size})
    await client.get("/v1/audit/keys")  # public: no organisation to record it in

    recorded = [e for e in await audit_actions(client, tenant) if e["resource_type"] == "checkpoint"]
    assert [(e["action"], e["details"]) for e in recorded] == [
        ("audit.checkpoint_read", {"tree_size": size, "latest": True}),
        ("audit.checkpoint_read", {"tree_size": size, "latest": False}),
        ("audit.proof_read", {"proof": "inclusion", "sequence": 1, "tree_size": size}),
        ("audit.proof_read", {"proof": "consistency", "from_size": size, "to_size": size}),
    ]
    assert all(e["subject_ref"] is None and e["acting_user"] is None and e["status"] == 200 for e in recorded)
    assert recorded[0]["digest"] is not None
    first_client = recorded[0]["client_id"]
    assert first_client
    assert all(e["client_id"] == first_client for e in recorded)
    # the latest checkpoint's read names what was returned: its digest is the one of the body
    etagged = await client.get(f"/v1/audit/checkpoints/{size}", headers=monitor)
    assert etagged.headers["etag"] == f'"{recorded[1]["digest"]}"'
    assert latest == etagged.json()

    refused = await client.get("/v1/audit/checkpoint", headers=tenant.headers(Role.assessor, acting_user=None))
    assert refused.status_code == 403
    last = (await audit_actions(client, tenant, "refused."))[-1]
    assert (last["action"], last["status"], last["resource_type"]) == ("refused.get_audit_checkpoint", 403, "audit")
