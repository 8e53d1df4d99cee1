"""Every field of a real receipt changed in turn, on both databases: each change makes `receipt verify` fail, and a
problem names the field changed, or the check it breaks on the way (an entry's chain hash or inclusion proof,
which cover every field of the event's body). List items removed and added too."""

from __future__ import annotations

import copy
import string
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from app.receipts.verify import EXIT_VERIFIED, Report
from app.verifiable_log.note import b64decode_canonical
from tests.assessments.conftest import MEDIUM
from tests.conftest import Tenant
from tests.receipts.verify_support import (
    create_assessment,
    issue_receipt,
    keys_document,
    mark_entered_in_error,
    override,
    stored_record,
    verify,
)


def changed(value: Any) -> Any:
    """Another value of the same shape where there is one (hex stays hex, a base64 hash stays a 32-byte base64
    hash), so that the checks behind the format are what catches it."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if value is None:
        return "x"
    if isinstance(value, str):
        if value and all(c in string.hexdigits for c in value):
            return value[:-1] + ("0" if value[-1] != "0" else "1")
        if b64decode_canonical(value) is not None and len(value) == 44:
            return ("B" if value[0] != "B" else "C") + value[1:]
        return value + "x"
    raise AssertionError(f"not a scalar: {value!r}")


def path_of(parent: str, key: str | int) -> str:
    return f"{parent}[{key}]" if isinstance(key, int) else (f"{parent}.{key}" if parent else key)


def leaves(node: Any, path: str = "") -> Iterator[tuple[str, list[str | int]]]:
    """Every scalar in the document: its path as the verifier writes it, and its keys."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else None
    if items is None:
        yield path, []
        return
    for key, child in items:
        for sub_path, keys in leaves(child, path_of(path, key)):
            yield sub_path, [key, *keys]


def container(document: Any, keys: list[str | int]) -> Any:
    for key in keys:
        document = document[key]
    return document


def names(problem: str, path: str) -> bool:
    """The problem's place (before ': ') is the field changed, or an enclosing field whose check covers it."""
    where = problem.split(": ", 1)[0].removeprefix("receipt.")
    return path == where or path.startswith((where + ".", where + "["))


def assert_fails_naming(report: Report, path: str) -> None:
    assert report.exit_code != EXIT_VERIFIED, f"{path}: still verifies"
    assert any(names(p, path) for p in report.problems), (path, report.problems)


@pytest.fixture
def issued(app: FastAPI, tenant: Tenant) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    created = create_assessment(app, tenant, which=MEDIUM).json()
    create_assessment(app, tenant, subject_ref="case-2")
    override(app, tenant, created["id"])
    mark_entered_in_error(app, tenant, created["id"])
    receipt, keys, record = (
        issue_receipt(app, tenant, created["id"]),
        keys_document(app),
        stored_record(app, created["id"]),
    )
    assert verify(receipt, keys, record).exit_code == EXIT_VERIFIED
    return receipt, keys, record


def test_every_scalar_changed_in_turn_fails_naming_it(
    issued: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
) -> None:
    receipt, keys, record = issued
    paths = list(leaves(receipt))
    assert len(paths) > 60  # the whole document, each entry's body included
    for path, keys_to in paths:
        tampered = copy.deepcopy(receipt)
        parent, last = container(tampered, keys_to[:-1]), keys_to[-1]
        parent[last] = changed(parent[last])
        assert_fails_naming(verify(tampered, keys), path)  # without the record: the signature and proofs alone
        assert_fails_naming(verify(tampered, keys, record), path)


def test_commitments_changed_are_named_exactly_given_the_record(
    issued: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
) -> None:
    receipt, keys, record = issued
    for index, entry in enumerate(receipt["entries"]):
        for name, value in entry["body"]["details"]["commitments"].items():
            if name == "form" or isinstance(value, dict):
                continue
            tampered = copy.deepcopy(receipt)
            tampered["entries"][index]["body"]["details"]["commitments"][name] = changed(value)
            path = f"entries[{index}].body.details.commitments.{name}"
            problems = verify(tampered, keys, record).problems
            assert f"{path}: does not match the record" in problems, (path, problems)


def test_every_field_removed_or_added_fails_naming_it(
    issued: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
) -> None:
    receipt, keys, record = issued
    containers: list[tuple[str, list[str | int]]] = [("", [])]
    containers += [(f"entries[{i}]", ["entries", i]) for i in range(len(receipt["entries"]))]
    containers += [(f"entries[{i}].body", ["entries", i, "body"]) for i in range(len(receipt["entries"]))]
    containers += [(f"entries[{i}].inclusion", ["entries", i, "inclusion"]) for i in range(len(receipt["entries"]))]
    for parent_path, keys_to in containers:
        for name in list(container(receipt, keys_to)):
            tampered = copy.deepcopy(receipt)
            del container(tampered, keys_to)[name]
            assert_fails_naming(verify(tampered, keys, record), path_of(parent_path, name))
        tampered = copy.deepcopy(receipt)
        container(tampered, keys_to)["added"] = "x"
        assert_fails_naming(verify(tampered, keys, record), path_of(parent_path, "added"))


def test_list_items_removed_or_added_fail(issued: tuple[dict[str, Any], dict[str, Any], dict[str, Any]]) -> None:
    receipt, keys, record = issued
    entries = receipt["entries"]
    for index in range(len(entries)):
        tampered = copy.deepcopy(receipt)
        del tampered["entries"][index]
        report = verify(tampered, keys, record)
        assert report.exit_code != EXIT_VERIFIED, index
        assert any(p.startswith(("entries[", "record.rows[")) for p in report.problems), report.problems
        for position in range(len(entries[index]["inclusion"]["hashes"])):
            tampered = copy.deepcopy(receipt)
            del tampered["entries"][index]["inclusion"]["hashes"][position]
            assert_fails_naming(verify(tampered, keys, record), f"entries[{index}].inclusion.hashes[{position}]")
        tampered = copy.deepcopy(receipt)
        tampered["entries"][index]["inclusion"]["hashes"].append(entries[index]["inclusion"]["hashes"][0])
        assert_fails_naming(verify(tampered, keys, record), f"entries[{index}].inclusion.hashes")

    duplicated = copy.deepcopy(receipt)
    duplicated["entries"].append(copy.deepcopy(entries[-1]))
    assert verify(duplicated, keys, record).problems[0] == (
        f"entries[{len(entries)}].sequence: is not after entries[{len(entries) - 1}]'s ({entries[-1]['sequence']})"
    )

    # Without the record, a receipt that leaves out a later event still proves what it holds; the record shows it.
    without_mark = copy.deepcopy(receipt)
    del without_mark["entries"][-1]
    assert verify(without_mark, keys).exit_code == EXIT_VERIFIED
    assert verify(without_mark, keys, record).problems == [
        "record.rows[2]: no later entry of the receipt records this row (by record digest)"
    ]


def test_the_signed_checkpoint_changed_fails_on_its_signature(
    issued: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
) -> None:
    receipt, keys, _ = issued
    body, _, signatures = receipt["checkpoint"].partition("\n\n")
    origin, size, root = body.split("\n")[:3]
    for forged_body in (f"{origin}\n{int(size) + 1}\n{root}", f"{origin}x\n{size}\n{root}"):
        tampered = {**receipt, "checkpoint": f"{forged_body}\n\n{signatures}"}
        report = verify(tampered, keys)
        assert report.problems[0].startswith("checkpoint: signature does not verify: invalid signature for key"), report
