"""Decision receipts: salted commitments to an assessment's inputs and result recorded in its audit event, and a
signed, offline-verifiable document proving that event is in the organisation's verifiable log."""
