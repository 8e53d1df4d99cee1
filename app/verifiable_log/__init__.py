"""The verifiable log: a Merkle tree (RFC 9162) over each organisation's audit events, signed checkpoints of it
(C2SP tlog-checkpoint), and the inclusion and consistency proofs that let an independent party check that an event
is in the log and that the log only ever grew."""
