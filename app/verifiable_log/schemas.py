"""What the verifiable log's routes return; the keys document is also what the CLI reads."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

KEYS_FORMAT: Literal["riskapi.log-keys.v1"] = "riskapi.log-keys.v1"


class PublishedKey(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="The key name, as in the signature lines of signed checkpoints.")
    key_id: str = Field(
        pattern=r"^[0-9a-f]{8}$", description="The C2SP key id (8 hex digits): first 4 bytes of the key hash."
    )
    verifier_key: str = Field(
        description="The C2SP verifier key `name+keyid+base64(0x01 || Ed25519 public key)`, as sumdb/note writes it."
    )
    algorithm: Literal["ed25519"] = Field(default="ed25519", description="The signature algorithm: `ed25519`.")
    status: Literal["signing", "retired"] = Field(
        description="`signing`: signs new checkpoints; `retired`: signs no more, kept so older checkpoints verify."
    )


class LogKeysDocument(BaseModel):
    """The public keys of this deployment's checkpoints: pin it (`riskapi audit monitor --keys`)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["riskapi.log-keys.v1"] = Field(
        default=KEYS_FORMAT, description="The document's format and version: `riskapi.log-keys.v1`."
    )
    origin_prefix: str = Field(
        description="Each organisation's checkpoints carry the origin `<origin_prefix>/<organisation slug>`."
    )
    keys: list[PublishedKey] = Field(
        description="Every key a checkpoint of this deployment may be signed with: the signing ones first, then the "
        "retired ones (empty when the deployment signs no checkpoints)."
    )


class CheckpointRead(BaseModel):
    """A signed checkpoint: verify `note` with the pinned keys and the expected origin before trusting the rest."""

    origin: str = Field(description="The log's name: `<origin_prefix>/<organisation slug>`.")
    tree_size: int = Field(description="How many audit events the tree holds (sequences 1 to tree_size).")
    root_hash: str = Field(description="The tree's root hash, standard base64 (as in the note).")
    signed_at: datetime = Field(description="When the server signed it (not part of the signed note).")
    note: str = Field(description="The C2SP signed note: checkpoint body, a blank line, one signature line per key.")


class InclusionProofRead(BaseModel):
    """RFC 9162 inclusion proof: with `leaf_hash` and `hashes`, the root of the checkpoint at `tree_size`."""

    sequence: int = Field(description="The audit event's sequence number.", examples=[3])
    leaf_index: int = Field(description="Its leaf in the tree: `sequence - 1`.", examples=[2])
    tree_size: int = Field(description="The size of the signed checkpoint the proof leads to.", examples=[7])
    leaf_hash: str = Field(
        description="SHA-256(0x00 || entry), standard base64; the entry is the RFC 8785 form of the event's "
        "`sequence`, `prev_hash`, `hash` and `body`.",
        examples=["bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0="],
    )
    hashes: list[str] = Field(
        description="The audit path, leaf to root, each standard base64 (RFC 9162 section 2.1.3).",
        examples=[["AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]],
    )


class ConsistencyProofRead(BaseModel):
    """RFC 9162 consistency proof: the tree of the checkpoint at `from_size` is a prefix of the one at `to_size`."""

    from_size: int = Field(description="The older checkpoint's tree size (the request's `from`).", examples=[4])
    to_size: int = Field(description="The newer checkpoint's tree size (the request's `to`).", examples=[7])
    hashes: list[str] = Field(
        description="The consistency proof (RFC 9162 section 2.1.4), each hash standard base64; empty when "
        "`from_size` is `to_size`.",
        examples=[["AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]],
    )
