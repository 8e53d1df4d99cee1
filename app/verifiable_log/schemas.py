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
    algorithm: Literal["ed25519"] = "ed25519"
    status: Literal["signing", "retired"] = Field(
        description="`signing`: signs new checkpoints; `retired`: signs no more, kept so older checkpoints verify."
    )


class LogKeysDocument(BaseModel):
    """The public keys of this deployment's checkpoints: pin it (`riskapi audit monitor --keys`)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["riskapi.log-keys.v1"] = KEYS_FORMAT
    origin_prefix: str = Field(
        description="Each organisation's checkpoints carry the origin `<origin_prefix>/<organisation slug>`."
    )
    keys: list[PublishedKey]


class CheckpointRead(BaseModel):
    origin: str = Field(description="The log's name: `<origin_prefix>/<organisation slug>`.")
    tree_size: int = Field(description="How many audit events the tree holds (sequences 1 to tree_size).")
    root_hash: str = Field(description="The tree's root hash, standard base64 (as in the note).")
    signed_at: datetime
    note: str = Field(description="The C2SP signed note: checkpoint body, a blank line, one signature line per key.")
