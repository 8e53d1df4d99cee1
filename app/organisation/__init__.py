"""Organisation-level settings (current rule sets)."""
