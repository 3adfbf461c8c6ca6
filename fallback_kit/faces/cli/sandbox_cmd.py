"""`fallback-kit sandbox serve|corpus`: run the simulated scholarly web, write synthetic works.

The sandbox is a separate wing: these commands import it only when they run, so the
rest of the CLI starts fast.
"""

from __future__ import annotations

import argparse
import sys
import threading

from ._common import CliError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `sandbox serve` and `sandbox corpus`."""
    from ...sandbox.profiles import PROFILES

    parser = subparsers.add_parser(
        "sandbox", help="run the simulated scholarly web or write a synthetic corpus",
        description="The sandbox simulates Unpaywall, arXiv, PMC, doi.org, publishers, Europe"
                    " PMC, the Wayback Machine, OpenAlex, Crossref and Semantic Scholar on"
                    " 127.0.0.1. Its availability figures are simulated, not measurements.")
    sub = parser.add_subparsers(dest="sandbox_command", metavar="SUBCOMMAND", required=True)

    serve = sub.add_parser("serve", help="serve the sandbox in the foreground (Ctrl-C stops)")
    serve.add_argument("--profile", default="mixed", choices=list(PROFILES))
    serve.add_argument("--seed", type=int, default=0)
    serve.add_argument("--port", type=int, default=0, help="0 (default) picks a free port")
    serve.add_argument("--time-scale", type=float, default=1.0,
                       help="multiply every simulated delay (0 removes them; default 1)")
    serve.add_argument("--works", metavar="CSV",
                       help="works to simulate (default: sample_works.csv if present, else a"
                            " synthetic corpus of the profile)")
    serve.add_argument("--n", type=int, default=1000,
                       help="size of the synthetic corpus when no --works is given")
    serve.set_defaults(handler=_serve)

    corpus = sub.add_parser("corpus", help="write a synthetic works CSV to stdout")
    corpus.add_argument("--profile", default="mixed", choices=list(PROFILES))
    corpus.add_argument("--n", type=int, default=1000)
    corpus.add_argument("--seed", type=int, default=0)
    corpus.set_defaults(handler=_corpus)


def _corpus(args: argparse.Namespace) -> int:
    from ...sandbox.corpus import write_corpus

    if args.n < 0:
        raise CliError(f"--n must be >= 0, got {args.n}")
    write_corpus(sys.stdout, profile=args.profile, n=args.n, seed=args.seed)
    return 0


def _load_works(args: argparse.Namespace) -> list:  # type: ignore[type-arg]
    from pathlib import Path

    from ...contracts.works import WorksFileError, read_works
    from ...sandbox.corpus import synthetic_works

    path = args.works or ("sample_works.csv" if Path("sample_works.csv").exists() else None)
    if path is None:
        return synthetic_works(args.profile, args.n, args.seed)
    try:
        report = read_works(path)
    except WorksFileError as exc:
        raise CliError(str(exc)) from None
    for err in report.errors[:5]:
        print(f"fallback-kit: warning: {path}: {err}", file=sys.stderr)
    if not report.works:
        raise CliError(f"{path}: no usable works")
    return list(report.works)


def _serve(args: argparse.Namespace) -> int:
    from ...sandbox import Sandbox, World

    if args.time_scale < 0:
        raise CliError(f"--time-scale must be >= 0, got {args.time_scale}")
    works = _load_works(args)
    world = World.build(works, profile=args.profile, seed=args.seed)
    sandbox = Sandbox(world, time_scale=args.time_scale, port=args.port)
    try:
        sandbox.start()
    except OSError as exc:
        raise CliError(str(exc)) from None
    example = next((w for w in works if w.doi), None)
    doi = example.doi if example else "10.1186/1758-2946-3-47"
    print(f"sandbox: {world!r} on {sandbox.base_url} (time_scale {args.time_scale})")
    print("Every host is served here: send any request to this address with its real Host"
          " header, e.g.")
    print(f"  curl -H 'Host: api.unpaywall.org' '{sandbox.base_url}/v2/{doi}?email=a@b.c'")
    print(f"  curl -i -H 'Host: doi.org' '{sandbox.base_url}/{doi}'")
    print("From Python: httpx.AsyncClient(transport=SandboxTransport("
          f"'127.0.0.1', {sandbox.port})) keeps real URLs.")
    print("Availability here is simulated, not a measurement of the real web. Ctrl-C stops.",
          flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0
