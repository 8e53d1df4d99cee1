"""The verifiable log: a Merkle tree over each organisation's audit events, signed checkpoints and proofs.

RFC 9162 hashing, inclusion and consistency proofs, and C2SP signed-note / tlog-checkpoint checkpoints signed with
Ed25519, so that an independent monitor holding an earlier checkpoint can detect rewritten history. The modules here
are pure (no database, no HTTP); docs/verifiable-log.md explains them to an auditor.
"""
