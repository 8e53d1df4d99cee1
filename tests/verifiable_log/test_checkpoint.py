"""Signed notes and checkpoints: published vectors (Go sumdb/note, trillian-tessera), round trips and refusals."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.verifiable_log.checkpoint import (
    Checkpoint,
    CheckpointError,
    open_checkpoint,
    parse_checkpoint,
    sign_checkpoint,
)
from app.verifiable_log.note import (
    MAX_NOTE_BYTES,
    MAX_SIGNATURES,
    InvalidKeyError,
    InvalidSignatureError,
    MalformedNoteError,
    NoteError,
    NoteSignature,
    Signer,
    UnverifiedNoteError,
    Verifier,
    generate_signer,
    key_id,
    open_note,
    sign_note,
)

VECTORS = Path(__file__).parent / "vectors"
GO = json.loads((VECTORS / "sumdb_note" / "note_test_vectors.json").read_text(encoding="utf-8"))
TESSERA = json.loads((VECTORS / "tessera_checkpoints" / "keys.json").read_text(encoding="utf-8"))

PETER_SKEY = GO["peter"]["signer_key"]
PETER_VKEY = GO["peter"]["verifier_key"]
ENOCH_VKEY = GO["enoch"]["verifier_key"]
TEXT = GO["text"]
PETER_SIG = GO["peter"]["signature_line"]
ENOCH_SIG = GO["enoch"]["signature_line"]
PETER = NoteSignature("PeterNeumann", 0xC74F20A3, GO["peter"]["signature_b64"])
ENOCH = NoteSignature("EnochRoot", 0xAF0CFE78, GO["enoch"]["signature_b64"])


def peter() -> Verifier:
    return Verifier.from_key(PETER_VKEY)


def enoch() -> Verifier:
    return Verifier.from_key(ENOCH_VKEY)


def rfc9162_root(leaves: list[bytes]) -> bytes:
    """Naive RFC 9162 section 2.1.1 Merkle tree hash, independent of the code under test."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    split = 1
    while split * 2 < len(leaves):
        split *= 2
    return hashlib.sha256(b"\x01" + rfc9162_root(leaves[:split]) + rfc9162_root(leaves[split:])).digest()


# --- Published vectors: golang.org/x/mod/sumdb/note ----------------------------------------------------------------


def test_go_verifier_keys_parse_with_their_key_ids() -> None:
    assert peter().name == "PeterNeumann"
    assert peter().key_id == 0xC74F20A3
    assert peter().key == PETER_VKEY
    assert enoch().key_id == 0xAF0CFE78
    assert enoch().key == ENOCH_VKEY


def test_go_signer_key_parses_and_derives_the_published_verifier_key() -> None:
    signer = Signer.from_key(PETER_SKEY)
    assert (signer.name, signer.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert signer.key == PETER_SKEY
    assert signer.verifier_key == PETER_VKEY
    assert "AYEKFALV" not in repr(signer)


def test_key_id_is_sha256_of_name_newline_type_and_public_key() -> None:
    public = base64.b64decode(PETER_VKEY.split("+", 2)[2])
    assert public[0] == 0x01
    assert len(public) == 33
    expected = int.from_bytes(hashlib.sha256(b"PeterNeumann\n" + public).digest()[:4], "big")
    assert key_id("PeterNeumann", public) == expected == 0xC74F20A3


def test_signing_reproduces_the_go_signed_note_byte_for_byte() -> None:
    assert sign_note(TEXT, [Signer.from_key(PETER_SKEY)]) == GO["signed_by_peter"]
    assert GO["signed_by_peter"] == TEXT + "\n" + PETER_SIG


def test_go_open_one_verified_one_unverified() -> None:
    opened = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter()])
    assert opened.text == TEXT
    assert opened.signatures == (PETER,)
    assert opened.unverified == (ENOCH,)


def test_go_open_both_verified() -> None:
    opened = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter(), enoch()])
    assert opened.signatures == (PETER, ENOCH)
    assert opened.unverified == ()


def test_go_open_both_unverified_is_refused_and_reports_them() -> None:
    with pytest.raises(UnverifiedNoteError, match="no verifiable signatures") as caught:
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])
    assert caught.value.unverified == (PETER, ENOCH)


def test_go_open_too_many_signatures() -> None:
    for verifiers in ([peter()], []):
        with pytest.raises(MalformedNoteError):
            open_note(TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1), verifiers)
    assert open_note(TEXT + "\n" + PETER_SIG * MAX_SIGNATURES, [peter()]).signatures == (PETER,)


def _insert_abcd(line: str) -> str:
    """Go's test inserts "ABCD" at byte 60 of the signature line (the em dash is three bytes)."""
    raw = line.encode("utf-8")
    return (raw[:60] + b"ABCD" + raw[60:]).decode("utf-8")


def test_go_open_invalid_signature_from_known_key_rejects_the_note() -> None:
    with pytest.raises(InvalidSignatureError, match=r"invalid signature for key PeterNeumann\+c74f20a3"):
        open_note(TEXT + "\n" + _insert_abcd(PETER_SIG), [peter()])


def test_go_open_duplicated_verified_and_unverified_signatures() -> None:
    enoch_abcd = _insert_abcd(ENOCH_SIG)
    note = TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + enoch_abcd
    opened = open_note(note, [peter()])
    assert opened.signatures == (PETER,)
    assert opened.unverified == (ENOCH, NoteSignature("EnochRoot", 0xAF0CFE78, enoch_abcd[len("— EnochRoot ") : -1]))


@pytest.mark.parametrize(
    "note",
    [
        TEXT.encode(),
        (TEXT + "\n").encode(),
        (TEXT + "\n" + PETER_SIG[:-1]).encode(),
        ("\x01" + TEXT + "\n" + PETER_SIG).encode(),
        b"\xff" + (TEXT + "\n" + PETER_SIG).encode(),
        (TEXT + "\n" + "— Bad Name " + GO["peter"]["signature_b64"]).encode(),
        (TEXT + "\n" + PETER_SIG + "Unexpected line.\n").encode(),
    ],
    ids=["no-signatures", "blank-only", "no-final-newline", "control-char", "bad-utf8", "bad-name", "extra-line"],
)
def test_go_open_malformed_notes(note: bytes) -> None:
    with pytest.raises(MalformedNoteError):
        open_note(note, [peter()])


def test_go_bad_verifier_keys_are_refused() -> None:
    for bad in GO["bad_verifier_keys"]:
        with pytest.raises(InvalidKeyError):
            Verifier.from_key(bad)


@pytest.mark.parametrize(("key", "parse"), [(PETER_VKEY, Verifier.from_key), (PETER_SKEY, Signer.from_key)])
def test_go_key_manglings_are_refused(key: str, parse: object) -> None:
    """Port of TestNewVerifier / TestNewSigner: every proper substring and every one-character bump fails."""
    assert callable(parse)
    parse(key)
    for start in range(len(key) + 1):
        for end in range(start + 1, len(key) + 1):
            if (start, end) != (0, len(key)):
                with pytest.raises(InvalidKeyError):
                    parse(key[start:end])
    for i in range(len(key)):
        with pytest.raises(InvalidKeyError):
            parse(key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :])


# --- Published vectors: trillian-tessera test log checkpoints -------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 2, 3])
def test_tessera_checkpoints_verify_parse_and_resign_byte_for_byte(size: int) -> None:
    published = (VECTORS / "tessera_checkpoints" / f"checkpoint.{size}").read_bytes()
    verifier = Verifier.from_key(TESSERA["verifier_key"])
    opened = open_checkpoint(published, [verifier], origin=TESSERA["origin"])
    assert opened.checkpoint.size == size
    assert opened.checkpoint.extensions == ()
    leaves = [leaf.encode() for leaf in TESSERA["leaves"][:size]]
    assert opened.checkpoint.root_hash == rfc9162_root(leaves)
    assert opened.note.signatures[0].key_id == 0x33D7B496
    signer = Signer.from_key(TESSERA["signer_key"])
    assert signer.verifier_key == TESSERA["verifier_key"]
    assert sign_checkpoint(opened.checkpoint, [signer]).encode("utf-8") == published


def test_c2sp_spec_example_checkpoint_parses_and_its_unknown_key_is_reported() -> None:
    """The example of c2sp.org/tlog-checkpoint (no public key is published for it, so it can only be unverified)."""
    body = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    line = (
        "— example.com/behind-the-sofa "
        "Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
    )
    assert parse_checkpoint(body).size == 20852163
    with pytest.raises(UnverifiedNoteError) as caught:
        open_checkpoint(body + "\n" + line, [peter()], origin="example.com/behind-the-sofa")
    assert [s.name for s in caught.value.unverified] == ["example.com/behind-the-sofa"]


# --- Keys: generation and round trips --------------------------------------------------------------------------------


def test_generated_keys_round_trip_and_sign() -> None:
    skey, vkey = generate_signer("riskapi.example/audit")
    signer, verifier = Signer.from_key(skey), Verifier.from_key(vkey)
    assert skey.startswith(f"PRIVATE+KEY+riskapi.example/audit+{signer.key_id:08x}+")
    assert signer.key == skey
    assert verifier.key == vkey == signer.verifier_key
    assert verifier == signer.verifier
    note = sign_note("hello\n", [signer])
    assert open_note(note, [verifier]).text == "hello\n"
    assert generate_signer("riskapi.example/audit") != (skey, vkey)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\tb", "a\nb", "a\u00a0b", "a\u2003b", "\ud800"])
def test_invalid_key_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidKeyError):
        generate_signer(name)


def test_wrong_sized_raw_keys_are_refused() -> None:
    with pytest.raises(InvalidKeyError):
        Signer.from_seed("a", b"\x00" * 31)
    with pytest.raises(InvalidKeyError):
        Verifier.from_public_key_bytes("a", b"\x00" * 33)


def test_raw_key_constructors_match_the_key_strings() -> None:
    signer = Signer.from_seed("a", bytes(range(32)))
    verifier = Verifier.from_public_key_bytes("a", signer.verifier.public_key_bytes)
    assert verifier.key == signer.verifier_key
    assert Signer.from_key(signer.key).key == signer.key


def test_unknown_algorithm_is_refused_even_with_a_matching_key_id() -> None:
    encoded = b"\x02" + b"\x07" * 32
    vkey = f"x+{key_id('x', encoded):08x}+{base64.b64encode(encoded).decode()}"
    with pytest.raises(InvalidKeyError, match="algorithm"):
        Verifier.from_key(vkey)


# --- Checkpoint bodies ---------------------------------------------------------------------------------------------

ROOT = hashlib.sha256(b"root").digest()
ROOT_B64 = base64.b64encode(ROOT).decode()


def test_checkpoint_body_is_origin_size_root_and_extensions() -> None:
    checkpoint = Checkpoint("riskapi.example/audit/acme", 42, ROOT, ("ext one", "ext two"))
    assert checkpoint.body() == f"riskapi.example/audit/acme\n42\n{ROOT_B64}\next one\next two\n".encode()
    assert parse_checkpoint(checkpoint.body()) == checkpoint
    assert parse_checkpoint(checkpoint.text()) == checkpoint


def test_empty_tree_checkpoint() -> None:
    empty = Checkpoint("o", 0, hashlib.sha256(b"").digest())
    assert empty.text() == "o\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
    assert parse_checkpoint(empty.text()) == empty


def test_largest_tree_size() -> None:
    assert parse_checkpoint(f"o\n{2**64 - 1}\n{ROOT_B64}\n").size == 2**64 - 1


_NON_CANONICAL_ROOT = ROOT_B64[:-2] + chr(ord(ROOT_B64[-2]) ^ 1) + "="  # differs only in unused trailing bits


@pytest.mark.parametrize(
    "text",
    [
        f"o\n1\n{ROOT_B64}",  # no final newline
        "o\n1\n",  # no root hash line
        "o\n",
        "",
        f"\n1\n{ROOT_B64}\n",  # empty origin
        f"o\n01\n{ROOT_B64}\n",  # leading zero
        f"o\n00\n{ROOT_B64}\n",
        f"o\n+1\n{ROOT_B64}\n",
        f"o\n-1\n{ROOT_B64}\n",
        f"o\n 1\n{ROOT_B64}\n",
        f"o\n1 \n{ROOT_B64}\n",
        f"o\n1_0\n{ROOT_B64}\n",
        f"o\n\u0661\n{ROOT_B64}\n",  # ARABIC-INDIC DIGIT ONE: int() would accept it
        f"o\n0x1\n{ROOT_B64}\n",
        f"o\n\n{ROOT_B64}\n",
        f"o\n{2**64}\n{ROOT_B64}\n",
        "o\n1\n!!!!\n",  # not base64
        f"o\n1\n{ROOT_B64.rstrip('=')}\n",  # unpadded
        f"o\n1\n{_NON_CANONICAL_ROOT}\n",  # non-canonical
        f"o\n1\n{base64.b64encode(ROOT[:31]).decode()}\n",  # 31-byte hash
        f"o\n1\n{base64.b64encode(ROOT + b'x').decode()}\n",  # 33-byte hash
        f"o\n1\n{ROOT_B64}\n\nextension\n",  # empty extension line
        f"o\n1\n{ROOT_B64}\n\n",
        f"o\tx\n1\n{ROOT_B64}\n",  # control character
        f"o\r\n1\n{ROOT_B64}\n",
    ],
)
def test_parse_checkpoint_refuses(text: str) -> None:
    with pytest.raises(CheckpointError):
        parse_checkpoint(text)


def test_parse_checkpoint_refuses_bad_utf8() -> None:
    with pytest.raises(CheckpointError):
        parse_checkpoint(b"\xff\n1\n" + ROOT_B64.encode() + b"\n")


@pytest.mark.parametrize(
    "fields",
    [
        ("", 1, ROOT, ()),
        ("a\nb", 1, ROOT, ()),
        ("o", -1, ROOT, ()),
        ("o", 2**64, ROOT, ()),
        ("o", True, ROOT, ()),
        ("o", 1, ROOT[:31], ()),
        ("o", 1, ROOT.hex(), ()),
        ("o", 1, ROOT, ("",)),
        ("o", 1, ROOT, ("a\nb",)),
    ],
)
def test_checkpoint_constructor_refuses(fields: tuple[object, ...]) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint(*fields)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(
    origin=st.text(st.characters(min_codepoint=0x20, exclude_categories=("Cs",)), min_size=1, max_size=40),
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(st.text(st.characters(min_codepoint=0x20, exclude_categories=("Cs",)), min_size=1), max_size=3),
)
def test_checkpoint_sign_open_parse_round_trip(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    note = sign_checkpoint(checkpoint, [LOG_SIGNER])
    opened = open_checkpoint(note, [LOG_SIGNER.verifier], origin=origin)
    assert opened.checkpoint == checkpoint
    assert opened.note.text == checkpoint.text()


# --- Signing and opening: refusals, rotation, tampering ---------------------------------------------------------------

LOG_SIGNER = Signer.from_seed("riskapi.example/audit", hashlib.sha256(b"test key: current").digest())
OLD_SIGNER = Signer.from_seed("riskapi.example/audit", hashlib.sha256(b"test key: retired").digest())
WITNESS = Signer.from_seed("witness.example", hashlib.sha256(b"test key: witness").digest())
CHECKPOINT = Checkpoint("riskapi.example/audit/acme", 7, ROOT)


def test_sign_note_refuses_bad_text_and_signers() -> None:
    with pytest.raises(MalformedNoteError):
        sign_note("no newline", [LOG_SIGNER])
    with pytest.raises(MalformedNoteError):
        sign_note("tab\there\n", [LOG_SIGNER])
    with pytest.raises(MalformedNoteError):
        sign_note("\ud800\n", [LOG_SIGNER])
    with pytest.raises(NoteError):
        sign_note("text\n", [])
    with pytest.raises(NoteError):
        sign_note("text\n", [LOG_SIGNER, LOG_SIGNER])
    with pytest.raises(NoteError):
        sign_note("x" * MAX_NOTE_BYTES + "\n", [LOG_SIGNER])


def test_multiple_signers_sign_in_order() -> None:
    note = sign_checkpoint(CHECKPOINT, [LOG_SIGNER, WITNESS])
    opened = open_note(note, [WITNESS.verifier, LOG_SIGNER.verifier])
    assert [s.name for s in opened.signatures] == ["riskapi.example/audit", "witness.example"]


def test_unknown_key_ids_are_reported_not_errors() -> None:
    note = sign_checkpoint(CHECKPOINT, [LOG_SIGNER, WITNESS])
    opened = open_checkpoint(note, [LOG_SIGNER.verifier], origin=CHECKPOINT.origin)
    assert [s.name for s in opened.note.signatures] == ["riskapi.example/audit"]
    assert [(s.name, s.key_id) for s in opened.note.unverified] == [("witness.example", WITNESS.key_id)]


def test_key_rotation_old_and_new_keys_both_verify() -> None:
    assert OLD_SIGNER.name == LOG_SIGNER.name
    assert OLD_SIGNER.key_id != LOG_SIGNER.key_id
    published = [Verifier.from_key(OLD_SIGNER.verifier_key), Verifier.from_key(LOG_SIGNER.verifier_key)]
    old_note = sign_checkpoint(Checkpoint(CHECKPOINT.origin, 3, ROOT), [OLD_SIGNER])
    new_note = sign_checkpoint(CHECKPOINT, [LOG_SIGNER])
    assert open_checkpoint(old_note, published, origin=CHECKPOINT.origin).note.signatures[0].key_id == OLD_SIGNER.key_id
    assert open_checkpoint(new_note, published, origin=CHECKPOINT.origin).note.signatures[0].key_id == LOG_SIGNER.key_id
    # A same-named key that the verifier does not hold is unknown, not invalid (the spec: match name AND id).
    with pytest.raises(UnverifiedNoteError) as caught:
        open_checkpoint(old_note, [LOG_SIGNER.verifier], origin=CHECKPOINT.origin)
    assert caught.value.unverified[0].key_id == OLD_SIGNER.key_id


def test_identical_verifiers_listed_twice_are_fine_but_distinct_keys_with_one_id_are_ambiguous() -> None:
    note = sign_checkpoint(CHECKPOINT, [LOG_SIGNER])
    assert open_note(note, [LOG_SIGNER.verifier, Verifier.from_key(LOG_SIGNER.verifier_key)]).signatures
    impostor = OLD_SIGNER.verifier
    impostor.key_id = LOG_SIGNER.key_id  # simulate a key id collision
    with pytest.raises(NoteError, match="ambiguous"):
        open_note(note, [LOG_SIGNER.verifier, impostor])


def test_wrong_origin_is_refused() -> None:
    note = sign_checkpoint(CHECKPOINT, [LOG_SIGNER])
    with pytest.raises(CheckpointError, match="origin"):
        open_checkpoint(note, [LOG_SIGNER.verifier], origin="riskapi.example/audit/other")


def test_a_signed_note_that_is_not_a_checkpoint_is_refused() -> None:
    note = sign_note("hello\n", [LOG_SIGNER])
    with pytest.raises(MalformedNoteError, match="checkpoint"):
        open_checkpoint(note, [LOG_SIGNER.verifier], origin="hello")


@pytest.mark.parametrize(
    "signature_lines",
    [
        "- riskapi.example/audit AAAAAAA=\n",  # hyphen-minus, not em dash
        "—riskapi.example/audit AAAAAAA=\n",  # no space after the dash
        "— riskapi.example/audit\n",  # no signature
        "— riskapi.example/audit \n",
        "— riskapi.example/audit AAAA\n",  # fewer than 5 bytes
        "— riskapi.example/audit not base64!\n",
        "— riskapi.example/audit  AAAAAAA=\n",  # two spaces
        "— risk+api AAAAAAA=\n",  # plus in the key name
        "— riskapi.example/audit AAAAAAA=\n\n",  # blank line among signatures
    ],
)
def test_malformed_signature_lines_are_refused(signature_lines: str) -> None:
    note = sign_checkpoint(CHECKPOINT, [LOG_SIGNER])
    with pytest.raises(MalformedNoteError):
        open_note(note + signature_lines, [LOG_SIGNER.verifier])


def test_over_long_and_non_utf8_notes_are_refused() -> None:
    note = sign_checkpoint(CHECKPOINT, [LOG_SIGNER])
    padding = "x" * (MAX_NOTE_BYTES - len(note.encode()) + 1)
    with pytest.raises(MalformedNoteError, match="too long"):
        open_note(padding + note, [LOG_SIGNER.verifier])
    with pytest.raises(MalformedNoteError, match="too long"):
        open_note((padding + note).encode(), [LOG_SIGNER.verifier])
    with pytest.raises(MalformedNoteError, match="UTF-8"):
        open_note(b"\xc3" + note.encode(), [LOG_SIGNER.verifier])
    with pytest.raises(MalformedNoteError, match="UTF-8"):
        open_note("\udc80" + note, [LOG_SIGNER.verifier])
    with pytest.raises(MalformedNoteError):
        open_note(note.replace("\n", "\r\n"), [LOG_SIGNER.verifier])


def test_tampering_any_byte_of_a_signed_checkpoint_fails() -> None:
    note = sign_checkpoint(CHECKPOINT, [LOG_SIGNER]).encode("utf-8")
    verifiers = [LOG_SIGNER.verifier]
    assert open_checkpoint(note, verifiers, origin=CHECKPOINT.origin).checkpoint == CHECKPOINT
    for index in range(len(note)):
        for flip in (0x01, 0x02, 0x20, 0x80):
            tampered = note[:index] + bytes([note[index] ^ flip]) + note[index + 1 :]
            with pytest.raises((NoteError, CheckpointError)):
                open_checkpoint(tampered, verifiers, origin=CHECKPOINT.origin)
    for index in range(len(note)):  # deleting any byte fails too
        with pytest.raises((NoteError, CheckpointError)):
            open_checkpoint(note[:index] + note[index + 1 :], verifiers, origin=CHECKPOINT.origin)
