"""The `fallback-kit` command line.

Each group of commands lives in its own module with a `register(subparsers)` function
that adds its sub-commands; a handler returns the exit code. Errors a user can fix
raise `CliError` and end with one clear line and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import analysis_cmds, plan_cmds, report_cmd, run_cmd, sandbox_cmd, tune_cmd
from ._common import CliError

__all__ = ["CliError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fallback-kit",
        description="Find a validated open-access PDF for each work by walking a fallback plan.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (plan_cmds, run_cmd, analysis_cmds, report_cmd, tune_cmd, sandbox_cmd):
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except CliError as exc:
        print(f"fallback-kit: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("fallback-kit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
