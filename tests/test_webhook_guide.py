"""The receiver code in docs/integration.md works: its signature checks (Python with the standardwebhooks package,
Python from the specification with hmac, JavaScript with node's crypto) accept what standardwebhooks signs and
refuse a tampered body, a wrong secret, an old or future timestamp; during a rotation (two signatures) either
secret verifies; and its duplicate handling does the work of an event once however often it arrives.

The blocks are the guide's own, found by their not-run markers (they are functions for a reader's receiver, so
tests/test_integration_guide.py skips them) and run here as they stand.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.runnable_docs import Block, scan
from tests.servers import ROOT

GUIDE = ROOT / "docs" / "integration.md"
RUN_HERE = "tests/test_webhook_guide.py"

OLD_SECRET = "whsec_" + base64.b64encode(b"o" * 32).decode()
NEW_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"x" * 32).decode()


def guide_block(language: str, contains: str) -> str:
    """The one block of the guide, marked to be run by this test, in `language` and containing `contains`."""
    blocks: list[Block] = scan(GUIDE.read_text(encoding="utf-8"), "docs/integration.md")
    found = [
        block.body
        for block in blocks
        if block.language == language and block.not_run and RUN_HERE in block.not_run and contains in block.body
    ]
    assert len(found) == 1, f"expected one {language} block with {contains!r} marked for {RUN_HERE}, found {found}"
    return found[0]


@dataclass(frozen=True)
class Delivery:
    name: str
    headers: dict[str, str]
    body: bytes
    genuine: bool  # what a correct check says


def event_body(event_id: str) -> bytes:
    event = {
        "id": event_id,
        "type": "assessment.created",
        "timestamp": "2027-01-05T09:12:44.301522Z",
        "organisation_id": str(uuid.uuid4()),
        "sequence": 7,
        "data": {"assessment_id": str(uuid.uuid4()), "computed_level": "high", "level": "immediate"},
    }
    return json.dumps(event, separators=(",", ":")).encode()


def signed(
    body: bytes, secrets: list[str], *, at: datetime | None = None, event_id: str | None = None
) -> dict[str, str]:
    """Standard Webhooks headers for `body`, one signature per secret (two during a rotation)."""
    webhook_id = event_id or json.loads(body)["id"]
    timestamp = at or datetime.now(UTC)
    signatures = [Webhook(secret).sign(webhook_id, timestamp, body) for secret in secrets]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def deliveries() -> list[Delivery]:
    """What a receiver holding NEW_SECRET gets: genuine deliveries and forgeries."""
    event_id = str(uuid.uuid4())
    body = event_body(event_id)
    now = datetime.now(UTC)
    tampered = body.replace(b'"immediate"', b'"low"')
    assert tampered != body
    return [
        Delivery("genuine", signed(body, [NEW_SECRET]), body, True),
        Delivery(
            "genuine, header names in capitals",
            {k.title(): v for k, v in signed(body, [NEW_SECRET]).items()},
            body,
            True,
        ),
        Delivery("rotation: old and new signature", signed(body, [OLD_SECRET, NEW_SECRET]), body, True),
        Delivery("rotation: new and old signature", signed(body, [NEW_SECRET, OLD_SECRET]), body, True),
        Delivery("timestamp 4 minutes old", signed(body, [NEW_SECRET], at=now - timedelta(minutes=4)), body, True),
        Delivery("tampered body", signed(body, [NEW_SECRET]), tampered, False),
        Delivery("body with a byte added", signed(body, [NEW_SECRET]), body + b" ", False),
        Delivery("signed with another secret", signed(body, [OTHER_SECRET]), body, False),
        Delivery("signed with the old secret only", signed(body, [OLD_SECRET]), body, False),
        Delivery("timestamp 6 minutes old", signed(body, [NEW_SECRET], at=now - timedelta(minutes=6)), body, False),
        Delivery("timestamp an hour old", signed(body, [NEW_SECRET], at=now - timedelta(hours=1)), body, False),
        Delivery("timestamp 6 minutes ahead", signed(body, [NEW_SECRET], at=now + timedelta(minutes=6)), body, False),
        Delivery(
            "signature of another webhook-id",
            {**signed(body, [NEW_SECRET], event_id=str(uuid.uuid4())), "webhook-id": event_id},
            body,
            False,
        ),
        Delivery(
            "timestamp changed after signing",
            {**signed(body, [NEW_SECRET]), "webhook-timestamp": str(int(now.timestamp()) + 1)},
            body,
            False,
        ),
        Delivery(
            "a signature of another version",
            {
                **signed(body, [NEW_SECRET]),
                "webhook-signature": signed(body, [NEW_SECRET])["webhook-signature"].replace("v1,", "v2,"),
            },
            body,
            False,
        ),
        Delivery(
            "no signature",
            {k: v for k, v in signed(body, [NEW_SECRET]).items() if k != "webhook-signature"},
            body,
            False,
        ),
        Delivery(
            "no timestamp",
            {k: v for k, v in signed(body, [NEW_SECRET]).items() if k != "webhook-timestamp"},
            body,
            False,
        ),
        Delivery(
            "no webhook-id", {k: v for k, v in signed(body, [NEW_SECRET]).items() if k != "webhook-id"}, body, False
        ),
    ]


def python_functions(*blocks: str, **given: Any) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "guide_receiver", **given}
    for block in blocks:
        exec(compile(block, "docs/integration.md", "exec"), namespace)  # the guide's own code
    return namespace


def outcomes(check: Callable[[dict[str, str], bytes], Any]) -> dict[str, bool]:
    results = {}
    for delivery in deliveries():
        event = check(delivery.headers, delivery.body)
        if event is not None:
            assert event == json.loads(delivery.body), delivery.name  # the event is the body, parsed
        results[delivery.name] = event is not None
    return results


def expected() -> dict[str, bool]:
    return {delivery.name: delivery.genuine for delivery in deliveries()}


def test_the_python_check_with_the_standardwebhooks_package_accepts_genuine_deliveries_only() -> None:
    verified_event = python_functions(guide_block("python", "from standardwebhooks"))["verified_event"]
    assert outcomes(lambda headers, body: verified_event(NEW_SECRET, headers, body)) == expected()


def test_the_python_check_from_the_specification_accepts_genuine_deliveries_only() -> None:
    functions = python_functions(guide_block("python", "def verify_webhook"))
    verify_webhook, invalid = functions["verify_webhook"], functions["InvalidWebhook"]

    def check(headers: dict[str, str], body: bytes) -> Any:
        try:
            return verify_webhook(NEW_SECRET, headers, body)
        except invalid:
            return None

    assert outcomes(check) == expected()
    # The receiver that has not switched yet, during the overlap: the old secret verifies the two signatures.
    body = event_body(str(uuid.uuid4()))
    assert check(signed(body, [OLD_SECRET, NEW_SECRET]), body) is not None
    assert verify_webhook(OLD_SECRET, signed(body, [OLD_SECRET, NEW_SECRET]), body) == json.loads(body)


JS_HARNESS = """
const fs = require("node:fs");
const { verifyWebhook, InvalidWebhook } = require("./verify-webhook.js");
const results = {};
for (const delivery of JSON.parse(fs.readFileSync(process.argv[2], "utf8"))) {
  const headers = Object.fromEntries(Object.entries(delivery.headers).map(([k, v]) => [k.toLowerCase(), v]));
  try {
    const event = verifyWebhook(delivery.secret, headers, Buffer.from(delivery.body, "base64"));
    results[delivery.name] = event;
  } catch (error) {
    if (!(error instanceof InvalidWebhook)) throw error;
    results[delivery.name] = null;
  }
}
console.log(JSON.stringify(results));
"""


def node() -> str:
    found = shutil.which("node")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but `node` is not installed: the guide's JavaScript must run")
        pytest.skip("`node` is not installed: the guide's JavaScript check is not run")
    return found


def test_the_javascript_check_with_node_crypto_accepts_genuine_deliveries_only(tmp_path: Path) -> None:
    executable = node()
    (tmp_path / "verify-webhook.js").write_text(guide_block("javascript", "function verifyWebhook"))
    (tmp_path / "harness.js").write_text(JS_HARNESS)
    cases = deliveries()
    body = event_body(str(uuid.uuid4()))
    rotation = signed(body, [OLD_SECRET, NEW_SECRET])
    sent = [
        {"name": d.name, "secret": NEW_SECRET, "headers": d.headers, "body": base64.b64encode(d.body).decode()}
        for d in cases
    ] + [
        {
            "name": "rotation, old secret",
            "secret": OLD_SECRET,
            "headers": rotation,
            "body": base64.b64encode(body).decode(),
        },
        {
            "name": "rotation, other secret",
            "secret": OTHER_SECRET,
            "headers": rotation,
            "body": base64.b64encode(body).decode(),
        },
    ]
    (tmp_path / "deliveries.json").write_text(json.dumps(sent))
    run = subprocess.run(
        [executable, "harness.js", "deliveries.json"], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    for delivery in cases:
        if delivery.genuine:
            assert results[delivery.name] == json.loads(delivery.body), delivery.name
    assert {name: event is not None for name, event in results.items()} == {
        **expected(),
        "rotation, old secret": True,
        "rotation, other secret": False,
    }


def test_the_receiver_does_the_work_of_a_duplicate_delivery_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the block keeps its handled ids in ./receiver.db
    handled: list[dict[str, Any]] = []
    receiver = python_functions(
        guide_block("python", "def verify_webhook"),
        guide_block("python", "def receive"),
        WEBHOOK_SECRET=NEW_SECRET,
        handle_event=handled.append,
    )
    receive = receiver["receive"]
    first, second = event_body(str(uuid.uuid4())), event_body(str(uuid.uuid4()))

    assert receive(signed(first, [NEW_SECRET]), first) == 204
    assert receive(signed(first, [NEW_SECRET]), first) == 204  # a retry: answered, not handled again
    assert receive(signed(first, [OLD_SECRET, NEW_SECRET]), first) == 204  # a redelivery after a rotation
    assert receive(signed(second, [NEW_SECRET]), second) == 204
    assert receive(signed(second, [OTHER_SECRET]), second) == 400
    assert receive(signed(first, [NEW_SECRET]), first.replace(b"immediate", b"low")) == 400
    assert [event["id"] for event in handled] == [json.loads(first)["id"], json.loads(second)["id"]]

    receiver["db"].close()  # the ids outlive the process: a receiver restarted still skips them
    restarted = python_functions(
        guide_block("python", "def verify_webhook"),
        guide_block("python", "def receive"),
        WEBHOOK_SECRET=NEW_SECRET,
        handle_event=handled.append,
    )
    assert restarted["receive"](signed(second, [NEW_SECRET]), second) == 204
    assert len(handled) == 2
    restarted["db"].close()
