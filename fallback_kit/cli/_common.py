"""Helpers shared by the CLI modules."""

from __future__ import annotations


class CliError(Exception):
    """A problem the user can fix (bad path, bad plan, bad row): printed in one line, exit 2."""
