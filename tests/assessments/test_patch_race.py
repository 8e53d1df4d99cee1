"""Two patches racing on one revision: exactly one becomes the new revision (201), the other is a 409, on SQLite and
on PostgreSQL. Both requests run in their own thread with their own connection and wait for each other in
`Settings.state_read_seam` (app/core/seams.py), just before the amended revision's state is locked and read."""

from __future__ import annotations

import asyncio
import threading

import httpx
import pytest

from app.auth.permissions import Role
from app.core.config import Settings
from tests.assessments.conftest import LOW, answers, create
from tests.conftest import Tenant, make_settings

DEADLINE_SECONDS = 30.0


class BothArrive:
    """The seam: each amendment waits until the other has reached it too."""

    def __init__(self) -> None:
        self.barrier = threading.Barrier(2, timeout=DEADLINE_SECONDS)
        self.threads: set[int] = set()

    def seam(self, operation: str, assessment_id: str) -> None:
        if operation != "assessment.amend":
            return
        self.threads.add(threading.get_ident())
        self.barrier.wait()


@pytest.fixture
def both_arrive() -> BothArrive:
    return BothArrive()


@pytest.fixture
def settings(database_url: str, both_arrive: BothArrive) -> Settings:
    return make_settings(database_url, state_read_seam=both_arrive.seam, db_timeout_seconds=DEADLINE_SECONDS)


@pytest.mark.parametrize("keyed", [False, True], ids=["plain", "idempotency-keys"])
async def test_two_patches_racing_on_one_revision_one_wins_the_other_is_a_409(
    client: httpx.AsyncClient, tenant: Tenant, both_arrive: BothArrive, keyed: bool, database_url: str
) -> None:
    if keyed and database_url.startswith("sqlite"):
        pytest.skip("SQLite: a key's claim takes the one writer before the seam, so the two cannot meet there")
    first = (await create(client, tenant))["id"]
    patches = [{"conduct_late_night_use": "yes"}, {"conduct_device_secrecy": "yes"}]

    def send(n: int) -> object:
        headers = tenant.headers(Role.assessor)
        if keyed:
            headers["Idempotency-Key"] = f"race-{n}"
        return client.post(f"/v1/assessments/{first}/revisions", json={"answers_patch": patches[n]}, headers=headers)

    responses: list[httpx.Response] = list(await asyncio.gather(send(0), send(1)))  # type: ignore[arg-type]
    assert len(both_arrive.threads) == 2  # each request ran in a thread of its own, and both reached the seam
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409], [r.text for r in responses]
    won = next(n for n, r in enumerate(responses) if r.status_code == 201)
    lost = responses[1 - won]
    winner = responses[won].json()["id"]
    assert lost.headers["content-type"] == "application/problem+json"
    assert lost.json()["type"] == "/problems/conflict"
    assert lost.json()["detail"] == f"Only the latest revision can be amended: amend {winner}", lost.text

    chain = await client.get(
        f"/v1/assessments/{first}/revisions", params={"include": "answers"}, headers=tenant.headers(Role.supervisor)
    )
    items = chain.json()["items"]
    assert [i["id"] for i in items] == [first, winner]
    assert items[1]["answers"] == {**answers(LOW), **patches[won]}
    if keyed:  # the loser's 409 is the state's, so it is kept for its key: its retry gets it again
        retry = await client.post(
            f"/v1/assessments/{first}/revisions",
            json={"answers_patch": patches[1 - won]},
            headers={**tenant.headers(Role.assessor), "Idempotency-Key": f"race-{1 - won}"},
        )
        assert retry.status_code == 409
        assert retry.headers["idempotent-replayed"] == "true"
