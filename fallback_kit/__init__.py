"""fallback_kit."""
