"""The hot-path canonical encoder produces exactly RFC 8785 for the data we digest (no floats, ASCII keys)."""

from __future__ import annotations

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from app.audit.chain import digest, event_hash, genesis_hash
from app.core.canonical_json import canonical_bytes


@pytest.fixture(autouse=True)
def seeded() -> None:
    """Pure functions: no database needed."""


keys = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12)
scalars = st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text()
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5), max_leaves=30
)


@settings(max_examples=400)
@given(json_values)
def test_canonical_bytes_is_rfc8785(value: object) -> None:
    assert canonical_bytes(value) == bytes(rfc8785.dumps(value))


@settings(max_examples=400)
@given(json_values)
def test_the_orjson_path_is_rfc8785_too(value: object) -> None:
    assert canonical_bytes(value, floats=False) == bytes(rfc8785.dumps(value))


any_keys = st.text(max_size=12)
wide_scalars = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text()
wide_values = st.recursive(
    wide_scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(any_keys, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400)
@given(wide_values)
def test_without_floats_both_encoders_write_the_same_bytes(value: object) -> None:
    """Idempotency fingerprints of any float-free body (any keys, any integers) do not depend on the encoder."""
    assert canonical_bytes(value, floats=False) == canonical_bytes(value)


def test_a_lone_surrogate_is_refused_on_either_path() -> None:
    with pytest.raises(UnicodeEncodeError):
        canonical_bytes({"a": "\ud800"}, floats=False)


def test_digest_of_bytes_and_objects_agree() -> None:
    value = {"b": [1, "é", None], "a": True}
    assert digest(value) == digest(canonical_bytes(value))


def test_genesis_is_per_organisation_and_the_hash_covers_prev_hash() -> None:
    assert genesis_hash("a") != genesis_hash("b")
    event = {"organisation_id": "a", "sequence": 1, "occurred_at": "2026-01-01T00:00:00.000001Z", "prev_hash": "x"}
    assert event_hash(event) != event_hash({**event, "prev_hash": "y"})
    assert event_hash(event) != event_hash({**event, "sequence": 2})
