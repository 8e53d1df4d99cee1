"""The golden corpus and the engine-upgrade gate (docs/engine-changelog.md)."""
