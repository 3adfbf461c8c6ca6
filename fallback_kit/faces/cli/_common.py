"""Helpers shared by the CLI modules: errors, plan and works loading."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import yaml

from ...contracts.safe_yaml import load_yaml


class CliError(Exception):
    """A problem the user can fix (bad path, bad plan, bad row): printed in one line, exit 2."""


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plan", default="default",
                        help="plan YAML file, the name of one in ./plans/, or a packaged plan: "
                             "default, fast, thorough (default: %(default)s)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="PATH=VALUE",
                        help="override a plan value, e.g. --set budgets.total_attempts=5")


def resolve_plan_path(spec: str) -> str:
    """A bare name is `./plans/NAME.yaml` when that file exists; otherwise `spec` as given
    (a file, or the name of a packaged plan: `load_plan` decides)."""
    if Path(spec).suffix not in (".yaml", ".yml") and "/" not in spec and not Path(spec).exists():
        candidate = Path("plans") / f"{spec}.yaml"
        if candidate.exists():
            return str(candidate)
    return spec


def parse_overrides(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise CliError(f"--set {item!r}: expected PATH=VALUE, e.g. budgets.total_attempts=5")
        key, _, raw = item.partition("=")
        try:
            out[key.strip()] = load_yaml(raw)
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def load_plan_arg(args: argparse.Namespace) -> Any:
    """The effective plan of the command line (YAML < environment < --set)."""
    from ...contracts.plan import PlanError, load_plan

    try:
        return load_plan(resolve_plan_path(args.plan), env=os.environ,
                         overrides=parse_overrides(args.overrides))
    except PlanError as exc:
        raise CliError(str(exc)) from None


def add_works_arguments(parser: argparse.ArgumentParser) -> None:
    """`--format` and `--key`: how to read the works file (read_works' two options)."""
    from ...contracts.works import FORMATS

    parser.add_argument("--format", dest="works_format", choices=FORMATS,
                        help="the works file's format (default: detected from its content "
                             "and extension)")
    parser.add_argument("--key", dest="works_key", metavar="COLUMN",
                        help="the column (or BibTeX/CSL/RIS field) whose value becomes each "
                             "work's id unchanged (default: the format's own key, e.g. "
                             "Zotero's Key or the citation key)")


def load_works_arg(path: str, *, format: str | None = None, key: str | None = None) -> Any:
    """Read a works file; unusable files are a CliError, bad rows are reported by the caller."""
    from ...contracts.works import WorksFileError, read_works

    try:
        return read_works(path, format=format, key=key)
    except WorksFileError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:  # no permission, a device, ...: the file cannot be read
        raise CliError(f"{path}: cannot read the works file ({exc.strerror or exc})") from None
