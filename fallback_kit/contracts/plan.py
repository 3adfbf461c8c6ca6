"""Plans: which sources to try for a work, in which tiers, under which budgets.

A plan is loaded from YAML, then from `FALLBACK_KIT_*` environment variables, then
from explicit overrides (later wins), and validated as a whole at load time, so a
bad plan fails before the first request with the YAML path of every fault
(`tiers[2].parallel must be >= 1`), never in the middle of a run.

Environment variables name a path with double underscores:
`FALLBACK_KIT_BUDGETS__TOTAL_TIMEOUT_MS=60000`,
`FALLBACK_KIT_SOURCES__UNPAYWALL__TIMEOUT_MS=5000`; `FALLBACK_KIT_EMAIL` sets
`politeness.email`. Overrides are a mapping of dotted paths:
`{"budgets.total_attempts": 10, "tiers[0].parallel": 3}`.
"""

from __future__ import annotations

import copy
import difflib
import math
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .registry import SOURCE_NAMES, SOURCE_SPECS
from .safe_yaml import YamlRefused, load_yaml

__all__ = [
    "KNOWN_SOURCES",
    "PDF_VERSIONS",
    "AcceptPolicy",
    "OFFLINE_BEHAVIORS",
    "Budgets",
    "BreakerPolicy",
    "CachePolicy",
    "GatePolicy",
    "Plan",
    "PlanError",
    "Politeness",
    "RateLimitPolicy",
    "SourcePolicy",
    "Thresholds",
    "Tier",
    "load_plan",
    "load_plan_text",
    "packaged_plan_text",
    "packaged_plans",
    "plan_from_dict",
]

#: the plan names of the sources (the registry's, in its order)
KNOWN_SOURCES = SOURCE_NAMES
OFFLINE_BEHAVIORS = ("metadata_only", "block_all", "cache_only")
#: the versions of a work's PDF (Unpaywall's and OpenAlex's vocabulary), best first
PDF_VERSIONS = ("publishedVersion", "acceptedVersion", "submittedVersion")
ENV_PREFIX = "FALLBACK_KIT_"
#: the largest integer or number a plan takes (ms, counts, rates): a year in ms is 3e10;
#: beyond this, times overflow the event loop and SQLite
MAX_INTEGER = 10**12
_ENV_SECTIONS = ("NAME", "BUDGETS", "SOURCES", "GATES", "THRESHOLDS", "POLITENESS", "CACHE",
                 "ACCEPT")


class PlanError(ValueError):
    """A plan is invalid; `problems` holds one `(yaml_path, message)` per fault."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "plan"):
        self.problems = problems
        self.source = source
        lines = [_problem_line(path, msg) for path, msg in problems]
        head = f"{source}: " if source else ""
        super().__init__(head + "; ".join(lines))


def _problem_line(path: str, message: str) -> str:
    if not path:
        return message
    return f"{path}{message}" if message.startswith(":") else f"{path} {message}"


def _rule(default: Any, kind: str, **how: Any) -> Any:
    """A plan field: its default, written once here, and how the loader reads it.

    `kind` is int (`minimum`, 1 unless given), number (> 0), bool, str, statuses or
    choice (`choices`); `optional=True` lets YAML `null` mean "not set". Fields without
    a rule (nested sections, tier names and sources, options) have their own step in
    `plan_from_dict`.
    """
    return field(default=default, metadata={"kind": kind, **how})


@dataclass(frozen=True, slots=True, kw_only=True)
class Budgets:
    """Limits for one work: a hard deadline, a cap on tries (retries count) and concurrency."""

    total_timeout_ms: int = _rule(120_000, "int")
    total_attempts: int = _rule(20, "int")
    max_concurrent: int = _rule(3, "int")
    per_source_timeout_ms: int = _rule(10_000, "int")


@dataclass(frozen=True, slots=True, kw_only=True)
class Tier:
    """Sources tried together; at most `parallel` of them at once."""

    name: str
    sources: tuple[str, ...]
    parallel: int = _rule(1, "int")
    #: start the next tier if this one has not won by then
    hedge_after_ms: int | None = _rule(None, "int", optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class SourcePolicy:
    """How one source is tried. `timeout_ms=None` means the plan's per-source budget."""

    timeout_ms: int | None = _rule(None, "int", optional=True)
    retries_max: int = _rule(1, "int", minimum=0)
    robots_respect: bool = _rule(False, "bool")
    backoff_base_ms: int = _rule(250, "int")
    backoff_cap_ms: int = _rule(5_000, "int")
    #: the source's own options, declared in the registry (contracts/registry.py)
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerPolicy:
    """When a host's breaker opens and how it recovers (web.gates.CircuitBreaker)."""

    failure_threshold: int = _rule(5, "int")  # failures within the window that open it
    window_ms: int = _rule(30_000, "int")
    cooldown_ms: int = _rule(15_000, "int")  # open -> half-open after this long
    half_open_probes: int = _rule(1, "int")  # requests let through while half-open


@dataclass(frozen=True, slots=True, kw_only=True)
class GatePolicy:
    """Gates in front of every try: breaker, rate wait, offline behaviour."""

    skip_if_breaker_open: bool = _rule(True, "bool")
    offline: bool = _rule(False, "bool")
    offline_behavior: str = _rule("metadata_only", "choice", choices=OFFLINE_BEHAVIORS)
    skip_if_rate_wait_exceeds_ms: int = _rule(5_000, "int", minimum=0)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """The HTTP statuses that are retried, and those that stop a source's retries; a
    status in neither list is not retried either."""

    retryable_statuses: tuple[int, ...] = _rule((429, 502, 503, 504), "statuses")
    terminal_statuses: tuple[int, ...] = _rule((400, 401, 403, 404, 405, 410), "statuses")


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimitPolicy:
    """At most `per_second` requests per second to a host, with bursts up to `burst`."""

    per_second: float = _rule(MISSING, "number")
    burst: int = _rule(1, "int")


@dataclass(frozen=True, slots=True, kw_only=True)
class Politeness:
    """Who we are to the services, and how fast we may ask them (overrides the defaults)."""

    email: str | None = _rule(None, "str", optional=True)
    rate_limits: Mapping[str, RateLimitPolicy] = field(default_factory=dict)
    #: an HTTP(S) proxy for live runs (http://[user:pass@]host:port); the environment's
    #: HTTPS_PROXY and friends are honoured too. A run stores it without its password
    proxy: str | None = _rule(None, "str", optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class CachePolicy:
    """The metadata cache: `max_age` (seconds) keeps an API answer that states no
    freshness of its own; 0 keeps only what the service's cache headers allow."""

    max_age: int = _rule(86_400, "int", minimum=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class AcceptPolicy:
    """Which PDFs a plan accepts: the right-paper check, versions and licences."""

    #: fetch each PDF that passes the byte gate and compare its first pages with the work
    check_paper: bool = _rule(True, "bool")
    #: refuse PDFs the check could not verify (no text layer, nothing known, volume-like)
    require_verified: bool = _rule(False, "bool")
    #: a source's candidates are tried in this order of version (unknown versions last)
    versions: tuple[str, ...] = PDF_VERSIONS
    #: only PDFs under these licences (empty: any licence, known or not)
    licenses: tuple[str, ...] = ()
    #: the check reads at most this many bytes; a longer body is judged truncated
    max_pdf_bytes: int = _rule(100_000_000, "int")
    #: after a preprint (submittedVersion) wins, keep looking this long in the later
    #: sources and tiers for another version; 0: the preprint wins at once
    prefer_published_wait_ms: int = _rule(0, "int", minimum=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A validated, effective plan. Build it with `load_plan` or `plan_from_dict`."""

    name: str = _rule("plan", "str")
    description: str = _rule("", "str")
    budgets: Budgets = field(default_factory=Budgets)
    tiers: tuple[Tier, ...] = ()
    sources: Mapping[str, SourcePolicy] = field(default_factory=dict)
    gates: GatePolicy = field(default_factory=GatePolicy)
    thresholds: Thresholds = field(default_factory=Thresholds)
    politeness: Politeness = field(default_factory=Politeness)
    cache: CachePolicy = field(default_factory=CachePolicy)
    accept: AcceptPolicy = field(default_factory=AcceptPolicy)
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def policy(self, source: str) -> SourcePolicy:
        """The effective policy of `source` (the defaults where the plan says nothing)."""
        return self.sources.get(source) or SourcePolicy()

    def timeout_ms(self, source: str) -> int:
        return self.policy(source).timeout_ms or self.budgets.per_source_timeout_ms

    @property
    def source_names(self) -> tuple[str, ...]:
        return tuple(s for tier in self.tiers for s in tier.sources)

    @property
    def sources_ignoring_robots(self) -> frozenset[str]:
        """The plan's sources with `robots_respect: false` (what the sandbox truth needs
        to know to say what this plan can reach)."""
        return frozenset(s for s in self.source_names if not self.policy(s).robots_respect)

    def to_dict(self) -> dict[str, Any]:
        """The effective plan as plain data (what `to_yaml` writes)."""
        return _plan_to_dict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=100)

    def describe_sources(self) -> list[tuple[str, Any, str]]:
        """Every effective value as `(path, value, origin)`; origin is default/yaml/env/override."""
        rows = []
        for path, value in _flatten(self.to_dict()):
            rows.append((path, value, _origin_of(path, self.origins)))
        return rows

    def replace(self, **overrides: Any) -> Plan:
        """A new validated plan with dotted-path overrides applied (`{"tiers[0].parallel": 2}`)."""
        data = self.to_dict()
        origins = dict(self.origins)
        for path, value in overrides.items():
            try:
                _set_path(data, path, value)
            except (KeyError, IndexError, TypeError, AttributeError) as exc:
                raise PlanError([(path, f"cannot be overridden: {exc!r}")], self.name) from None
            origins[_canonical(path)] = "override"
        return plan_from_dict(data, source=self.name, origins=origins)

    def __repr__(self) -> str:
        tiers = " -> ".join(f"{t.name}[{','.join(t.sources)}]" for t in self.tiers)
        return f"<Plan {self.name!r}: {tiers}>"

    def _repr_html_(self) -> str:
        """The tiers in order with their sources, and the budgets (notebooks)."""
        from ._html import table

        b = self.budgets
        rows = [(t.name, ", ".join(t.sources), t.parallel, t.hedge_after_ms) for t in self.tiers]
        caption = (f"Plan {self.name!r}: {b.total_attempts} attempts, "
                   f"{b.total_timeout_ms:,} ms per work, {b.per_source_timeout_ms:,} ms per try")
        return table(rows, header=("tier", "sources", "parallel", "hedge after ms"),
                     caption=caption)


# ---------------------------------------------------------------------------------------
# loading


def packaged_plans() -> tuple[str, ...]:
    """The names of the ready plans shipped inside the package (`fallback_kit/plans/`)."""
    folder = resources.files("fallback_kit").joinpath("plans")
    return tuple(sorted(p.name[: -len(".yaml")] for p in folder.iterdir()
                        if p.name.endswith(".yaml")))


def packaged_plan_text(name: str) -> str:
    """The YAML text of the packaged plan `name` (`default`, `fast`, `thorough`)."""
    if name not in packaged_plans():
        known = ", ".join(packaged_plans())
        raise PlanError([("", f"no packaged plan {name!r} (packaged: {known})")], source=name)
    return resources.files("fallback_kit").joinpath("plans", f"{name}.yaml").read_text("utf-8")


def _plan_source(path: str | Path) -> tuple[str, str]:
    """(YAML text, source label) of a plan file, or of a packaged plan named `path`
    when no file of that name exists (so `load_plan("default")` works from any folder)."""
    where = Path(path)
    if isinstance(path, str) and not where.exists() and path in packaged_plans():
        return packaged_plan_text(path), path
    try:
        return where.read_text(encoding="utf-8"), str(where)
    except FileNotFoundError:
        hint = f" (packaged plans: {', '.join(packaged_plans())})"
        raise PlanError([("", f"no such plan file: {where}{hint}")], source=str(where)) from None
    except (OSError, UnicodeDecodeError) as exc:  # a directory, no permission, ...
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise PlanError([("", f"cannot read plan file: {why}")], source=str(where)) from None


def load_plan(
    path: str | Path,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Plan:
    """Load a plan: YAML file < `FALLBACK_KIT_*` environment < overrides. Raises PlanError.

    `path` is a YAML file, or the name of a packaged plan (`packaged_plans()`: default,
    fast, thorough) when no file of that name exists.
    """
    text, source = _plan_source(path)
    return load_plan_text(
        text, env=os.environ if env is None else env, overrides=overrides, source=source
    )


def load_plan_text(
    text: str,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    source: str = "plan",
) -> Plan:
    """Load a plan from YAML text (see `load_plan`). `env=None` ignores the environment."""
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())  # one line
        kind = "refused" if isinstance(exc, YamlRefused) else "syntax error"
        raise PlanError([("", f"YAML {kind} at {where}{problem}")], source=source) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PlanError([("", "the plan must be a YAML mapping at the top level")], source=source)
    origins: dict[str, str] = {p: "yaml" for p, _ in _flatten(data)}
    for path, value in _env_overrides(env or {}):
        try:
            _set_path(data, path, value)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise PlanError(
                [(path, f"cannot be set from the environment: {exc}")], source
            ) from None
        origins[_canonical(path)] = "env"
    for path, value in (overrides or {}).items():
        try:
            _set_path(data, path, value)
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise PlanError([(path, f"cannot be overridden: {exc}")], source) from None
        origins[_canonical(path)] = "override"
    return plan_from_dict(data, source=source, origins=origins)


def _env_overrides(env: Mapping[str, str]) -> Iterator[tuple[str, Any]]:
    for key in sorted(env):
        if not key.startswith(ENV_PREFIX):
            continue
        rest = key[len(ENV_PREFIX) :]
        if rest == "EMAIL":
            yield "politeness.email", env[key]
            continue
        parts = rest.split("__")
        if parts[0] not in _ENV_SECTIONS:
            if len(parts) > 1:  # a plan path with a misspelt section: say so
                raise PlanError([(key, "is not a plan section"
                                  + _suggest(parts[0], _ENV_SECTIONS))], "environment")
            continue
        path = ".".join(p.lower() for p in parts)
        if not env[key].strip():
            raise PlanError([(key, "is empty; give a value or unset it")], "environment")
        yield path, _parse_scalar(env[key])


def _parse_scalar(text: str) -> Any:
    try:
        return load_yaml(text)
    except yaml.YAMLError:
        return text


#: path tokens: `name`, `[3]`, or a quoted key `["web.archive.org"]` (a host name has dots)
_PATH_TOKEN = re.compile(r"""\[(["'])(.+?)\1\]|([^.\[\]]+)|\[(\d+)\]""")


def _split_path(path: str) -> list[str | int]:
    return [quoted or (int(i) if i else k) for _, quoted, k, i in _PATH_TOKEN.findall(path)]


def _join_key(prefix: str, key: str) -> str:
    """`prefix.key`, or `prefix["key"]` when the key itself holds a dot or a bracket."""
    if any(c in key for c in '.[]"'):
        return f'{prefix}["{key}"]'
    return f"{prefix}.{key}" if prefix else key


def _canonical(path: str) -> str:
    out = ""
    for part in _split_path(path):
        out += f"[{part}]" if isinstance(part, int) else _join_key(out, part)[len(out):]
    return out


def _set_path(data: dict[str, Any], path: str, value: Any) -> None:
    parts = _split_path(path)
    node: Any = data
    for part, nxt in zip(parts, parts[1:], strict=False):
        if isinstance(part, int):
            node = node[part]
        else:
            if node.get(part) is None:
                node[part] = [] if isinstance(nxt, int) else {}
            node = node[part]
    last = parts[-1]
    node[last] = value


def _flatten(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _flatten(v, _join_key(prefix, str(k)))
    elif isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        for i, v in enumerate(data):
            yield from _flatten(v, f"{prefix}[{i}]")
    else:
        yield prefix, data


def _origin_of(path: str, origins: Mapping[str, str]) -> str:
    probe = path
    while probe:
        if probe in origins:
            return origins[probe]
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return "default"


# ---------------------------------------------------------------------------------------
# validation: each reader takes raw data and a path, appends problems, returns a value


class _Reader:
    """Reads one value each; `integer`, `number`, `boolean` and `statuses` are only called
    for a key that is there (an absent key keeps its default before), and give `default`
    back with a fault when the value is bad."""

    def __init__(self) -> None:
        self.problems: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def mapping(self, raw: Any, path: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.fail(path, f"must be a mapping, got {_type_name(raw)}")
            return {}
        for key in raw:
            if key not in allowed:
                self.fail(_join(path, key), "is not a known key" + _suggest(str(key), allowed))
        return raw

    def integer(
        self, raw: Mapping[str, Any], key: str, path: str, default: int | None, *, minimum: int
    ) -> int | None:
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(_join(path, key), f"must be an integer, got {_type_name(value)} {value!r}")
            return default
        if value < minimum:
            self.fail(_join(path, key), f"must be >= {minimum}")
            return default
        if value > MAX_INTEGER:
            self.fail(_join(path, key), f"must be <= {MAX_INTEGER:,}")
            return default
        return value

    def number(self, raw: Mapping[str, Any], key: str, path: str, default: float) -> float:
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(_join(path, key), f"must be a number, got {_type_name(value)} {value!r}")
            return default
        if not math.isfinite(value) or value > MAX_INTEGER:
            self.fail(_join(path, key), f"must be a finite number <= {MAX_INTEGER:,},"
                                        f" got {value!r}")
            return default
        if value <= 0:
            self.fail(_join(path, key), "must be > 0")
            return default
        return float(value)

    def boolean(self, raw: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
        value = raw[key]
        if not isinstance(value, bool):
            self.fail(_join(path, key), f"must be true or false, got {value!r}")
            return default
        return value

    def string(
        self, raw: Mapping[str, Any], key: str, path: str, default: str | None
    ) -> str | None:
        value = raw.get(key, default)
        if value is not None and not isinstance(value, str):
            self.fail(_join(path, key), f"must be a string, got {_type_name(value)} {value!r}")
            return default
        return value

    def words(
        self, raw: Mapping[str, Any], key: str, path: str, default: tuple[str, ...]
    ) -> tuple[str, ...]:
        value = raw.get(key, list(default))
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(_join(path, key), "must be a list of names")
            return default
        return tuple(value)

    def statuses(
        self, raw: Mapping[str, Any], key: str, path: str, default: tuple[int, ...]
    ) -> tuple[int, ...]:
        value = raw[key]
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599 for v in value
        ):
            self.fail(_join(path, key), "must be a list of HTTP status codes (100-599)")
            return default
        return tuple(value)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _type_name(value: Any) -> str:
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" — did you mean {close[0]!r}?" if close else f" (known: {', '.join(choices)})"


def _keys(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def plan_from_dict(
    data: Mapping[str, Any], *, source: str = "plan", origins: Mapping[str, str] | None = None
) -> Plan:
    """Validate plain data into a Plan; raise PlanError listing every fault with its path."""
    r = _Reader()
    top = r.mapping(dict(data), "", _TOP_KEYS)
    budgets = _read_section(r, Budgets, top.get("budgets"), "budgets")
    tiers = _read_tiers(r, top.get("tiers"))
    policies = _read_policies(r, top.get("sources"), tiers, budgets)
    gates = _read_gates(r, top.get("gates"))
    thresholds = _read_thresholds(r, top.get("thresholds"))
    politeness = _read_politeness(r, top.get("politeness"))
    cache = _read_section(r, CachePolicy, top.get("cache"), "cache")
    accept = _read_accept(r, top.get("accept"))
    head = _read_fields(r, Plan, top, "")
    if r.problems:
        raise PlanError(r.problems, source=source)
    return Plan(
        **head,
        budgets=budgets,
        tiers=tiers,
        sources=policies,
        gates=gates,
        thresholds=thresholds,
        politeness=politeness,
        cache=cache,
        accept=accept,
        origins=dict(origins or {}),
    )


#: the keys of a plan's top level (every Plan field but the bookkeeping of origins)
_TOP_KEYS = tuple(f.name for f in fields(Plan) if f.name != "origins")
#: a stand-in of each kind for a required field that is missing (the plan fails anyway)
_PLACEHOLDERS = {"int": 1, "number": 1.0, "bool": False, "str": "", "statuses": ()}
#: what each kind of field must be, as an error message says it
_KIND_NAMES = {"int": "an integer", "number": "a number", "bool": "true or false",
               "str": "a string", "choice": "one of its choices",
               "statuses": "a list of HTTP statuses"}


def _read_fields(r: _Reader, cls: type, raw: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The values of `cls`'s ruled fields (see `_rule`) found in `raw`; a field absent
    keeps its dataclass default, so defaults are written only on the fields. A null is
    a fault (it once became 1 silently), unless the field is optional."""
    out: dict[str, Any] = {}
    for f in fields(cls):
        if "kind" not in f.metadata:
            continue
        if f.name in raw and raw[f.name] is None and not f.metadata.get("optional"):
            r.fail(_join(path, f.name), f"must be {_KIND_NAMES[f.metadata['kind']]}, got null"
                   " (leave the key out for the default)")
            continue
        if raw.get(f.name) is None:
            if f.default is MISSING:
                r.fail(_join(path, f.name), "is required")
                out[f.name] = _PLACEHOLDERS[f.metadata["kind"]]
            continue
        out[f.name] = _read_value(r, f, raw, path)
    return out


def _read_value(r: _Reader, f: Field[Any], raw: Mapping[str, Any], path: str) -> Any:
    """One present field, read by its rule; a bad value is a fault and gives the default."""
    how, kind = f.metadata, f.metadata["kind"]
    default: Any = _PLACEHOLDERS[kind] if f.default is MISSING else f.default
    if kind == "int":
        return r.integer(raw, f.name, path, default, minimum=how.get("minimum", 1))
    if kind == "number":
        return r.number(raw, f.name, path, default)
    if kind == "bool":
        return r.boolean(raw, f.name, path, default)
    if kind == "statuses":
        return r.statuses(raw, f.name, path, default)
    value = r.string(raw, f.name, path, default)
    choices = how.get("choices")
    if choices and value not in choices:
        r.fail(_join(path, f.name),
               f"must be one of {', '.join(choices)}" + _suggest(str(value), choices))
        return default
    return value


def _read_section(r: _Reader, cls: type, raw: Any, path: str) -> Any:
    """A section that is one dataclass: its keys checked, its ruled fields read."""
    given = r.mapping(raw, path, _keys(cls))
    return cls(**_read_fields(r, cls, given, path))


def _read_policies(
    r: _Reader, raw: Any, tiers: tuple[Tier, ...], budgets: Budgets
) -> dict[str, SourcePolicy]:
    """`sources`: one policy per known source named there, a default one for every
    other source of the tiers; a timeout longer than the work's deadline is a fault."""
    given = r.mapping(raw, "sources", KNOWN_SOURCES)
    policies: dict[str, SourcePolicy] = {}
    for name, raw_policy in given.items():
        if name not in KNOWN_SOURCES:
            continue
        path = f"sources.{name}"
        p = r.mapping(raw_policy, path, _keys(SourcePolicy))
        options = _read_options(r, name, p.get("options"), f"{path}.options")
        policies[name] = SourcePolicy(**_read_fields(r, SourcePolicy, p, path), options=options)
    for name in sorted({s for t in tiers for s in t.sources} - set(policies)):
        policies[name] = SourcePolicy()
    for name, pol in policies.items():
        if pol.timeout_ms is not None and pol.timeout_ms > budgets.total_timeout_ms:
            r.fail(
                f"sources.{name}.timeout_ms",
                f"({pol.timeout_ms}) exceeds budgets.total_timeout_ms ({budgets.total_timeout_ms})",
            )
    return policies


def _read_gates(r: _Reader, raw: Any) -> GatePolicy:
    given = r.mapping(raw, "gates", _keys(GatePolicy))
    breaker = _read_section(r, BreakerPolicy, given.get("breaker"), "gates.breaker")
    return GatePolicy(**_read_fields(r, GatePolicy, given, "gates"), breaker=breaker)


def _read_thresholds(r: _Reader, raw: Any) -> Thresholds:
    thresholds: Thresholds = _read_section(r, Thresholds, raw, "thresholds")
    both = set(thresholds.retryable_statuses) & set(thresholds.terminal_statuses)
    if both:
        r.fail("thresholds", f"statuses {sorted(both)} are both retryable and terminal")
    return thresholds


def _read_politeness(r: _Reader, raw: Any) -> Politeness:
    given = r.mapping(raw, "politeness", _keys(Politeness))
    raw_limits = given.get("rate_limits") or {}
    if not isinstance(raw_limits, dict):
        r.fail("politeness.rate_limits", "must be a mapping of host -> {per_second, burst}")
        raw_limits = {}
    limits = {
        str(host): _read_section(r, RateLimitPolicy, lim, _join_key("politeness.rate_limits",
                                                                    str(host)))
        for host, lim in raw_limits.items()
    }
    politeness = Politeness(**_read_fields(r, Politeness, given, "politeness"),
                            rate_limits=limits)
    if politeness.email is not None and "@" not in politeness.email:
        r.fail("politeness.email", f"{politeness.email!r} is not an email address")
    if politeness.proxy is not None and not politeness.proxy.startswith(_PROXY_SCHEMES):
        r.fail("politeness.proxy", f"must be a proxy URL like http://proxy.univ.edu:3128, not "
               f"{politeness.proxy.split('@')[-1]!r}")
    return politeness


#: the proxy URLs a plan may name (httpx's proxy schemes)
_PROXY_SCHEMES = ("http://", "https://", "socks5://")


def _read_options(r: _Reader, source: str, raw: Any, path: str) -> dict[str, Any]:
    """A source's `options`: only the keys its registry entry lists, each of its type."""
    specs = SOURCE_SPECS[source].options
    if not specs and isinstance(raw, dict):
        for key in raw:
            r.fail(_join(path, key), f"is not a known key: {source} takes no options")
        return {}
    given = r.mapping(raw, path, tuple(specs))
    out: dict[str, Any] = {}
    for key, spec in specs.items():
        if key not in given:
            continue
        if spec.type is bool:
            out[key] = r.boolean(given, key, path, spec.default)
        elif spec.type is int:
            out[key] = r.integer(given, key, path, spec.default, minimum=0)
        else:
            out[key] = r.string(given, key, path, spec.default)
    return out
def _read_accept(r: _Reader, raw: Any) -> AcceptPolicy:
    """`accept`: the ruled fields, and the version order and licences (lists of words)."""
    given = r.mapping(raw, "accept", _keys(AcceptPolicy))
    default = AcceptPolicy()
    versions = r.words(given, "versions", "accept", default.versions)
    for i, v in enumerate(versions):
        if v not in PDF_VERSIONS:
            r.fail(f"accept.versions[{i}]", f": unknown version {v!r}" + _suggest(v, PDF_VERSIONS))
    licenses = tuple(v.lower() for v in r.words(given, "licenses", "accept", default.licenses))
    return AcceptPolicy(**_read_fields(r, AcceptPolicy, given, "accept"), versions=versions,
                        licenses=licenses)


def _read_tiers(r: _Reader, raw: Any) -> tuple[Tier, ...]:
    if raw is None or raw == []:
        r.fail("tiers", "must list at least one tier")
        return ()
    if not isinstance(raw, list):
        r.fail("tiers", f"must be a list of tiers, got {_type_name(raw)}")
        return ()
    tiers: list[Tier] = []
    seen_in: dict[str, str] = {}
    names: set[str] = set()
    for i, raw_tier in enumerate(raw):
        path = f"tiers[{i}]"
        if raw_tier is None:
            r.fail(path, "is empty: give it a name and sources")
            continue
        t = r.mapping(raw_tier, path, _keys(Tier))
        if not t:
            if isinstance(raw_tier, dict):
                r.fail(path, "is empty: give it a name and sources")
            continue
        name = r.string(t, "name", path, None)
        if not name:
            r.fail(f"{path}.name", "is required")
            name = f"tier{i}"
        elif name in names:
            r.fail(f"{path}.name", f"{name!r} is used by another tier")
        names.add(name)
        good = _read_tier_sources(r, t.get("sources"), path, name, seen_in)
        tiers.append(Tier(name=name, sources=good, **_read_fields(r, Tier, t, path)))
    return tuple(tiers)


def _read_tier_sources(
    r: _Reader, srcs: Any, path: str, tier: str, seen_in: dict[str, str]
) -> tuple[str, ...]:
    """A tier's `sources`: known names, each in one tier only (`seen_in` says where)."""
    if not srcs:
        r.fail(f"{path}.sources", "must list at least one source")
        return ()
    if not isinstance(srcs, list):
        r.fail(f"{path}.sources", f"must be a list of source names, got {_type_name(srcs)}")
        return ()
    good: list[str] = []
    for j, s in enumerate(srcs):
        spath = f"{path}.sources[{j}]"
        if not isinstance(s, str):
            r.fail(spath, f"must be a source name, got {_type_name(s)}")
        elif s not in KNOWN_SOURCES:
            r.fail(spath, f": unknown source {s!r}" + _suggest(s, KNOWN_SOURCES))
        elif s in seen_in:
            r.fail(
                spath,
                f": source {s!r} is already in tier {seen_in[s]!r}; a source may "
                "appear in one tier only",
            )
        else:
            seen_in[s] = tier
            good.append(s)
    return tuple(good)


def _ruled_dict(obj: Any) -> dict[str, Any]:
    """The ruled fields of a plan section as plain data (an unset optional left out)."""
    out: dict[str, Any] = {}
    for f in fields(obj):
        value = getattr(obj, f.name)
        if "kind" not in f.metadata or (value is None and f.metadata.get("optional")):
            continue
        out[f.name] = list(value) if isinstance(value, tuple) else value
    return out


def _plan_to_dict(plan: Plan) -> dict[str, Any]:
    def tier(t: Tier) -> dict[str, Any]:
        d: dict[str, Any] = {"name": t.name, "parallel": t.parallel, "sources": list(t.sources)}
        if t.hedge_after_ms is not None:
            d["hedge_after_ms"] = t.hedge_after_ms
        return d

    def policy(p: SourcePolicy) -> dict[str, Any]:
        d = _ruled_dict(p)
        if p.options:
            d["options"] = copy.deepcopy(dict(p.options))
        return d

    out: dict[str, Any] = {"name": plan.name}
    if plan.description:
        out["description"] = plan.description
    out["budgets"] = _ruled_dict(plan.budgets)
    out["tiers"] = [tier(t) for t in plan.tiers]
    out["sources"] = {name: policy(p) for name, p in plan.sources.items()}
    out["gates"] = {**_ruled_dict(plan.gates), "breaker": _ruled_dict(plan.gates.breaker)}
    out["thresholds"] = _ruled_dict(plan.thresholds)
    pol = _ruled_dict(plan.politeness)
    if plan.politeness.rate_limits:
        pol["rate_limits"] = {h: _ruled_dict(lim) for h, lim in plan.politeness.rate_limits.items()}
    if pol:
        out["politeness"] = pol
    if plan.cache != CachePolicy():  # absent when default: stored plans stay comparable
        out["cache"] = _ruled_dict(plan.cache)
    ac = plan.accept
    if ac != AcceptPolicy():  # absent when default: stored plans stay comparable
        out["accept"] = {**_ruled_dict(ac), "versions": list(ac.versions),
                         "licenses": list(ac.licenses)}
    return out
