"""`report`: a run's coverage report for a paper (Markdown or HTML), with a methods
paragraph ready to paste."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import CliError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "report", help="a run's coverage report for a paper (Markdown or HTML)",
        description="Coverage by source, tier, publication year and publisher; the version, "
                    "licence and right-paper mix; latency and requests; the failure reasons; "
                    "and a methods paragraph.",
    )
    p.add_argument("run", metavar="RUN")
    p.add_argument("--format", choices=("md", "html"), default=None,
                   help="md or html (default: from --out's extension, else md)")
    p.add_argument("--out", metavar="FILE", help="write to FILE (default: print it)")
    p.set_defaults(handler=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from ...insight.report import report
    from ...record.store import StoreError

    try:
        rep = report(args.run)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    if args.out is None:
        print(rep.html() if args.format == "html" else rep.markdown(), end="")
        return 0
    try:
        path = rep.write(Path(args.out), args.format)
    except OSError as exc:
        raise CliError(f"{args.out}: cannot write ({exc.strerror or exc})") from None
    print(path)
    return 0
