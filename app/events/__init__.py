"""Events out: the transactional outbox of state changes, and the changes feed that reads it."""
