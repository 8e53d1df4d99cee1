"""The verifiable log: a Merkle tree (RFC 9162) over each organisation's audit events, signed checkpoints of it
(C2SP tlog-checkpoint, signed notes with Ed25519), and the inclusion and consistency proofs that let an independent
party check that an event is in the log and that the log only ever grew. `merkle` and `note`/`checkpoint` are pure
(no database, no HTTP)."""
