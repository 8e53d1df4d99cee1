"""The life cycle every versioned content document shares (questionnaires and rule sets).

A document is stored per (key, version): draft -> published -> retired, with server-assigned version numbers,
ETag/If-Match on drafts, keys owned by the system or by one organisation, and an audit event per change. Each
feature describes itself with a `service.Kind` and keeps its own rules (publish gates, retire guards) at home.
"""
