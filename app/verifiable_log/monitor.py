"""`riskapi audit monitor`: an independent party's check that an organisation's log only ever grew.

It keeps the last checkpoint it accepted in a small state file, pins the deployment's public keys (the document
GET /v1/audit/keys serves, saved once), and on each run fetches the latest checkpoint, opens it with the pinned keys
and the organisation's origin, and checks it against the kept one: the same root at the same size, or a
consistency proof from the kept size that verifies. Only then does it replace the state. Someone who rewrote
history in the database, however consistently, cannot make that proof verify, nor sign a checkpoint of their own.

An HTTP client of the API only (an import-linter contract keeps the database out of it). Exit status: 0 checked,
1 evidence that the log is not what it was (kept state untouched), 2 could not check (no evidence either way).

The state file (format `riskapi.monitor-state.v1`)::

    {"format": "riskapi.monitor-state.v1", "origin": "riskapi.example/audit/acme", "tree_size": 42,
     "root_hash": "<standard base64>", "note": "<the signed checkpoint as served>"}
"""

from __future__ import annotations

import base64
import binascii
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.verifiable_log import merkle
from app.verifiable_log.checkpoint import Checkpoint, CheckpointError, open_checkpoint
from app.verifiable_log.keys import LogKeyError, verifiers_of
from app.verifiable_log.note import NoteError, Verifier, b64encode
from app.verifiable_log.schemas import CheckpointRead, ConsistencyProofRead, LogKeysDocument

KEY_VARIABLE = "RISKAPI_MONITOR_KEY"
STATE_FORMAT: Literal["riskapi.monitor-state.v1"] = "riskapi.monitor-state.v1"
TIMEOUT_SECONDS = 30

EXIT_OK, EXIT_INCONSISTENT, EXIT_COULD_NOT_CHECK = 0, 1, 2

Model = TypeVar("Model", bound=BaseModel)


class MonitorState(BaseModel):
    """The last checkpoint the monitor accepted for one log."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["riskapi.monitor-state.v1"] = STATE_FORMAT
    origin: str = Field(min_length=1)
    tree_size: int = Field(ge=1)
    root_hash: str = Field(description="standard base64, as in the checkpoint")
    note: str = Field(description="the signed checkpoint, as the server served it")

    @classmethod
    def of(cls, checkpoint: Checkpoint, note: str) -> MonitorState:
        return cls(
            origin=checkpoint.origin, tree_size=checkpoint.size, root_hash=b64encode(checkpoint.root_hash), note=note
        )


class CouldNotCheck(Exception):
    """The check could not be made (network, key, files, a response that is not what the API documents): no
    evidence either way."""


@dataclass(frozen=True)
class Outcome:
    """What a run found: `first` (nothing kept before), `unchanged`, `grew`, or `inconsistent` (with `reason`).
    `kept` is the checkpoint held before the run; `seen` the server's latest (its size and root; for an
    inconsistency, what the server claimed, signed or not)."""

    kind: Literal["first", "unchanged", "grew", "inconsistent"]
    kept: MonitorState | None
    seen_size: int | None
    seen_root: str | None
    new_state: MonitorState | None = None
    reason: str | None = None


def check(http: httpx.Client, origin: str, verifiers: Sequence[Verifier], kept: MonitorState | None) -> Outcome:
    """Fetch the latest checkpoint through `http` (base URL and API key set) and check it against `kept`."""
    response = _get(http, "/v1/audit/checkpoint", {})
    if response.status_code in (404, 409) and kept is not None:
        # No checkpoint at all, or none it can read, where one was signed before: the log lost its history.
        reason = f"the server shows no checkpoint, but one was signed before: {_problem_detail(response)}"
        return _inconsistent(kept, None, None, reason)
    served = _parsed(CheckpointRead, _success(response, "the latest checkpoint"), "the latest checkpoint")
    try:
        checkpoint = open_checkpoint(served.note, verifiers, origin=origin).checkpoint
    except CheckpointError as error:
        raise CouldNotCheck(f"the server's checkpoint is for another log ({error}): check --org and the key") from None
    except NoteError as error:
        return _inconsistent(
            kept, served.tree_size, served.root_hash, f"the checkpoint does not verify with the pinned keys: {error}"
        )
    seen = MonitorState.of(checkpoint, served.note)
    if kept is None:
        return Outcome("first", None, seen.tree_size, seen.root_hash, new_state=seen)
    if seen.tree_size < kept.tree_size:
        return _inconsistent(kept, seen.tree_size, seen.root_hash, "the log shrank")
    if seen.tree_size == kept.tree_size:
        if seen.root_hash != kept.root_hash:
            return _inconsistent(kept, seen.tree_size, seen.root_hash, "a different root at the same size")
        return Outcome("unchanged", kept, seen.tree_size, seen.root_hash, new_state=seen)
    failure = _consistency_failure(http, kept, checkpoint)
    if failure is not None:
        return _inconsistent(kept, seen.tree_size, seen.root_hash, failure)
    return Outcome("grew", kept, seen.tree_size, seen.root_hash, new_state=seen)


def _consistency_failure(http: httpx.Client, kept: MonitorState, new: Checkpoint) -> str | None:
    """Why the log at `new` is not an extension of the kept checkpoint, or None when the proof verifies."""
    response = _get(http, "/v1/audit/proofs/consistency", {"from": kept.tree_size, "to": new.size})
    if response.status_code in (404, 409):
        # No checkpoint at a size we hold a signed one for, or no stored tree to prove from: the server cannot
        # show that its log extends the one it signed before.
        return f"the server cannot prove consistency from size {kept.tree_size}: {_problem_detail(response)}"
    proof = _parsed(ConsistencyProofRead, _success(response, "the consistency proof"), "the consistency proof")
    if (proof.from_size, proof.to_size) != (kept.tree_size, new.size):
        return f"the proof is for sizes {proof.from_size} to {proof.to_size}"
    hashes = [_decoded(h, "a proof hash") for h in proof.hashes]
    kept_root = _decoded(kept.root_hash, "the kept root hash")
    if not merkle.verify_consistency(kept.tree_size, new.size, hashes, kept_root, new.root_hash):
        return "the consistency proof does not verify: the log was not only appended to"
    return None


def _inconsistent(kept: MonitorState | None, size: int | None, root: str | None, reason: str) -> Outcome:
    return Outcome("inconsistent", kept, size, root, reason=reason)


def _get(http: httpx.Client, path: str, params: dict[str, int]) -> httpx.Response:
    try:
        return http.get(path, params=params)
    except httpx.HTTPError as error:
        raise CouldNotCheck(f"GET {path}: {type(error).__name__}: {error}") from None


def _success(response: httpx.Response, what: str) -> bytes:
    if response.status_code != 200:
        hint = {401: " (is RISKAPI_MONITOR_KEY a valid key?)", 403: " (the key needs the monitor role)"}
        extra = hint.get(response.status_code, "")
        raise CouldNotCheck(f"{what}: HTTP {response.status_code}: {_problem_detail(response)}{extra}")
    return response.content


def _problem_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase or "no detail"
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or "no detail")
    return "no detail"


def _parsed(model: type[Model], content: bytes, what: str) -> Model:
    try:
        return model.model_validate_json(content)
    except ValidationError:
        raise CouldNotCheck(f"{what}: the response is not what the API documents") from None


def _decoded(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise CouldNotCheck(f"{what} is not standard base64") from None


# --- files ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PinnedKeys:
    """A saved GET /v1/audit/keys document: the origins' prefix and the verifiers."""

    origin_prefix: str
    verifiers: list[Verifier]

    def origin(self, organisation_slug: str) -> str:
        return f"{self.origin_prefix}/{organisation_slug}"


def read_keys(path: Path) -> PinnedKeys:
    """The pinned keys: a saved GET /v1/audit/keys document, taken as is."""
    try:
        document = LogKeysDocument.model_validate_json(path.read_bytes())
        verifiers = verifiers_of(document)
    except OSError as error:
        raise CouldNotCheck(f"cannot read the keys file {path}: {error.strerror}") from None
    except (ValidationError, LogKeyError) as error:
        raise CouldNotCheck(f"the keys file {path} is not a keys document (GET /v1/audit/keys): {error}") from None
    if not verifiers:
        raise CouldNotCheck(f"the keys file {path} publishes no key")
    return PinnedKeys(document.origin_prefix, verifiers)


def read_state(path: Path, origin: str) -> MonitorState | None:
    """The kept checkpoint, or None before the first run (no file)."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise CouldNotCheck(f"cannot read the state file {path}: {error.strerror}") from None
    try:
        state = MonitorState.model_validate_json(content)
    except ValidationError:
        raise CouldNotCheck(f"the state file {path} is not a {STATE_FORMAT} document") from None
    if state.origin != origin:
        raise CouldNotCheck(f"the state file {path} is for the log {state.origin!r}, not {origin!r}")
    return state


def write_state(path: Path, state: MonitorState) -> None:
    """Replace the state file atomically: a crash leaves the old state or the new one, never half of either."""
    directory = path.resolve().parent
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(state.model_dump_json(indent=2) + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- the command ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    exit_code: int
    out: list[str]
    err: list[str]


def run(
    url: str,
    org: str,
    state_path: Path,
    keys_path: Path,
    api_key: str | None,
    transport: httpx.BaseTransport | None = None,
) -> Report:
    """One monitor run; `transport` replaces the network (tests)."""
    if not api_key:
        return Report(EXIT_COULD_NOT_CHECK, [], [f"Error: set {KEY_VARIABLE} to a monitor key (never an argument)"])
    try:
        keys = read_keys(keys_path)
        origin = keys.origin(org)
        kept = read_state(state_path, origin)
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        with httpx.Client(
            base_url=url.rstrip("/"), headers=headers, timeout=TIMEOUT_SECONDS, transport=transport
        ) as http:
            outcome = check(http, origin, keys.verifiers, kept)
        if outcome.new_state is not None:
            write_state(state_path, outcome.new_state)
    except CouldNotCheck as error:
        return Report(
            EXIT_COULD_NOT_CHECK, [], [f"Could not check {org}: {error}", "(This is not evidence of tampering.)"]
        )
    return _report(origin, outcome)


def _report(origin: str, outcome: Outcome) -> Report:
    kept, size, root = outcome.kept, outcome.seen_size, outcome.seen_root
    if outcome.kind == "first":
        return Report(EXIT_OK, [f"{origin}: first run: stored the checkpoint at size {size}, root {root}"], [])
    if outcome.kind == "inconsistent":
        stored = f"size {kept.tree_size}, root {kept.root_hash}" if kept else "none (first run)"
        return Report(
            EXIT_INCONSISTENT,
            [],
            [
                f"{origin}: INCONSISTENT: {outcome.reason}",
                f"  stored checkpoint: {stored}",
                f"  server's checkpoint: size {size}, root {root or 'none'}",
                "The stored state is kept: keep it and the server's checkpoint as evidence, and investigate.",
            ],
        )
    old = kept.tree_size if kept else size
    if outcome.kind == "unchanged":
        return Report(EXIT_OK, [f"{origin}: ok, unchanged at size {size} (root {root})"], [])
    return Report(EXIT_OK, [f"{origin}: ok, grew from size {old} to {size} (root {root})"], [])
