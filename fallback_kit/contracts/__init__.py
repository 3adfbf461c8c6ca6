"""The vocabulary every layer shares: works, plans, attempt events and outcomes."""
